"""``meshline keys create|list|revoke`` through typer's CliRunner, against a real orchestrator over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from meshline.cli.keys_cmd import parse_duration
from meshline.cli.main import build_app
from meshline.cli.up_cmd import register_agents_and_mint_key
from meshline.sdk import Client
from tests.meshline.keys_orchestrator import ADMIN, serve_orchestrator


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory, redis_server: str, token_keys: tuple[str, str]) -> Iterator[str]:
    with serve_orchestrator(tmp_path_factory.mktemp("home"), redis_server, token_keys) as served:
        yield served


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `meshline up` home holding the admin key, as the CLI finds it next to a running mesh."""
    monkeypatch.setenv("MESHLINE_HOME", str(tmp_path))
    monkeypatch.delenv("MESHLINE_API_KEY", raising=False)
    (tmp_path / "admin_key").write_text(ADMIN)
    return tmp_path


def test_create_list_revoke_with_the_admin_key_of_the_home(url: str, home: Path) -> None:
    cli, runner = build_app(), CliRunner()
    long_name = "the storefront backend of the acme corporation, region eu-west, blue deployment"
    created = runner.invoke(
        cli, ["keys", "create", "--url", url, "--tenant", "acme", "--scope", "chat", "--scope", "act_as_user",
              "--name", long_name, "--ttl", "30d"],
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip()
    assert secret.startswith("ml_") and "shown this once" in created.stderr
    with Client(url, ADMIN) as admin:
        [info] = admin.keys.list("acme")
    assert info.scopes == ["act_as_user", "chat"] and info.expires_at is not None

    listed = runner.invoke(cli, ["keys", "list", "--url", url, "--tenant", "acme"])
    assert listed.exit_code == 0, listed.output
    assert long_name in listed.stdout and info.id in listed.stdout and "…" not in listed.stdout  # piped: never cut
    assert secret not in listed.stdout

    revoked = runner.invoke(cli, ["keys", "revoke", info.id, "--url", url])
    assert revoked.exit_code == 0 and f"revoked {info.id}" in revoked.stdout
    again = runner.invoke(cli, ["keys", "list", "--url", url, "--tenant", "acme", "--all"])
    assert "revoked" in again.stdout


def test_refusals_are_one_line_errors(url: str, home: Path) -> None:
    cli, runner = build_app(), CliRunner()
    with Client(url, ADMIN) as admin:
        chat_only = admin.keys.create("acme", ["chat"]).key
    denied = runner.invoke(cli, ["keys", "list", "--url", url, "--key", chat_only])
    assert denied.exit_code == 1 and "missing_scope" not in denied.stderr and "lacks" in denied.stderr
    assert "Traceback" not in denied.output
    unknown = runner.invoke(cli, ["keys", "revoke", "0000000000000000", "--url", url])
    assert unknown.exit_code == 1 and unknown.stderr.startswith("error: ")
    bad_ttl = runner.invoke(cli, ["keys", "create", "--url", url, "--ttl", "soon"])
    assert bad_ttl.exit_code == 2


def test_durations() -> None:
    assert [parse_duration(t) for t in ("90", "90s", "15m", "12h", "30d")] == [90, 90, 900, 43_200, 2_592_000]


def test_meshline_up_revokes_the_dev_keys_of_earlier_runs(url: str) -> None:
    first = register_agents_and_mint_key(url, ADMIN, [])
    second = register_agents_and_mint_key(url, ADMIN, [])
    with Client(url, ADMIN) as admin:
        active = [k for k in admin.keys.list("dev") if k.name == "dev"]
    assert len(active) == 1 and active[0].user == "dev"
    assert status_of(url, first) == 401 and status_of(url, second) == 404


def status_of(url: str, key: str) -> int:
    return httpx.get(f"{url}/v1/threads/none", headers={"authorization": f"Bearer {key}"}, timeout=10).status_code
