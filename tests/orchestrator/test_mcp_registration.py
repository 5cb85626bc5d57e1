"""Registering MCP servers: tools adapted into a manifest, side effects from readOnlyHint, health probes,
tool bindings that name MCP, and bad registrations refused with the registry unchanged.

Both MCP servers are real, over real HTTP: the gift-card example (written with the ``mcp`` package
alone, stateful sessions) and a kit tool service's own ``/mcp`` endpoint (stateless).
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import pytest
from redis.asyncio import Redis

from meshline.errors import Conflict, MeshlineError
from meshline.orchestrator.mcp_registration import registry_name
from meshline.orchestrator.registry import ServiceRegistry
from meshline.resilience.address_guard import AddressGuard
from meshline.testing.serve import serve_in_thread
from meshline.tools.kit import ToolServiceSettings, create_tool_app
from tests.orchestrator.test_registry_conflicts import LOOPBACK, echo

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def giftcards() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mcp_giftcards_server", EXAMPLES / "mcp_giftcards" / "server.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def registry(redis_url: str) -> AsyncIterator[ServiceRegistry]:
    redis = Redis.from_url(redis_url)
    registry = ServiceRegistry(redis, guard=AddressGuard(LOOPBACK))
    yield registry
    await registry.aclose()
    await redis.aclose()


def test_registry_names_from_server_names() -> None:
    assert registry_name("Gift Cards") == "gift-cards"
    assert registry_name("  2nd/Weather.Server ") == "nd-weather-server"
    assert registry_name("日本") is None


async def test_an_mcp_server_registers_as_a_tool_service(registry: ServiceRegistry) -> None:
    with serve_in_thread(giftcards().create_server().streamable_http_app(), lifespan="on") as base:
        entry = await registry.register(f"{base}/mcp")  # no protocol given: no manifest there, so MCP
        assert entry.name == "gift-cards" and entry.kind == "tool" and entry.manifest.protocol == "mcp"
        tools = {t.name: t for t in entry.manifest.tools}
        assert tools["check_balance"].side_effects is False, "annotated readOnlyHint"
        assert tools["redeem"].side_effects is True, "no hint: treated as changing data"
        assert tools["redeem"].input_schema["required"] == ["code", "amount_cents"]
        assert entry.instances[0].url == f"{base}/mcp" and entry.instances[0].healthy

        binding = await registry.binding("gift-cards")
        assert binding.protocol == "mcp" and binding.url == f"{base}/mcp"

        again = await registry.register(f"{base}/mcp", protocol="mcp")  # the same tools: idempotent
        assert [i.url for i in again.instances] == [f"{base}/mcp"]
        await registry.check_all()
        assert (await registry.instances("gift-cards"))[0].healthy
    await registry.check_all()
    down = (await registry.instances("gift-cards"))[0]
    assert not down.healthy and down.last_error, "a stopped MCP server is ejected by the health loop"


async def test_a_kit_service_registers_natively_or_over_mcp(
    registry: ServiceRegistry, mesh_env: dict[str, str], tmp_path: Path
) -> None:
    settings = ToolServiceSettings(name="echo-tools", database_url=f"sqlite+aiosqlite:///{tmp_path / 'e.sqlite'}")
    with serve_in_thread(create_tool_app(settings=settings, tools=[echo], description="echoes"), lifespan="on") as url:
        native = await registry.register(url)
        assert native.manifest.protocol == "meshline"
        await registry.remove("echo-tools")
        over_mcp = await registry.register(f"{url}/mcp", name="echo-tools")
        assert over_mcp.manifest.protocol == "mcp"
        # The kit annotates read tools readOnlyHint, so both routes describe the same tools.
        assert over_mcp.manifest.tools == native.manifest.tools
        assert (await registry.binding("echo-tools")).protocol == "mcp"


async def test_bad_registrations_leave_the_registry_unchanged(registry: ServiceRegistry) -> None:
    with serve_in_thread(giftcards().create_server().streamable_http_app(), lifespan="on") as base:
        await registry.register(f"{base}/mcp")
        before = await registry.list()

        refusals: list[MeshlineError] = []
        for url, kwargs in [
            ("http://127.0.0.1:9", {}),  # nothing listens
            ("http://127.0.0.1:9/mcp", {"protocol": "mcp"}),
            (f"{base}/nothing-here", {}),  # answers, but neither a manifest nor MCP
            (f"{base}/mcp", {"protocol": "meshline"}),  # MCP only: no native manifest
            (f"{base}/mcp", {"name": "Not A Name!"}),
        ]:
            with pytest.raises(MeshlineError) as refused:
                await registry.register(url, **kwargs)  # type: ignore[arg-type]
            refusals.append(refused.value)
        assert all(400 <= r.status < 500 for r in refusals), [(r.status, r.code) for r in refusals]
        assert [r.code for r in refusals][:4] == [
            "manifest_unreachable",
            "service_unreachable",
            "service_unreachable",
            "no_manifest",
        ]

        # A second server under the same name with other tools: a schema conflict, refused.
        other = giftcards().create_server()

        @other.tool()
        def void_card(code: str) -> str:
            """Void a gift card."""
            return code

        with serve_in_thread(other.streamable_http_app(), lifespan="on") as other_base:
            with pytest.raises(Conflict) as conflict:
                await registry.register(f"{other_base}/mcp")
            assert conflict.value.code == "schema_conflict"
        assert await registry.list() == before, "every refusal left the registry as it was"
