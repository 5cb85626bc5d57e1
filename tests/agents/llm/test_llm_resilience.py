"""Automatic rollback of a failing canary, fallback chains and cooldowns (providers fail for real)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from meshline.testing.wait import wait_until
from tests.agents.llm.llm_helpers import RunLlm, admin_headers, chat, metric_value, served_by, write_config

DEAD_BASE = "http://127.0.0.1:9/v1"  # nothing listens on the discard port: connection refused


async def test_a_failing_canary_is_rolled_back_and_users_never_see_its_errors(
    run_llm: RunLlm, fake_config: Path, issue_token: Callable[..., str]
) -> None:
    admin = admin_headers(issue_token(audience=["llm"], scopes=("admin",)))
    async with run_llm(config=fake_config, rollback_min_requests=4, rollback_max_error_rate=0.5) as client:
        deployed = await client.post(
            "/v1/admin/models/default/deploy",
            json={"version": "v2", "model": "openai/broken", "api_base": DEAD_BASE, "canary": 50},
            headers=admin,
        )
        assert deployed.status_code == 200
        responses = [
            await client.post("/v1/chat/completions", json=chat("hi"), headers={"x-meshline-thread": f"t{i}"})
            for i in range(24)
        ]
        assert {served_by(r) for r in responses} == {"default@v1"}  # the stable version answered every time
        await wait_until(lambda: _rolled_back(client, admin), what="the rollback runs in the background")
        listing = (await client.get("/v1/admin/models", headers=admin)).json()
        metrics = (await client.get("/metrics")).text
    default = next(a for a in listing["aliases"] if a["alias"] == "default")
    v2 = next(v for v in default["versions"] if v["version"] == "v2")
    assert (v2["status"], v2["weight"]) == ("rolled_back", 0)
    assert v2["note"].startswith("error rate")
    assert v2["health"]["last_minute"]["error_rate"] == 1.0
    event = default["events"][0]
    assert (event["action"], event["version"]) == ("auto_rollback", "v2")
    assert event["who"] == "meshline (automatic rollback)"
    assert metric_value(metrics, "meshline_llm_auto_rollbacks_total", alias="default", version="v2") == 1
    assert (
        metric_value(metrics, "meshline_llm_version_weight_percent", alias="default", version="v1", status="stable")
        == 100
    )


async def test_fallback_chain_then_cooldown_skips_the_dead_group(
    run_llm: RunLlm, tmp_path: Path, fake_llm_url: str
) -> None:
    config = write_config(
        tmp_path / "chain.yaml",
        [
            {"alias": "default", "model": "openai/primary", "api_base": DEAD_BASE, "api_key": "k"},
            {"alias": "fast", "model": "openai/backup", "api_base": fake_llm_url, "api_key": "k"},
        ],
    )
    text = config.read_text() + "llm:\n  fallbacks:\n    default: [fast]\n"
    config.write_text(text)
    async with run_llm(config=config, cooldown_failures=2, cooldown_s=30) as client:
        served = [served_by(await client.post("/v1/chat/completions", json=chat(f"q{i}"))) for i in range(5)]
        metrics = (await client.get("/metrics")).text
    assert served == ["fast@v1"] * 5
    # Two real failures cooled the single-deployment group down; the last three went straight to `fast`.
    assert metric_value(metrics, "meshline_llm_calls_total", alias="default", version="v1", outcome="error") == 2
    assert metric_value(metrics, "meshline_llm_fallbacks_total", alias="default", reason="cooldown") == 3


async def test_a_cooled_down_alias_without_fallback_fails_fast_with_retry_after(
    run_llm: RunLlm, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "dead.yaml", [{"alias": "default", "model": "openai/primary", "api_base": DEAD_BASE, "api_key": "k"}]
    )
    async with run_llm(config=config, cooldown_failures=1, cooldown_s=20) as client:
        first = await client.post("/v1/chat/completions", json=chat("a"))
        second = await client.post("/v1/chat/completions", json=chat("b"))
    assert first.status_code == 502
    assert (second.status_code, second.json()["code"]) == (503, "no_healthy_deployment")
    assert 1 <= int(second.headers["retry-after"]) <= 20


async def _rolled_back(client: httpx.AsyncClient, admin: dict[str, str]) -> bool:
    listing = (await client.get("/v1/admin/models", headers=admin)).json()
    default = next(a for a in listing["aliases"] if a["alias"] == "default")
    return any(v["version"] == "v2" and v["status"] == "rolled_back" for v in default["versions"])
