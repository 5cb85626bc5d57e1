"""Where API keys are stored: the orchestrator's own database, as an async SQLAlchemy engine.

Postgres when ``MESHLINE_ORCHESTRATOR_DATABASE_URL`` is set: the database the LangGraph
checkpoints use, in a table of its own. Otherwise SQLite in ``keys.sqlite`` next to the
checkpoint file, not inside it: LangGraph's saver holds its own aiosqlite connection on that
file and commits on every turn, and a second writer on one SQLite file would queue behind (or
fail with "database is locked" against) the checkpoints. Same directory, same backup.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Connection, Float, Integer, MetaData, String, Table, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from meshline.orchestrator.settings import OrchestratorSettings

SQLITE_BUSY_TIMEOUT_MS = 5000  # another replica's write on the same file

metadata = MetaData()
api_keys = Table(
    "meshline_api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("digest", String(64), nullable=False, unique=True),  # sha256 of the secret; the secret is never stored
    Column("tenant", String(128), nullable=False, index=True),
    Column("user", String(128)),
    Column("scopes", String(256), nullable=False),  # space-separated, sorted
    Column("name", String(200), nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float),
    Column("revoked_at", Float),
    Column("created_by", String(32)),
    # Added with per-key limits; older databases get them through add_missing_columns.
    Column("rate_limit_rps", Float),
    Column("max_concurrent_turns", Integer),
)
# Columns added after the table first shipped: nullable, so adding them to an old table is safe.
ADDED_COLUMNS = ("rate_limit_rps", "max_concurrent_turns")


def keys_database_url(settings: OrchestratorSettings) -> str:
    """The SQLAlchemy URL of the key store (psycopg 3 for Postgres, aiosqlite for the file)."""
    if settings.database_url:
        url = make_url(settings.database_url)
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        return url.render_as_string(hide_password=False)
    return f"sqlite+aiosqlite:///{keys_file(settings)}"


def keys_file(settings: OrchestratorSettings) -> Path:
    return settings.checkpoint_file().with_name("keys.sqlite")


def _create_private(path: Path) -> None:
    """The file exists with mode 0600 before SQLite opens it (its -wal/-shm files copy that mode)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # WAL: readers (every key lookup) never wait for a writer; busy_timeout waits for another replica's write.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def open_engine(url: str, *, connect_timeout_s: int = 3) -> AsyncEngine:
    """The key store's engine; ``connect_timeout_s`` (Postgres) bounds connecting and waiting for the pool."""
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database:
            _create_private(Path(database))
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        return engine
    return create_async_engine(
        url,
        pool_pre_ping=True,  # a connection the database dropped is replaced, not handed to a request
        pool_size=5,
        pool_timeout=connect_timeout_s,
        connect_args={"connect_timeout": connect_timeout_s},
    )


def add_missing_columns(conn: Connection) -> None:
    """Bring a table made by an older release up to date (``create_all`` never alters a table)."""
    present = {column["name"] for column in inspect(conn).get_columns(api_keys.name)}
    for name in ADDED_COLUMNS:
        if name not in present:
            column = api_keys.c[name]
            kind = column.type.compile(dialect=conn.dialect)
            conn.exec_driver_sql(f"ALTER TABLE {api_keys.name} ADD COLUMN {name} {kind}")


def _migrate(conn: Connection) -> None:
    metadata.create_all(conn)
    add_missing_columns(conn)


async def create_schema(engine: AsyncEngine) -> None:
    """Create the table if missing, add columns an older table lacks; replicas starting together may race
    (one creates or alters while another inspects), so a lost race is retried once."""
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_migrate)
    except DBAPIError:
        async with engine.begin() as conn:
            await conn.run_sync(_migrate)
