"""The chaos suite's mesh: general, two replicas of commerce, and an account agent whose model hangs on
demand, with fast health checks, a quick breaker and short provider timeouts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from meshline.agents.assistant import PROFILES_DIR
from meshline.testing.mesh import TestMesh, run_test_mesh

REPLICATED = "commerce"  # the agent that runs two replicas in the chaos mesh
SLOW_AGENT = "account"  # its model hangs on demand (scenario f)
HEALTH_INTERVAL_S = 1.0
BREAKER_MIN_CALLS = 5
BREAKER_COOLDOWN_S = 3.0
BREAKER_WINDOW_S = 5
PROVIDER_TIMEOUT_S = 1.5
MODEL_COOLDOWN_S = 2.0  # how long the LLM layer skips a failing model group
TURN_TIMEOUT_S = 8.0
MAX_SCENARIO_S = 180.0  # no scenario's load may run longer than this, whatever happens

CHAOS_MODELS = """\
models:
  - alias: default
    model: openai/primary-model
    api_base: {fake}
    api_key: fake
  - alias: fast
    model: openai/fake-model
    api_base: {fake}
    api_key: fake
  - alias: backup
    model: openai/fake-model
    api_base: {fake}
    api_key: fake
  - alias: slow
    model: openai/slow-model
    api_base: {fake}
    api_key: fake
llm:
  fallbacks:
    default: [backup]
"""


@contextmanager
def run_chaos_mesh(home: Path, provider_latency_ms: float = 20.0) -> Iterator[TestMesh]:
    """general, two replicas of commerce, and account (whose model can be made to hang), with
    fast health checks and a breaker that opens after a handful of failures."""
    home.mkdir(parents=True, exist_ok=True)
    account = yaml.safe_load((PROFILES_DIR / "account.yaml").read_text())
    slow_profile = home / "account-slow.yaml"
    slow_profile.write_text(yaml.safe_dump({**account, "model": "slow", "uses": []}))
    orchestrator = {
        "MESHLINE_ORCHESTRATOR_HEALTH_INTERVAL_S": str(HEALTH_INTERVAL_S),
        "MESHLINE_ORCHESTRATOR_BREAKER_MIN_CALLS": str(BREAKER_MIN_CALLS),
        "MESHLINE_ORCHESTRATOR_BREAKER_WINDOW_S": str(BREAKER_WINDOW_S),
        "MESHLINE_ORCHESTRATOR_BREAKER_COOLDOWN_S": str(BREAKER_COOLDOWN_S),
        "MESHLINE_ORCHESTRATOR_TURN_TIMEOUT_S": str(TURN_TIMEOUT_S),
        "MESHLINE_ORCHESTRATOR_RECALL_K": "0",
    }
    with run_test_mesh(
        home,
        provider_latency_ms,
        services={"general", REPLICATED, SLOW_AGENT},
        replicas={REPLICATED: 2},
        env={
            "orchestrator": orchestrator,
            "llm": {
                "MESHLINE_LLM_REQUEST_TIMEOUT_S": str(PROVIDER_TIMEOUT_S),
                "MESHLINE_LLM_COOLDOWN_S": str(MODEL_COOLDOWN_S),
            },
            SLOW_AGENT: {"MESHLINE_ASSISTANT_PROFILE": str(slow_profile)},
        },
        config=CHAOS_MODELS,
    ) as mesh:
        yield mesh
