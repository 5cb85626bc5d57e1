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
total) holds on both backends without locking rows itself. The lock is the customer of one tenant
(:func:`customer_lock_key`, encoded parts): customer ids repeat across tenants, and two tenants'
customers share nothing.

Sessions are :class:`~meshline.tools.kit.tenancy.ScopedSession`: one opened with a
:class:`TenantScope` sees and writes only that tenant's (and customer's) rows (see
:mod:`meshline.tools.kit.tenancy`). ``create_all`` also refuses, or recreates, tables whose stored
shape is older than the models (:class:`OutdatedSchema`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Connection, MetaData, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from meshline.errors import ServiceUnavailable
from meshline.scoped_keys import join_key
from meshline.tools.kit.schema_check import OutdatedSchema, OutdatedSchemaPolicy, outdated_tables
from meshline.tools.kit.tenancy import SCOPE_KEY, ScopedSession, TenantScope

_BEGIN_OPTION = "meshline_sqlite_begin"
log = logging.getLogger(__name__)


def customer_lock_key(scope: TenantScope) -> str:
    """The advisory-lock key of one customer of one tenant (ids repeat across tenants)."""
    return join_key("customer", scope.tenant, scope.customer)


def _info(scope: TenantScope | None) -> dict[str, TenantScope]:
    return {SCOPE_KEY: scope} if scope is not None else {}


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
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False, sync_session_class=ScopedSession)
        self._write_sessions = async_sessionmaker(writer, expire_on_commit=False, sync_session_class=ScopedSession)
        self._writer_lock = asyncio.Lock()

    async def create_all(self, *metadata: MetaData, outdated: OutdatedSchemaPolicy = "error") -> None:
        """Create missing tables. Existing ones older than the models (a missing column, another
        primary key) raise :class:`OutdatedSchema`, or with ``outdated="recreate"`` are dropped and
        made anew with every other table of ``metadata`` (for data that is re-seeded, never real data)."""
        async with self.engine.begin() as conn:
            stale = await conn.run_sync(outdated_tables, metadata)
            if stale and outdated == "error":
                raise OutdatedSchema(stale)
            if stale:
                log.warning("recreating the tool database: outdated tables %s", "; ".join(stale))
                for meta in reversed(metadata):  # dependents (the service's tables) before the kit's
                    await conn.run_sync(meta.drop_all)
            for meta in metadata:
                await conn.run_sync(meta.create_all)

    def session(self, scope: TenantScope | None = None) -> AsyncSession:
        """A session for reads. With ``scope`` it sees only that tenant's and customer's rows; without,
        every row (startup and maintenance work only, never a tool call)."""
        return self.sessions(info=_info(scope))

    @asynccontextmanager
    async def writing(
        self, scope: TenantScope | None = None, *, lock_key: str | None = None
    ) -> AsyncIterator[AsyncSession]:
        """A session for one write transaction (scoped like :meth:`session`); the caller commits it.

        SQLite: one writer of this process at a time, in arrival order, holding the file's write
        lock from the start. Postgres: ``lock_key`` (default: the scope's customer of its tenant)
        is locked until the transaction ends, so writers with the same key run one after the other.
        """
        if lock_key is None and scope is not None:
            lock_key = customer_lock_key(scope)
        try:
            if self.is_sqlite:
                async with self._writer_lock, self._write_sessions(info=_info(scope)) as session:
                    await session.connection()  # BEGIN IMMEDIATE now, inside the lock
                    yield session
                return
            async with self._write_sessions(info=_info(scope)) as session:
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
