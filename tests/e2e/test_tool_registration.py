"""Registering tool services at runtime, end to end with real processes.

A native kit tool service (the shipment tracker example), an MCP server that knows nothing of
Meshline (the gift-card example) and a new agent that may use both each run as their own
process next to the running mesh. They are registered through the API, used by the agent in
the next chat turn (the fake provider is scripted to call their tools), deregistered, and then
no longer offered to the model. Bad registrations are refused with problem+json and leave the
registry as it was.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

import meshline
from meshline.cli.local_mesh import ProcessSpec
from meshline.cli.main import build_app
from meshline.cli.ports import free_port, wait_for_port
from meshline.testing.mesh import READY_TIMEOUT_S, TestMesh

pytestmark = pytest.mark.e2e
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PARCEL = "1Z999AA10123456784"
PROFILE = """\
name: concierge
description: Parcel tracking and gift cards.
system_prompt: You track parcels and look after gift cards, with the tools you are given.
uses: ["shipment-tracker", "gift-cards"]
max_steps: 4
"""


@pytest.fixture(scope="module")
def services(mesh: TestMesh, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The three new processes, started (not registered); their base URLs by name."""
    env = mesh.agent_env()
    profile = tmp_path_factory.mktemp("concierge") / "concierge.yaml"
    profile.write_text(PROFILE)
    tracker, agent, gifts = free_port(), free_port(), free_port()
    specs = [
        ProcessSpec(
            "shipment-tracker",
            [sys.executable, str(EXAMPLES / "shipment_tracker" / "service.py")],
            tracker,
            env={**env, "MESHLINE_TRACKER_PORT": str(tracker)},
        ),
        ProcessSpec(
            "concierge",
            [sys.executable, "-m", "meshline.agents.assistant"],
            agent,
            env={**env, "MESHLINE_ASSISTANT_PORT": str(agent), "MESHLINE_ASSISTANT_PROFILE": str(profile)},
        ),
        ProcessSpec(
            "gift-cards", [sys.executable, str(EXAMPLES / "mcp_giftcards" / "server.py"), "--port", str(gifts)], gifts
        ),
    ]
    for spec in specs:
        mesh.supervisor.start(spec)
    mesh.supervisor.wait_ready(specs[0], READY_TIMEOUT_S)
    mesh.supervisor.wait_ready(specs[1], READY_TIMEOUT_S)
    wait_for_port(gifts, timeout_s=READY_TIMEOUT_S)
    try:
        yield {s.name: s.url for s in specs}
    finally:
        for spec in specs:
            if spec.name in mesh.supervisor.procs:
                mesh.supervisor.stop(spec.name)


def script(mesh: TestMesh, tool: str, turns: list[dict[str, Any]]) -> None:
    """From now on, a model offered ``tool`` answers with these turns (no turns: the echo again)."""
    url = mesh.fake_llm_url.removesuffix("/v1") + "/_script"
    httpx.post(url, json={"tool": tool, "turns": turns}, timeout=5).raise_for_status()


def call_then(tool: str, arguments: dict[str, Any], reply: str | None = None) -> list[dict[str, Any]]:
    """Turns of a model that calls ``tool`` once, then (given the result) says ``reply``."""
    turns: list[dict[str, Any]] = [{"tool_calls": [{"name": tool, "arguments": arguments}]}]
    return turns + ([{"content": reply}] if reply else [])


def admin(mesh: TestMesh) -> httpx.Client:
    return httpx.Client(base_url=mesh.url, headers={"authorization": f"Bearer {mesh.admin_key}"}, timeout=60)


