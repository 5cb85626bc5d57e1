"""Files under .meshline/: 0600/0700 from creation, whatever the process umask, and secrets reused."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshline.cli.local_mesh import LocalSecrets, ensure_admin_key, ensure_keys, write_state
from meshline.cli.private_files import private_dir, private_secret, write_private


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    # Modes must come from the code, not from a careful caller's umask.
    previous = os.umask(0)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("permissive_umask")
def test_the_startup_files_are_private_from_creation(tmp_path: Path) -> None:
    home = tmp_path / "a" / ".meshline"
    ensure_keys(home)
    admin = ensure_admin_key(home)
    secrets = LocalSecrets.ensure(home)
    write_state(home, {"admin_key": admin})
    assert mode(tmp_path / "a") == 0o700 and mode(home) == 0o700 and mode(home / "keys") == 0o700
    files = [p for p in home.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {
        "service_token.pem",
        "service_token.pub.pem",
        "admin_key",
        "redis_password",
        "metrics_token",
        "local_model_key",
        "mesh.json",
    }
    assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
    # The next start reuses every secret.
    assert ensure_admin_key(home) == admin
    assert LocalSecrets.ensure(home) == secrets
    assert len({secrets.redis_password, secrets.metrics_token, secrets.local_model_key, admin}) == 4


def test_a_home_from_an_older_version_is_narrowed(tmp_path: Path) -> None:
    home = tmp_path / ".meshline"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    private_dir(home)
    assert mode(home) == 0o700


@pytest.mark.usefixtures("permissive_umask")
def test_replacing_a_file_keeps_it_private_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "mesh.json"
    write_private(target, "one")
    write_private(target, "two")
    assert target.read_text() == "two" and mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["mesh.json"]


def test_a_secret_made_elsewhere_first_wins(tmp_path: Path) -> None:
    path = tmp_path / "redis_password"
    assert private_secret(path, lambda: "first") == "first"
    assert private_secret(path, lambda: "second") == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["redis_password"]
