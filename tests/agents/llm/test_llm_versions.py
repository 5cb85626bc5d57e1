"""The model registry: weighted canaries, sticky assignment, promote and rollback across replicas."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from meshline.agents.llm.config import Deployment, LlmConfig
from meshline.agents.llm.versions import DeploymentSpec, ModelVersion, Registry, deploy, promote, rollback, seed
from meshline.errors import Conflict
from meshline.testing.wait import wait_until
from tests.agents.llm.llm_helpers import RunLlm, admin_headers, chat, served_by


def registry_with_canary(pct: int) -> Registry:
    registry = Registry()
    seed(registry, LlmConfig(models=[Deployment(alias="default", model="openai/a")]))
    deploy(registry, "default", ModelVersion(version="v2", deployments=[DeploymentSpec(model="openai/b")]), pct)
    return registry


@pytest.mark.parametrize("pct", [5, 20, 50])
def test_weighted_split_is_within_tolerance_over_many_conversations(pct: int) -> None:
    state = registry_with_canary(pct).aliases["default"]
    counts = collections.Counter(state.pick("default", f"thread-{i}").version for i in range(20_000))
    assert abs(counts["v2"] / 20_000 - pct / 100) < 0.015
    assert state.versions["v1"].weight + state.versions["v2"].weight == 100


def test_assignment_is_sticky_and_a_bigger_canary_keeps_its_conversations() -> None:
    small, big = registry_with_canary(10).aliases["default"], registry_with_canary(30).aliases["default"]
    threads = [f"t{i}" for i in range(2000)]
    on_small = {t for t in threads if small.pick("default", t).version == "v2"}
    assert all(small.pick("default", t).version == "v2" for t in on_small)  # same answer every time
    on_big = {t for t in threads if big.pick("default", t).version == "v2"}
    assert on_small < on_big  # growing the canary only adds conversations to it


def test_promote_then_rollback_returns_to_the_previous_stable() -> None:
    registry = registry_with_canary(10)
    promote(registry, "default", "v2")
    state = registry.aliases["default"]
    assert (state.stable, state.versions["v2"].weight, state.versions["v1"].weight) == ("v2", 100, 0)
    assert rollback(registry, "default") == "v1"
    assert (state.versions["v1"].weight, state.versions["v2"].status) == (100, "rolled_back")
    with pytest.raises(Conflict):
        rollback(registry, "default")  # nothing older than v1


def test_rollback_with_a_canary_removes_only_the_canary() -> None:
    registry = registry_with_canary(25)
    assert rollback(registry, "default") == "v1"
    state = registry.aliases["default"]
    assert (state.versions["v1"].weight, state.versions["v2"].weight, state.versions["v2"].status) == (
        100,
        0,
        "rolled_back",
    )


async def test_deploy_splits_real_traffic_and_a_second_replica_follows_within_a_second(
    run_llm: RunLlm,
    fake_config: Path,
    fake_llm_url: str,
    issue_token: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin = admin_headers(issue_token(audience=["llm"], scopes=("admin", "llm:call")))
    monkeypatch.setenv("CANARY_API_KEY", "k")  # the version names the variable, never the key
    async with (
        run_llm(config=fake_config, registry_poll_s=0.05) as first,
        run_llm(config=fake_config, registry_poll_s=0.05) as second,
    ):
        deployed = await first.post(
            "/v1/admin/models/default/deploy",
            json={
                "version": "v2",
                "model": "openai/canary",
                "api_base": fake_llm_url,
                "api_key": "os.environ/CANARY_API_KEY",
                "canary": 30,
            },
            headers=admin,
        )
        assert deployed.status_code == 200, deployed.text

        async def default_alias() -> dict[str, Any]:
            listing = (await second.get("/v1/admin/models", headers=admin)).json()
            return next(a for a in listing["aliases"] if a["alias"] == "default")

        async def split() -> bool:  # the second replica picks the change up by itself
            weights = {v["version"]: v["weight"] for v in (await default_alias())["versions"]}
            return weights == {"v1": 70, "v2": 30}

        await wait_until(split, timeout=1.0, interval=0.02, what="the second replica sees the canary")
        default = await default_alias()
        assert "api_key" not in str(default)  # keys are stored, never listed

        async def version_of(client: httpx.AsyncClient, thread: str) -> str:
            response = await client.post("/v1/chat/completions", json=chat("hi"), headers={"x-meshline-thread": thread})
            return served_by(response)

        async def serves(client: httpx.AsyncClient, version: str) -> bool:  # one call: cheap to poll
            return await version_of(client, threads[0]) == version

        threads = [f"conv-{i}" for i in range(40)]
        on_first = await asyncio.gather(*(version_of(first, t) for t in threads))
        on_second = await asyncio.gather(*(version_of(second, t) for t in threads))
        assert on_first == on_second  # sticky per thread, whichever replica serves it
        assert 5 <= on_first.count("default@v2") <= 20

        promoted = await second.post("/v1/admin/models/default/promote", json={"version": "v2"}, headers=admin)
        assert promoted.status_code == 200
        await wait_until(lambda: serves(first, "default@v2"), timeout=1.0, what="the first replica promotes")
        assert set(await asyncio.gather(*(version_of(first, t) for t in threads[:10]))) == {"default@v2"}

        rolled = await first.post("/v1/admin/models/default/rollback", headers=admin)
        assert rolled.status_code == 200
        await wait_until(lambda: serves(second, "default@v1"), timeout=1.0, what="the second replica rolls back")
        assert set(await asyncio.gather(*(version_of(second, t) for t in threads[:10]))) == {"default@v1"}
        history = (await second.get("/v1/admin/models/history", params={"alias": "default"}, headers=admin)).json()
    actions = [(e["action"], e.get("version"), e["who"]) for e in history["history"]]
    assert actions[:3] == [
        ("rollback", None, "acme/alice"),
        ("promote", "v2", "acme/alice"),
        ("deploy", "v2", "acme/alice"),
    ]


async def test_admin_api_needs_the_admin_scope_and_rejects_bad_changes(
    run_llm: RunLlm, fake_config: Path, issue_token: Callable[..., str]
) -> None:
    admin = admin_headers(issue_token(audience=["llm"], scopes=("admin",)))
    async with run_llm(config=fake_config) as client:
        plain = await client.get("/v1/admin/models")  # the chat-scoped default token
        unknown = await client.post("/v1/admin/models/default/promote", json={"version": "v9"}, headers=admin)
        stable = await client.post(
            "/v1/admin/models/default/deploy", json={"version": "v1", "model": "openai/x"}, headers=admin
        )
        neither = await client.post("/v1/admin/models/default/deploy", json={"version": "v3"}, headers=admin)
        after = (await client.get("/v1/admin/models/history", headers=admin)).json()["history"]
    assert (plain.status_code, plain.json()["code"]) == (403, "missing_scope")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_version")
    assert (stable.status_code, stable.json()["code"]) == (409, "version_exists")
    assert neither.status_code == 422
    assert [e["action"] for e in after] == ["seed"]  # refused changes left no trace
