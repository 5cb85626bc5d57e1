"""Request-path timeouts of an assistant agent are settings: each read from its env var, none may be 0."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from meshline.agents.assistant.settings import AssistantSettings

TIMEOUTS = [  # (field, env var, default)
    ("llm_health_timeout_s", "MESHLINE_ASSISTANT_LLM_HEALTH_TIMEOUT_S", 1.5),  # the kit's, every agent has it
    ("tool_manifest_timeout_s", "MESHLINE_ASSISTANT_TOOL_MANIFEST_TIMEOUT_S", 3.0),
    ("mcp_list_timeout_s", "MESHLINE_ASSISTANT_MCP_LIST_TIMEOUT_S", 3.0),
]


@pytest.mark.parametrize(("field", "env", "default"), TIMEOUTS)
def test_timeout_defaults_and_reads_its_env_var(
    field: str, env: str, default: float, agent_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert getattr(AssistantSettings(), field) == default
    monkeypatch.setenv(env, "0.25")
    assert getattr(AssistantSettings(), field) == 0.25


@pytest.mark.parametrize(("field", "env", "default"), TIMEOUTS)
def test_timeout_of_zero_is_refused(
    field: str, env: str, default: float, agent_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(env, "0")
    with pytest.raises(ValidationError, match=field):
        AssistantSettings()
