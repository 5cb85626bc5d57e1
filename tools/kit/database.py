"""A tool service's own database: one async SQLAlchemy engine (SQLite file or Postgres by URL).

Reads use :meth:`Database.session`; every write transaction goes through :meth:`Database.writing`.

SQLite allows one writer at a time, and its own way of queueing writers (``busy_timeout``: each
blocked connection sleeps and retries on its own thread, with no order among them) starves some
under load: at 16 concurrent writes a few waited the whole 5 s and failed with "database is
locked". So on SQLite the writers of this process queue on one ``asyncio.Lock`` (first come,
first served, no thread busy-waiting), and each write transaction starts with ``BEGIN
IMMEDIATE``, which takes the file's write lock before the first read (another process holding it
is waited for through ``busy_timeout``; a deferred transaction that read first would fail at once
instead). On Postgres a write transaction first takes an advisory lock on its ``lock_key`` (the
customer: tools act on the caller's own data only), so one customer's writes run one at a time,
each seeing the last one's commit (READ COMMITTED reads a fresh snapshot per statement), while
other customers' writes run in parallel; a check-then-act tool (refunds never above the order
total) holds on both backends without locking rows itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Connection, MetaData, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from meshline.errors import ServiceUnavailable

_BEGIN_OPTION = "meshline_sqlite_begin"


def _sqlite_on_connect(busy_timeout_ms: int) -> Callable[[Any, Any], None]:
    def connect(dbapi_connection: Any, _record: Any) -> None:
        # WAL lets readers run while one writer commits; busy_timeout waits for another process's write lock.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        # The driver's own transaction handling begins lazily before the first write (too late to wait
        # for the lock); with it off, _sqlite_begin emits BEGIN itself (SQLAlchemy's documented recipe).
        dbapi_connection.isolation_level = None

    return connect


def _sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql(connection.get_execution_options().get(_BEGIN_OPTION, "BEGIN"))


class Database:
    """Engine and session factories; ``create_all`` makes the tables of the given metadata."""

    def __init__(self, url: str, *, sqlite_busy_timeout_ms: int = 5000) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine: AsyncEngine = create_async_engine(url, pool_pre_ping=not self.is_sqlite)
        writer = self.engine
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_on_connect(sqlite_busy_timeout_ms))
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
            writer = self.engine.execution_options(**{_BEGIN_OPTION: "BEGIN IMMEDIATE"})
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = async_sessionmaker(writer, expire_on_commit=False)
        self._writer_lock = asyncio.Lock()

    async def create_all(self, *metadata: MetaData) -> None:
        async with self.engine.begin() as conn:
            for meta in metadata:
                await conn.run_sync(meta.create_all)

    def session(self) -> AsyncSession:
        """A session for reads (or for writes at startup, before any request is served)."""
        return self.sessions()

    @asynccontextmanager
    async def writing(self, lock_key: str | None = None) -> AsyncIterator[AsyncSession]:
        """A session for one write transaction; the caller commits it.

        SQLite: one writer of this process at a time, in arrival order, holding the file's write
        lock from the start. Postgres: ``lock_key`` is locked until the transaction ends, so
        writers with the same key run one after the other.
        """
        try:
            if self.is_sqlite:
                async with self._writer_lock, self._write_sessions() as session:
                    await session.connection()  # BEGIN IMMEDIATE now, inside the lock
                    yield session
                return
            async with self._write_sessions() as session:
                if lock_key is not None:
                    await session.execute(
                        text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": lock_key}
                    )
                yield session
        except OperationalError as exc:
            if not self.is_sqlite or "locked" not in str(exc.orig):
                raise
            # Only another process can hold the file this long (ours queue above): a retryable 503, not a 500.
            raise ServiceUnavailable("the tool database is busy; retry shortly", code="database_busy") from exc

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
