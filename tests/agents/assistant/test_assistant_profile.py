"""Profiles: the bundled general profile, profiles from a file, and what makes one invalid."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import respx
import yaml

from meshline.agents.assistant.app import create_app
from meshline.agents.assistant.profile import MAX_EXAMPLES, ProfileError, load_profile
from meshline.agents.assistant.settings import AssistantSettings
from meshline.testing.asgi import asgi_client
from meshline.testing.scripted_model import Reply, completion_json
from tests.agents.assistant.llm_standin import COMPLETIONS, sent_json, task_body

BILLING = {
    "name": "billing",
    "description": "Invoices and payment questions.",
    "examples": ["where is my invoice?", "why was I charged twice?"],
    "system_prompt": "You answer billing questions.",
    "model": "cheap",
    "temperature": 0.2,
    "max_tokens": 64,
}


def write_profile(tmp_path: Path, **fields: Any) -> Path:
    path = tmp_path / f"{fields.get('name', 'profile')}.yaml"
    path.write_text(yaml.safe_dump(fields))
    return path


def test_bundled_general_profile_is_small_and_may_only_open_tickets() -> None:
    profile = load_profile("general")

    assert profile.name == "general"
    assert profile.uses == ["crm"] and profile.tools == {"crm": ["open_ticket"]}
    assert profile.model == "default" and profile.max_steps == 6
    assert 10 <= len(profile.examples) <= MAX_EXAMPLES
    assert len(set(profile.examples)) == len(profile.examples)
    assert len(profile.system_prompt) < 800  # the bundled model is SmolLM2-135M


def test_settings_default_to_the_general_agent(agent_env: dict[str, str]) -> None:
    settings = AssistantSettings()
    assert (settings.profile, settings.port, settings.name) == ("general", 8104, "")


async def test_profile_from_a_file_makes_another_agent(
    tmp_path: Path,
    agent_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    llm: respx.MockRouter,
    issue_token: Callable[..., str],
) -> None:
    monkeypatch.setenv("MESHLINE_ASSISTANT_PROFILE", str(write_profile(tmp_path, **BILLING)))
    route = llm.post(COMPLETIONS).respond(200, json=completion_json(Reply(text="Your invoice is on its way.")))
    app = create_app()

    async with asgi_client(app, "http://billing.test") as client:
        manifest = (await client.get("/v1/manifest")).json()
        good = issue_token(audience="billing")
        answered = await client.post("/v1/invoke", json=task_body(), headers={"authorization": f"Bearer {good}"})
        general = issue_token(audience="general")
        refused = await client.post("/v1/invoke", json=task_body(), headers={"authorization": f"Bearer {general}"})

    assert (manifest["name"], manifest["examples"]) == ("billing", BILLING["examples"])
    assert app.state.settings.name == "billing"
    assert answered.status_code == 200 and answered.json()["agent"] == "billing"
    sent = sent_json(route)
    assert (sent["model"], sent["temperature"], sent["max_tokens"]) == ("cheap", 0.2, 64)
    assert sent["messages"][0]["content"] == "You answer billing questions."
    assert refused.status_code == 403 and route.call_count == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({**BILLING, "examples": [f"q{i}" for i in range(MAX_EXAMPLES + 1)]}, "examples"),
        ({**BILLING, "tools": ["crm"]}, "tools"),
        ({**BILLING, "tools": {"crm": ["open_ticket"]}}, "not in uses"),
        ({**BILLING, "uses": ["crm"], "tools": {"crm": []}}, "lists no tools"),
        ({**BILLING, "uses": ["crm"], "tools": {"crm": ["Open Ticket"]}}, "invalid tool names"),
        ({**BILLING, "name": "Billing Agent"}, "name"),
        ({k: v for k, v in BILLING.items() if k != "system_prompt"}, "system_prompt"),
    ],
)
def test_invalid_profiles_are_refused_at_startup(
    tmp_path: Path, agent_env: dict[str, str], fields: dict[str, Any], message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(fields))

    with pytest.raises(ProfileError, match=message):
        create_app(AssistantSettings(profile=str(path)))


def test_unknown_profile_names_the_bundled_ones(agent_env: dict[str, str]) -> None:
    with pytest.raises(ProfileError, match="general"):
        create_app(AssistantSettings(profile="nosuchagent"))


def test_service_name_must_match_the_profile(agent_env: dict[str, str]) -> None:
    with pytest.raises(ProfileError, match="differs"):
        create_app(AssistantSettings(name="commerce"))
