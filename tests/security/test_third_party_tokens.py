"""A third-party MCP server registered from outside gets a token for itself alone, or none.

Real processes: the mesh, an MCP server that records the Authorization header of every request
(tests/security/capture_mcp.py) and an agent whose profile uses it. The fake model is scripted to
call the server's tool; the token the server received is then tried against every other service.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

import meshline
from meshline.cli.local_mesh import ProcessSpec
from meshline.cli.ports import free_port, wait_for_port
from meshline.testing.mesh import READY_TIMEOUT_S, TestMesh
from tests.e2e.test_tool_registration import admin, call_then, script
from tests.security.test_audiences import TARGETS

pytestmark = pytest.mark.e2e
HERE = Path(__file__).resolve().parent
PROFILE = """\
name: lookup-agent
description: Looks codes up with an outside service.
system_prompt: You look codes up with the tool you are given.
uses: ["capture"]
max_steps: 3
"""


@pytest.fixture(scope="module")
def capture(mesh: TestMesh, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(the capture server's MCP URL, the file of Authorization headers it saw), with the agent running."""
    folder = tmp_path_factory.mktemp("capture")
    out = folder / "authorization.jsonl"
    (folder / "lookup.yaml").write_text(PROFILE)
    env = mesh.agent_env()
    server_port, agent_port = free_port(), free_port()
    specs = [
        ProcessSpec(
            "capture",
            [sys.executable, str(HERE / "capture_mcp.py"), "--port", str(server_port), "--out", str(out)],
            server_port,
        ),  # fmt: skip
        ProcessSpec(
            "lookup-agent",
            [sys.executable, "-m", "meshline.agents.assistant"],
            agent_port,
            env={
                **env,
                "MESHLINE_ASSISTANT_PORT": str(agent_port),
                "MESHLINE_ASSISTANT_PROFILE": str(folder / "lookup.yaml"),
            },  # fmt: skip
        ),
    ]
    for spec in specs:
        mesh.supervisor.start(spec)
    wait_for_port(server_port, timeout_s=READY_TIMEOUT_S)
    mesh.supervisor.wait_ready(specs[1], READY_TIMEOUT_S)
    with admin(mesh) as api:
        assert api.post("/v1/services", json={"url": specs[1].url}).status_code == 201
    try:
        yield f"{specs[0].url}/mcp", out
    finally:
        with admin(mesh) as api:
            api.delete("/v1/services/lookup-agent")
            api.delete("/v1/services/capture")
        for spec in specs:
            mesh.supervisor.stop(spec.name)


def tool_call_tokens(out: Path) -> list[str | None]:
    """The bearer tokens the server got with its requests (None for a request without one)."""
    seen = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    return [v.removeprefix("Bearer ") if v else None for v in seen]


def lookup_once(mesh: TestMesh, out: Path) -> list[str | None]:
    out.unlink(missing_ok=True)
    script(mesh, "lookup", call_then("lookup", {"code": "A1"}, "Found: {tool_result}"))
    try:
        with meshline.Client(mesh.url, mesh.api_key) as client:
            answer = client.chat("look up code A1", agent="lookup-agent")
    finally:
        script(mesh, "lookup", [])
    assert [(c.tool, c.status) for c in answer.tool_calls] == [("lookup", "ok")], answer.tool_calls
    return tool_call_tokens(out)


def test_a_registered_mcp_servers_token_opens_nothing_else(mesh: TestMesh, capture: tuple[str, Path]) -> None:
    url, out = capture
    with admin(mesh) as api:
        registered = api.post("/v1/services", json={"url": url, "name": "capture"})
        assert registered.status_code == 201, registered.text
    tokens = {t for t in lookup_once(mesh, out) if t}
    assert tokens, "the server was sent a token (registered with the default: its own audience)"
    for token in tokens:
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["aud"] == "capture" and claims["scopes"] == ["tools:call"]
        for target in TARGETS:
            response = target.call(mesh, token)
            assert response.status_code == 403, (target.audience, response.text)
            assert response.json()["code"] == "wrong_audience"
        chat = httpx.post(f"{mesh.url}/v1/chat", json={"message": "hi"}, headers={"authorization": f"Bearer {token}"})
        assert chat.status_code == 401, "a service token is not an API key"


def test_a_server_registered_without_a_token_gets_none(mesh: TestMesh, capture: tuple[str, Path]) -> None:
    url, out = capture
    with admin(mesh) as api:
        api.delete("/v1/services/capture")
        registered = api.post("/v1/services", json={"url": url, "name": "capture", "token_policy": "none"})
        assert registered.status_code == 201, registered.text
    seen = lookup_once(mesh, out)
    assert seen and all(t is None for t in seen), "no Authorization header on any request to it"
