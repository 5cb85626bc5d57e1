"""Bundled tool services as real processes, on SQLite or a fresh Postgres database (test helpers)."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psycopg

from meshline.cli.local_mesh import ProcessSpec
from meshline.cli.ports import free_port
from meshline.cli.supervisor import Supervisor

DATABASE_URL = os.environ.get("DATABASE_URL")
SERVICES = {
    "crm": ("meshline.tools.crm", "MESHLINE_CRM_"),
    "commerce": ("meshline.tools.commerce", "MESHLINE_COMMERCE_"),
}


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database on the ``DATABASE_URL`` server, dropped afterwards; yields its SQLAlchemy URL."""
    assert DATABASE_URL is not None
    name = f"meshline_kit_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(DATABASE_URL, autocommit=True, connect_timeout=10) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = DATABASE_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(DATABASE_URL, autocommit=True, connect_timeout=10) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def tool_process(
    service: str,
    tmp_path: Path,
    public_key: str,
    database_url: str | None,
    settings: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """A bundled tool service as its own process (``settings``: its own MESHLINE_<SERVICE>_* without
    the prefix); its log must show no failure."""
    module, prefix = SERVICES[service]
    port = free_port()
    env = {"MESHLINE_HOME": str(tmp_path / "home"), "MESHLINE_TOKEN_PUBLIC_KEY": public_key}
    env |= {f"{prefix}PORT": str(port), f"{prefix}DEMO_CUSTOMERS": "5"}
    # Writers of one process must never need SQLite's busy wait (it starved some into "database is
    # locked" under load): with almost none left, any writer that still relied on it fails here.
    env[f"{prefix}SQLITE_BUSY_TIMEOUT_MS"] = "1"
    if database_url is not None:
        env[f"{prefix}DATABASE_URL"] = database_url
    env |= {f"{prefix}{name}": value for name, value in (settings or {}).items()}
    spec = ProcessSpec(name=service, argv=[sys.executable, "-m", module], port=port, env=env)
    supervisor = Supervisor(tmp_path / "logs")
    supervisor.start(spec)
    try:
        supervisor.wait_ready(spec, timeout_s=120)
        yield spec.url
    finally:
        supervisor.stop_all()
        log = supervisor.log_tail(service, lines=400)
        assert "database is locked" not in log and "Traceback" not in log, log[-3000:]


@contextmanager
def serving(
    service: str, backend: str, tmp_path: Path, public_key: str, settings: Mapping[str, str] | None = None
) -> Iterator[str]:
    """The service on ``backend``: its SQLite file, or a fresh Postgres database dropped afterwards."""
    with ExitStack() as stack:
        database_url = stack.enter_context(postgres_database()) if backend == "postgres" else None
        yield stack.enter_context(tool_process(service, tmp_path, public_key, database_url, settings))
