"""The ``meshline`` CLI (chat, status, keygen) through typer's CliRunner, against a real HTTP stand-in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI, Request, Response
from typer.testing import CliRunner

from meshline.cli.main import build_app
from meshline.cli.ports import free_port
from meshline.sdk import Client
from meshline.service.auth import ServiceTokenIssuer, ServiceTokenVerifier
from meshline.testing.serve import serve_in_thread
from tests.meshline.sdk_standin import GOOD_KEY, serve_standin


@pytest.fixture(scope="module")
def standin() -> Iterator[tuple[str, FastAPI]]:
    with serve_standin() as served:
        yield served


@pytest.fixture
def url(standin: tuple[str, FastAPI]) -> str:
    standin[1].state.services.clear()
    return standin[0]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_chat_streams_the_answer_to_stdout_and_the_route_to_stderr(runner: CliRunner, url: str) -> None:
    result = runner.invoke(build_app(), ["chat", "world", "--url", url, "--key", GOOD_KEY])
    assert result.exit_code == 0, result.output
    assert result.stdout == "Hello world\n"
    assert "general (examples, 0.90)" in result.stderr
    assert "thread t-new" in result.stderr


def test_chat_says_that_text_before_a_reset_does_not_count(runner: CliRunner, url: str) -> None:
    result = runner.invoke(build_app(), ["chat", "redo", "--url", url, "--key", GOOD_KEY])
    assert result.exit_code == 0, result.output
    assert result.stdout == "Half a\nHello redo\n"
    assert "general could not finish: the text above does not count" in result.stderr


def test_interactive_chat_keeps_the_thread_until_exit(runner: CliRunner, url: str) -> None:
    result = runner.invoke(
        build_app(), ["chat", "--url", url, "--key", GOOD_KEY, "--thread", "t-7"], input="first\n\nsecond\nexit\n"
    )
    assert result.exit_code == 0, result.output
    assert "Hello first" in result.stdout
    assert "Hello second" in result.stdout
    assert result.stderr.count("thread t-7") == 2


def test_interactive_chat_ends_on_ctrl_d(runner: CliRunner, url: str) -> None:
    result = runner.invoke(build_app(), ["chat", "--url", url, "--key", GOOD_KEY], input="hi\n")
    assert result.exit_code == 0, result.output
    assert "Hello hi" in result.stdout


def test_chat_errors_are_one_clear_line_and_exit_1(runner: CliRunner, url: str) -> None:
    result = runner.invoke(build_app(), ["chat", "hi", "--url", url, "--key", "ml_wrong"])
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: Unauthorized: unknown API key"
    assert "Traceback" not in result.output
    failed = runner.invoke(build_app(), ["chat", "boom", "--url", url, "--key", GOOD_KEY])
    assert failed.exit_code == 1
    assert "every agent is down" in failed.stderr


def test_status_when_the_mesh_is_unreachable(runner: CliRunner) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(build_app(), ["status", "--url", dead, "--key", GOOD_KEY, "--timeout", "2"])
    assert result.exit_code == 1
    assert f"cannot reach {dead}" in result.stderr
    assert "meshline up" in result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_status_is_zero_only_when_everything_is_healthy(
    runner: CliRunner, url: str, standin: tuple[str, FastAPI]
) -> None:
    app = build_app()
    args = ["status", "--url", url, "--key", GOOD_KEY]
    empty = runner.invoke(app, args)
    assert empty.exit_code == 0, empty.output
    assert "orchestrator" in empty.stdout
    assert "ready" in empty.stdout

    with Client(url, GOOD_KEY) as client:
        client.services.register("http://commerce:8102")
        healthy = runner.invoke(app, args)
        assert healthy.exit_code == 0, healthy.output
        assert "commerce" in healthy.stdout
        assert "1/1" in healthy.stdout

        client.services.register("http://down:8103")
        unhealthy = runner.invoke(app, args)
    assert unhealthy.exit_code == 1
    assert "down" in unhealthy.stdout
    assert "0/1" in unhealthy.stdout
    assert "readyz answered 503" in unhealthy.stdout


def test_keygen_prints_a_usable_env_file(runner: CliRunner) -> None:
    result = runner.invoke(build_app(), ["keygen"])
    assert result.exit_code == 0
    values = {}
    for line in result.stdout.splitlines():
        if line and not line.startswith("#"):
            name, _, raw = line.partition("=")
            values[name] = raw
    assert set(values) == {
        "MESHLINE_TOKEN_PRIVATE_KEY",
        "MESHLINE_TOKEN_PUBLIC_KEY",
        "MESHLINE_ORCHESTRATOR_ADMIN_KEY",
        "MESHLINE_REDIS_PASSWORD",  # compose refuses to start without these three
        "MESHLINE_METRICS_TOKEN",
        "MESHLINE_LOCAL_MODEL_API_KEY",
    }
    assert len({values[n] for n in ("MESHLINE_REDIS_PASSWORD", "MESHLINE_METRICS_TOKEN")}) == 2
    # Double-quoted dotenv values with \n escapes: undo them the way docker compose does.
    private, public = (
        values[name].removeprefix('"').removesuffix('"').replace("\\n", "\n")
        for name in ("MESHLINE_TOKEN_PRIVATE_KEY", "MESHLINE_TOKEN_PUBLIC_KEY")
    )
    assert "\n" not in values["MESHLINE_TOKEN_PUBLIC_KEY"]
    serialization.load_pem_public_key(public.encode())
    token = ServiceTokenIssuer(private).issue(tenant="acme", user="alice", scopes=["llm:call"], audience="llm")
    assert ServiceTokenVerifier([public], "llm").verify(token).tenant == "acme"
    assert values["MESHLINE_ORCHESTRATOR_ADMIN_KEY"].startswith("ml_admin_")


def test_keygen_writes_pem_files(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "keys"
    result = runner.invoke(build_app(), ["keygen", "--dir", str(target)])
    assert result.exit_code == 0, result.output
    assert (target / "service_token.pem").stat().st_mode & 0o777 == 0o600
    assert (target / "service_token.pub.pem").read_text().startswith("-----BEGIN PUBLIC KEY-----")


def test_status_includes_the_local_infrastructure_meshline_up_started(
    runner: CliRunner, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / ".meshline"
    home.mkdir()
    dead = f"http://127.0.0.1:{free_port()}"
    # The stand-in answers /readyz, so it plays a ready memory service; nothing listens on `dead`.
    services = {"orchestrator": url, "memory": url, "llm": dead}
    (home / "mesh.json").write_text(json.dumps({"url": url, "api_key": GOOD_KEY, "services": services}))
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(build_app(), ["status"])
    assert result.exit_code == 1, result.output
    assert "memory" in result.stdout and "infrastructure" in result.stdout
    assert "llm: unreachable" in result.stdout


def test_status_probes_the_local_model_with_the_key_it_answers_to(
    runner: CliRunner, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bundled model server answers only its key: status sends the one `meshline up` keeps in the home."""
    model = FastAPI()

    @model.get("/v1/models")
    async def models(request: Request) -> Response:
        ok = request.headers.get("authorization") == "Bearer model-key"
        return Response('{"data": []}' if ok else "", status_code=200 if ok else 401)

    home = tmp_path / ".meshline"
    home.mkdir()
    monkeypatch.chdir(tmp_path)
    with serve_in_thread(model) as model_url:
        (home / "mesh.json").write_text(
            json.dumps({"url": url, "api_key": GOOD_KEY, "services": {"orchestrator": url, "local-model": model_url}})
        )
        without = runner.invoke(build_app(), ["status"])
        (home / "local_model_key").write_text("model-key\n")
        with_key = runner.invoke(build_app(), ["status"])
    assert "local-model: answered 401" in without.stdout
    assert "local-model" in with_key.stdout and "local-model:" not in with_key.stdout, with_key.stdout
