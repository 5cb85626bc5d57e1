"""The LLM layer's readiness probe timeout is a setting: read from the environment, bounded, wired in."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from meshline.agents.llm.settings import LlmSettings
from tests.agents.llm.llm_helpers import RunLlm, write_config

PROBE_VAR = "MESHLINE_LLM_MODELS_PROBE_TIMEOUT_S"


def test_the_probe_timeout_reads_its_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert LlmSettings().models_probe_timeout_s == 2.0
    monkeypatch.setenv(PROBE_VAR, "0.5")
    assert LlmSettings().models_probe_timeout_s == 0.5


@pytest.mark.parametrize("value", ["0", "-1", "61"])
def test_the_probe_timeout_must_be_positive_and_bounded(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROBE_VAR, value)
    with pytest.raises(ValidationError, match="models_probe_timeout_s"):
        LlmSettings()


async def test_a_short_probe_timeout_gives_up_on_a_silent_deployment(
    run_llm: RunLlm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PROBE_VAR, "0.2")
    monkeypatch.setenv("MESHLINE_LLM_READINESS_TIMEOUT_S", "10")  # the whole check would wait far longer
    with socket.socket() as silent:  # connections are accepted by the kernel and never answered
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        config = write_config(
            tmp_path / "silent.yaml",
            [{"alias": "default", "model": "openai/x", "api_base": f"http://127.0.0.1:{port}/v1"}],
        )
        async with run_llm(config=config) as client:
            start = time.perf_counter()
            not_ready = await client.get("/readyz")
            elapsed = time.perf_counter() - start
    assert elapsed < 2, "the probe is cut at its configured timeout"
    assert not_ready.status_code == 503
    assert "no deployment of the 'default' alias answers" in not_ready.json()["checks"]["models"]
