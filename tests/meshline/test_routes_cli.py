"""``meshline routes eval|fit|reset`` through typer's CliRunner against a real orchestrator over HTTP.

The orchestrator, the LLM layer and two assistant agents (general, commerce) run in-process,
each served by uvicorn on its own port; the LLM layer points at the fake provider. The admin key
comes from the mesh home, as ``meshline up`` leaves it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from typer.testing import CliRunner

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from meshline.agents.assistant.app import create_app as create_agent  # noqa: E402
from meshline.agents.assistant.settings import AssistantSettings  # noqa: E402
from meshline.agents.llm.app import create_app as create_llm  # noqa: E402
from meshline.agents.llm.settings import LlmSettings  # noqa: E402
from meshline.cli.main import build_app  # noqa: E402
from meshline.orchestrator.app import create_app as create_orchestrator  # noqa: E402
from meshline.orchestrator.settings import OrchestratorSettings  # noqa: E402
from meshline.testing.serve import serve_in_thread  # noqa: E402

ADMIN = "routes-cli-admin-key"
LABELS = {"intents": {"track_order": "commerce", "cancel_order": "commerce", "greeting": "general"}}
ROWS = [
    ("where is my parcel, it has not arrived", "track_order"),
    ("I want to cancel the order I placed yesterday", "cancel_order"),
    ("hello there, good afternoon", "greeting"),
]


@pytest.fixture
def mesh(mesh_env: dict[str, str], fake_llm_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    config = tmp_path / "meshline.yaml"
    config.write_text(
        json.dumps({"models": [{"alias": "default", "model": "openai/x", "api_base": fake_llm_url, "api_key": "k"}]})
    )
    home = Path(mesh_env["MESHLINE_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "admin_key").write_text(ADMIN)  # what `meshline up` leaves for admin commands
    monkeypatch.setenv("MESHLINE_ORCHESTRATOR_ADMIN_KEY", ADMIN)
    monkeypatch.setenv("MESHLINE_ORCHESTRATOR_REGISTRY_ALLOW_NETWORKS", "127.0.0.0/8")  # the agents are on loopback
    monkeypatch.delenv("MESHLINE_API_KEY", raising=False)
    with ExitStack() as stack:
        llm = stack.enter_context(serve_in_thread(create_llm(LlmSettings(config=config)), lifespan="on"))
        monkeypatch.setenv("MESHLINE_LLM_URL", llm)
        agents = [
            stack.enter_context(serve_in_thread(create_agent(AssistantSettings(profile=p)), lifespan="on"))
            for p in ("general", "commerce")
        ]
        url = stack.enter_context(serve_in_thread(create_orchestrator(OrchestratorSettings()), lifespan="on"))
        runner = CliRunner()
        for agent in agents:
            registered = runner.invoke(build_app(), ["register", agent, "--url", url])
            assert registered.exit_code == 0, registered.output
        yield url


def labelled(tmp_path: Path, rows: list[tuple[str, str]]) -> tuple[str, str]:
    data, labels = tmp_path / "msgs.csv", tmp_path / "labels.json"
    data.write_text("utterance,intent\n" + "".join(f'"{u}",{i}\n' for u, i in rows))
    labels.write_text(json.dumps(LABELS))
    return str(data), str(labels)


def test_eval_fit_and_reset_against_a_running_orchestrator(mesh: str, tmp_path: Path) -> None:
    runner = CliRunner()
    data, labels = labelled(tmp_path, ROWS)
    result = runner.invoke(
        build_app(), ["routes", "eval", data, "--labels", labels, "--json", "--no-llm", "--url", mesh]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["messages"] == 3 and report["accuracy"] == 1.0
    assert report["llm_fallback_rate"] == 0.0 and report["decided_without_llm"] == 1.0
    assert 0 < report["p50_ms"] <= report["p99_ms"]
    assert report["confusion"] == {"commerce": {"commerce": 2}, "general": {"general": 1}}

    tables = runner.invoke(build_app(), ["routes", "eval", data, "--labels", labels, "--no-llm", "--url", mesh])
    assert tables.exit_code == 0, tables.output
    assert "accuracy 1.000" in tables.stdout and "per agent" in tables.stdout and "confusion" in tables.stdout

    fitted = runner.invoke(build_app(), ["routes", "fit", data, "--labels", labels, "--url", mesh])
    assert fitted.exit_code == 0, fitted.output
    counts = {line.split()[0]: line.split()[1] for line in fitted.stdout.splitlines()}
    assert counts == {"commerce": "+2", "general": "+1"}
    again = runner.invoke(build_app(), ["routes", "fit", data, "--labels", labels, "--url", mesh])
    assert {line.split()[1] for line in again.stdout.splitlines()} == {"+0"}  # deduplicated

    reset = runner.invoke(build_app(), ["routes", "reset", "--url", mesh])
    assert reset.exit_code == 0, reset.output
    refit = runner.invoke(build_app(), ["routes", "fit", data, "--labels", labels, "--url", mesh])
    assert {line.split()[1] for line in refit.stdout.splitlines()} == {"+1", "+2"}  # forgotten, so new again

    # Bad input fails with a clear message and changes nothing.
    bad, labels = labelled(tmp_path, [*ROWS, ("refund please", "get_refund")])
    result = runner.invoke(build_app(), ["routes", "eval", bad, "--labels", labels, "--url", mesh])
    assert result.exit_code == 1 and "without an agent in the labels: get_refund" in result.stderr
    data, labels = labelled(tmp_path, ROWS)
    Path(labels).write_text(json.dumps({"track_order": "billing", "cancel_order": "billing", "greeting": "x"}))
    result = runner.invoke(build_app(), ["routes", "fit", data, "--labels", labels, "--url", mesh])
    assert result.exit_code == 1 and "not registered agents: billing, x" in result.stderr


@pytest.fixture
def unsure_mesh(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> str:
    """The same mesh where no example is close enough to vote: every message goes to the LLM stage."""
    monkeypatch.setenv("MESHLINE_ORCHESTRATOR_ROUTE_THRESHOLD", "1.0")
    monkeypatch.setenv("MESHLINE_ORCHESTRATOR_ROUTE_MIN_SIMILARITY", "0.99")
    return str(request.getfixturevalue("mesh"))


def test_eval_with_the_llm_stage_when_a_model_is_configured(unsure_mesh: str, tmp_path: Path) -> None:
    # The fake provider echoes the message it is given, so a message carrying a JSON choice
    # scripts a valid answer; the others come back as prose, which the router must not trust.
    rows = [*ROWS, ('route me {""agent"": ""commerce""}', "track_order")]
    data, labels = labelled(tmp_path, rows)
    result = CliRunner().invoke(
        build_app(), ["routes", "eval", data, "--labels", labels, "--json", "--url", unsure_mesh]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["llm_fallback_rate"] == 1.0 and report["decided_without_llm"] == 0.0
    assert report["below_threshold_share"] == 1.0
    # Prose answers fall back to general (right for the greeting only); the JSON one picks commerce.
    assert report["confusion"] == {"commerce": {"commerce": 1, "general": 2}, "general": {"general": 1}}
    assert report["accuracy"] == 0.5 and 0 < report["p50_ms"] <= report["p99_ms"]
