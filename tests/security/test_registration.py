"""Registration is no SSRF: a registered URL cannot make the orchestrator fetch what it should not reach.

Through the real orchestrator app (real Redis, real HTTP peers on loopback): URLs with userinfo,
query or fragment, loopback (the Redis port), link-local (cloud metadata) and other special-purpose
addresses, a DNS name that resolves to a private address, and a name that resolves elsewhere on
the next connection (DNS rebinding) are refused with a problem+json that echoes nothing the peer
sent and leaves the registry as it was. Every connection is checked, health probes included.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from meshline.orchestrator.app import create_app
from meshline.orchestrator.registry import ServiceRegistry
from meshline.orchestrator.settings import OrchestratorSettings
from meshline.testing.asgi import asgi_client
from meshline.testing.serve import serve_in_thread
from meshline.tools.kit import ToolServiceSettings, create_tool_app
from tests.orchestrator.test_registry_conflicts import echo
from tests.security.registration_upstreams import SECRET, ScriptedDns, Upstream, recorded

ADMIN = "security-admin-key"
AGENT = {"name": "concierge", "kind": "agent", "description": "Answers.", "examples": ["hello"]}
Orchestrator = tuple[httpx.AsyncClient, FastAPI]


@pytest.fixture
def orchestrator(
    mesh_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], AbstractAsyncContextManager[Orchestrator]]:
    """Start the orchestrator with ``allow`` as MESHLINE_ORCHESTRATOR_REGISTRY_ALLOW_NETWORKS."""
    monkeypatch.setenv("MESHLINE_ORCHESTRATOR_ADMIN_KEY", ADMIN)

    @asynccontextmanager
    async def start(allow: str) -> AsyncIterator[Orchestrator]:
        monkeypatch.setenv("MESHLINE_ORCHESTRATOR_REGISTRY_ALLOW_NETWORKS", allow)
        app = create_app(OrchestratorSettings())
        async with asgi_client(app, "http://orchestrator") as http:
            yield http, app

    return start


def admin() -> dict[str, str]:
    return {"authorization": f"Bearer {ADMIN}"}


async def registry_state(http: httpx.AsyncClient) -> object:
    listed = await http.get("/v1/services", headers=admin())
    assert listed.status_code == 200
    return listed.json()


async def assert_refused(
    http: httpx.AsyncClient, body: dict[str, str], status: int, code: str, *, not_echoed: tuple[str, ...] = ()
) -> str:
    """POST the registration; it must be refused as ``status``/``code`` with nothing upstream in it."""
    before = await registry_state(http)
    response = await http.post("/v1/services", json=body, headers=admin())
    assert response.status_code == status and response.json()["code"] == code, (body, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    for forbidden in (SECRET, "x-upstream-secret", *not_echoed):
        assert forbidden not in response.text, (body, response.text)
    assert await registry_state(http) == before, "a refusal leaves the registry unchanged"
    return str(response.json()["detail"])


async def test_special_purpose_addresses_are_refused_before_any_connection(
    orchestrator: Callable[[str], AbstractAsyncContextManager[Orchestrator]],
    redis_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    redis_port = urlsplit(redis_url).port
    peer = Upstream(manifest=AGENT)
    async with orchestrator("") as (http, _):
        with serve_in_thread(peer) as loopback_peer:
            # The Redis port on loopback: the address is refused before anything is resolved or connected.
            await assert_refused(http, {"url": f"http://127.0.0.1:{redis_port}"}, 422, "address_not_allowed")
            await assert_refused(
                http, {"url": f"http://127.0.0.1:{redis_port}", "protocol": "mcp"}, 422, "address_not_allowed"
            )
            port = urlsplit(loopback_peer).port
            for url in [
                loopback_peer,
                f"http://[::1]:{port}",
                f"http://[::ffff:127.0.0.1]:{port}",  # IPv4-mapped IPv6
                f"http://0.0.0.0:{port}",
                "http://169.254.169.254/latest/meta-data",  # cloud metadata
                "http://[fe80::a9fe:a9fe]/",
                "http://[::ffff:169.254.169.254]/",
                "http://10.0.0.1:8300",
                "http://172.16.5.4",
                "http://192.168.1.10",
                "http://100.64.0.1",  # CGNAT
                "http://[fd00::1]",  # unique local
                "http://224.0.0.1",  # multicast
                "http://240.0.0.1",  # reserved
                "http://[2002:7f00:1::]",  # 6to4 around 127.0.0.1
                "http://[64:ff9b::a9fe:a9fe]",  # NAT64 around 169.254.169.254
            ]:
                detail = await assert_refused(http, {"url": url}, 422, "address_not_allowed")
                assert "not allow-listed" in detail
            assert peer.seen == [], "the loopback peer (like Redis beside it) was never contacted"
    assert not [r for r in caplog.records if r.exc_info], "refusals log no traceback"


async def test_a_name_that_resolves_to_a_private_address_is_refused(
    orchestrator: Callable[[str], AbstractAsyncContextManager[Orchestrator]],
) -> None:
    peer = Upstream(manifest=AGENT)
    async with orchestrator("") as (http, app):
        with serve_in_thread(peer) as base:
            port = urlsplit(base).port
            # `localhost` through the system resolver: 127.0.0.1 (and ::1).
            detail = await assert_refused(http, {"url": f"http://localhost:{port}"}, 422, "address_not_allowed")
            assert "localhost resolves to a private" in detail and "127.0.0.1" not in detail
            # A public-looking name whose DNS answer is private (and one that mixes a public answer in).
            registry: ServiceRegistry = app.state.registry
            for answers in (["10.1.2.3"], ["93.184.215.14", "127.0.0.1"]):
                registry.guard.resolver = ScriptedDns(answers)
                detail = await assert_refused(
                    http,
                    {"url": f"http://tools.example.com:{port}"},
                    422,
                    "address_not_allowed",
                    not_echoed=tuple(answers),
                )
                assert "tools.example.com" in detail
            assert peer.seen == []


async def test_userinfo_query_and_fragment_are_refused_and_nothing_is_fetched(
    orchestrator: Callable[[str], AbstractAsyncContextManager[Orchestrator]],
) -> None:
    peer = Upstream(manifest=AGENT)
    async with orchestrator("127.0.0.0/8") as (http, _):  # loopback allowed: only the URL's shape refuses
        with serve_in_thread(peer) as base:
            authority = base.removeprefix("http://")
            for url in [
                f"{base}/internal/secret#",  # the old `url + "/v1/manifest"` became a fragment
                f"{base}/internal/secret#x",
                f"{base}/internal/secret?",
                f"{base}/internal/secret?x=",
                f"http://admin:pw@{authority}",
                f"http://evil.example@{authority}",
                f"{base}/internal/%2e%2e/secret",
                f"{base}/a/../internal",
                f"{base}\\@evil.example",
                "file:///etc/passwd",
                "gopher://127.0.0.1:6379/_INFO",
            ]:
                await assert_refused(http, {"url": url}, 400, "invalid_url", not_echoed=("admin:pw",))
            assert peer.seen == [], "no URL of these shapes was fetched"


async def test_refusals_never_echo_what_the_peer_answered(
    orchestrator: Callable[[str], AbstractAsyncContextManager[Orchestrator]], caplog: pytest.LogCaptureFixture
) -> None:
    async with orchestrator("127.0.0.0/8") as (http, _):
        for peer, code in [
            (Upstream(manifest_status=404), "service_unreachable"),  # no manifest, and no MCP server either
            (Upstream(raw=f"not json {SECRET}".encode()), "invalid_manifest"),
            (Upstream(manifest={**AGENT, "name": f"Bad {SECRET}"}), "invalid_manifest"),
            (Upstream(manifest={"kind": "tool", "tools": [{"name": SECRET}], "description": 7}), "invalid_manifest"),
            (
                Upstream(raw=b'{"name": "x", "kind": "agent", "description": "' + b"a" * 1_200_000 + b'"}'),
                "manifest_unreachable",
            ),
        ]:
            with serve_in_thread(peer) as base:
                response = await http.post("/v1/services", json={"url": base}, headers=admin())
                assert response.json()["code"] == code and 400 <= response.status_code < 500, response.text
                assert SECRET not in response.text and "aaaa" not in response.text, response.text
                assert peer.seen and peer.seen[0] == "/v1/manifest"
        with serve_in_thread(Upstream(manifest_status=404)) as base:
            detail = (
                await http.post("/v1/services", json={"url": base, "protocol": "meshline"}, headers=admin())
            ).json()
            assert detail["code"] == "no_manifest" and detail["detail"] == f"GET /v1/manifest at {base} answered 404"
        assert await registry_state(http) == {"services": []}
    assert not [r for r in caplog.records if r.exc_info], "refusals log no traceback"
    assert SECRET not in caplog.text, "nor what the peer sent"


async def test_dns_rebinding_between_connections_gains_nothing(
    orchestrator: Callable[[str], AbstractAsyncContextManager[Orchestrator]], caplog: pytest.LogCaptureFixture
) -> None:
    """The name passes on one connection and points inside on the next: the next one is refused."""
    async with orchestrator("127.0.0.1/32") as (http, app):  # the peer's own address is allowed, nothing else
        registry: ServiceRegistry = app.state.registry
        peer = Upstream(manifest=AGENT)
        with serve_in_thread(peer) as base:
            url = f"http://rebind.example:{urlsplit(base).port}"
            # The manifest fetch resolves to the allowed peer; the readiness probe's lookup says 169.254.169.254.
            registry.guard.resolver = ScriptedDns(["127.0.0.1"], ["169.254.169.254"])
            detail = await assert_refused(http, {"url": url}, 422, "address_not_allowed", not_echoed=("169.254",))
            assert "rebind.example" in detail
            assert peer.seen == ["/v1/manifest"], "the second connection was never made"

            # Registered while the name is honest; the health loop re-resolves on every probe.
            registry.guard.resolver = ScriptedDns(["127.0.0.1"])
            assert (await http.post("/v1/services", json={"url": url}, headers=admin())).status_code == 201
            await registry.check_all()
            assert (await registry.instances("concierge"))[0].healthy
            seen = len(peer.seen)
            registry.guard.resolver = ScriptedDns(["10.0.0.7"])
            await registry.check_all()
            instance = (await registry.instances("concierge"))[0]
            assert not instance.healthy and "not allow-listed" in (instance.last_error or "")
            assert "10.0.0.7" not in (instance.last_error or "")
            assert len(peer.seen) == seen, "the rebound probe connected nowhere"
    assert not [r for r in caplog.records if r.exc_info], "refusals log no traceback"


async def test_an_mcp_server_is_probed_through_the_guard_too(
    orchestrator: Callable[[str], AbstractAsyncContextManager[Orchestrator]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []
    settings = ToolServiceSettings(name="echo-tools", database_url=f"sqlite+aiosqlite:///{tmp_path / 'e.sqlite'}")
    server = recorded(create_tool_app(settings=settings, tools=[echo], description="echoes"), seen)
    async with orchestrator("127.0.0.1/32") as (http, app):
        registry: ServiceRegistry = app.state.registry
        with serve_in_thread(server, lifespan="on") as base:
            url = f"http://tools.example:{urlsplit(base).port}/mcp"
            registry.guard.resolver = ScriptedDns(["127.0.0.1"])
            body = {"url": url, "protocol": "mcp", "name": "echo-tools"}
            registered = await http.post("/v1/services", json=body, headers=admin())
            assert registered.status_code == 201, registered.text
            registry.guard.resolver = ScriptedDns(["192.168.0.9"])
            before = len(seen)
            await registry.check_all()
            instance = (await registry.instances("echo-tools"))[0]
            assert not instance.healthy and "tools.example resolves to a private" in (instance.last_error or "")
            assert len(seen) == before
            refused = await http.post("/v1/services", json=body, headers=admin())
            assert refused.status_code == 422 and refused.json()["code"] == "address_not_allowed"
    assert not [r for r in caplog.records if r.exc_info], "refusals log no traceback"