def test_registered_tools_are_used_in_the_next_turn_and_gone_after_deregistration(
    mesh: TestMesh, services: dict[str, str]
) -> None:
    with admin(mesh) as api:
        tracker = api.post("/v1/services", json={"url": services["shipment-tracker"]})
        assert tracker.status_code == 201, tracker.text
        gifts = api.post("/v1/services", json={"url": f"{services['gift-cards']}/mcp"})  # found to be MCP
        assert gifts.status_code == 201, gifts.text
        assert gifts.json()["name"] == "gift-cards" and gifts.json()["manifest"]["protocol"] == "mcp"
        assert api.post("/v1/services", json={"url": services["concierge"]}).status_code == 201

    try:
        with meshline.Client(mesh.url, mesh.api_key) as client:
            # Native tool service: the next turn uses it, nothing restarted.
            script(
                mesh, "track_parcel", call_then("track_parcel", {"tracking_number": PARCEL}, "Parcel: {tool_result}")
            )
            tracked = client.chat(f"where is parcel {PARCEL}?", agent="concierge")
            assert [(c.tool, c.service, c.status) for c in tracked.tool_calls] == [
                ("track_parcel", "shipment-tracker", "ok")
            ]
            assert tracked.tool_calls[0].result["tracking_number"] == PARCEL
            assert tracked.content.startswith("Parcel: ") and PARCEL in tracked.content
            script(mesh, "track_parcel", [])

            # MCP server: a read-only tool runs at once.
            script(mesh, "check_balance", call_then("check_balance", {"code": "GIFT-2000"}, "Card: {tool_result}"))
            balance = client.chat("what is left on GIFT-2000?", agent="concierge")
            assert [(c.tool, c.service, c.status) for c in balance.tool_calls] == [
                ("check_balance", "gift-cards", "ok")
            ]
            assert balance.tool_calls[0].result == {"code": "GIFT-2000", "balance_cents": 2500}
            script(mesh, "check_balance", [])

            # An MCP tool without readOnlyHint changes data: asked first, run on "yes".
            redeem = {"code": "GIFT-2000", "amount_cents": 1200}
            script(mesh, "redeem", call_then("redeem", redeem, "Redeemed: {tool_result}"))
            asked = client.chat("take 12.00 off GIFT-2000", agent="concierge")
            assert asked.tool_calls[0].status == "pending_confirmation" and "Shall I go ahead" in asked.content
            done = client.chat("yes", thread_id=asked.thread_id, agent="concierge")
            assert done.tool_calls[0].status == "ok" and done.tool_calls[0].result["balance_cents"] == 1300
            assert done.content.startswith("Redeemed: ")
            script(mesh, "redeem", [])
    finally:
        for name in ("track_parcel", "check_balance", "redeem"):
            script(mesh, name, [])

    with admin(mesh) as api:
        assert api.delete("/v1/services/shipment-tracker").status_code == 204
        assert api.delete("/v1/services/gift-cards").status_code == 204
        names = {s["name"] for s in api.get("/v1/services").json()["services"]}
    assert {"shipment-tracker", "gift-cards"}.isdisjoint(names) and "concierge" in names

    script(mesh, "track_parcel", call_then("track_parcel", {"tracking_number": PARCEL}))
    try:
        with meshline.Client(mesh.url, mesh.api_key) as client:
            after = client.chat(f"where is parcel {PARCEL}?", agent="concierge")
    finally:
        script(mesh, "track_parcel", [])
    assert after.tool_calls == [], "a deregistered tool service is no longer offered"
    assert "tools" not in mesh.provider_requests()[-1], "the model was offered no tools at all"
    with admin(mesh) as api:
        api.delete("/v1/services/concierge")


def test_bad_registrations_are_refused_and_change_nothing(mesh: TestMesh, services: dict[str, str]) -> None:
    with admin(mesh) as api:
        before = sorted(s["name"] for s in api.get("/v1/services").json()["services"])
        bad: list[tuple[dict[str, Any], int, str]] = [
            ({"url": "not a url"}, 400, "invalid_url"),
            ({"url": f"http://127.0.0.1:{free_port()}"}, 422, "manifest_unreachable"),
            ({"url": f"{services['gift-cards']}/mcp", "protocol": "meshline"}, 422, "no_manifest"),
            ({"url": f"{services['shipment-tracker']}/nowhere"}, 422, "service_unreachable"),
            ({"url": services["shipment-tracker"], "name": "other-name"}, 422, "name_mismatch"),
            ({"url": f"{services['gift-cards']}/mcp", "protocol": "grpc"}, 422, "validation_error"),
        ]
        for body, status, code in bad:
            response = api.post("/v1/services", json=body)
            assert (response.status_code, response.json()["code"]) == (status, code), (body, response.text)
            assert response.headers["content-type"] == "application/problem+json"
        # The kit's own MCP endpoint registers too, and a second schema under its name is refused.
        over_mcp = api.post("/v1/services", json={"url": f"{services['shipment-tracker']}/mcp"})
        assert over_mcp.status_code == 201 and over_mcp.json()["name"] == "shipment-tracker"
        clash = api.post("/v1/services", json={"url": f"{services['gift-cards']}/mcp", "name": "shipment-tracker"})
        assert clash.status_code == 409 and clash.json()["code"] == "schema_conflict"
        assert api.delete("/v1/services/shipment-tracker").status_code == 204
        after = sorted(s["name"] for s in api.get("/v1/services").json()["services"])
    assert after == before


def test_cli_registers_lists_and_deregisters_an_mcp_server(mesh: TestMesh, services: dict[str, str]) -> None:
    cli, app = CliRunner(), build_app()
    where = ["--url", mesh.url, "--key", mesh.admin_key]
    registered = cli.invoke(app, ["register", f"{services['gift-cards']}/mcp", "--mcp", "--name", "gift-shop", *where])
    assert registered.exit_code == 0, registered.output
    assert "registered gift-shop (tool)" in registered.stdout and "over MCP" in registered.stdout
    assert "check_balance" in registered.stdout
    listed = cli.invoke(app, ["services", *where])
    assert "gift-shop" in listed.stdout and "(healthy)" in listed.stdout
    assert cli.invoke(app, ["deregister", "gift-shop", *where]).exit_code == 0
    assert "gift-shop" not in cli.invoke(app, ["services", *where]).stdout
