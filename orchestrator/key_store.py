"""The API key store: records in the orchestrator's database, a per-process cache in front.

A lookup is answered from :class:`ConfirmedKeys` while the database's confirmation is a few
seconds old, else from the database. Revoking a key drops it from this process at once and
publishes its id on Redis, so every other replica drops it within milliseconds; a replica that
misses the message (Redis down, reconnecting) still asks the database again within
``fresh_s``. Redis holds nothing here: a Redis flushed or lost changes no key.

While the database is unreachable, a key it confirmed within ``outage_s`` keeps working and
any other key gets 503 ``state_unavailable`` (never a 401 that would look final, never a 500).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from sqlalchemy import RowMapping, insert, select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from meshline.contracts import ADMIN
from meshline.errors import ServiceUnavailable
from meshline.json_types import JsonObject
from meshline.orchestrator.key_cache import ConfirmedKeys
from meshline.orchestrator.key_db import api_keys, create_schema, keys_database_url, open_engine
from meshline.orchestrator.keys import ApiKeyRecord, could_be_minted, digest, new_key_id, new_secret
from meshline.orchestrator.settings import OrchestratorSettings
from meshline.resilience import REDIS_DOWN

log = logging.getLogger(__name__)
REVOKED_CHANNEL = "meshline:apikeys:revoked"
# What an unreachable, restarting or overloaded database raises through SQLAlchemy and its drivers.
DB_DOWN = (OperationalError, InterfaceError, PoolTimeout, OSError, TimeoutError)


def _record(row: RowMapping) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row["id"],
        tenant=row["tenant"],
        user=row["user"],
        scopes=row["scopes"].split(),
        name=row["name"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        created_by=row["created_by"],
        rate_limit_rps=row["rate_limit_rps"],
        max_concurrent_turns=row["max_concurrent_turns"],
    )


class ApiKeyStore:
    def __init__(
        self, engine: AsyncEngine, redis: Redis, cache: ConfirmedKeys | None = None, db_timeout_s: float = 3.0
    ) -> None:
        self.engine = engine
        self.redis = redis
        self.cache = cache or ConfirmedKeys()
        self.db_timeout_s = db_timeout_s
        self.db_degraded = False
        self._redis_degraded = False
        self._stop = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Listen for revocations made on other replicas (until :meth:`aclose`)."""
        self._listener = asyncio.create_task(self.run_invalidations(self._stop), name="api-key-invalidations")

    async def aclose(self) -> None:
        self._stop.set()
        if self._listener is not None:
            # Stopped by the event, not a cancel (a cancel inside redis-py can be swallowed).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._listener), timeout=5)
            self._listener.cancel()
        await self.engine.dispose()

    @asynccontextmanager
    async def _db(self, *, write: bool = False) -> AsyncIterator[AsyncConnection]:
        """One connection (a transaction when ``write``), the whole call bounded by ``db_timeout_s``.

        Raises ServiceUnavailable (503, retryable) when the database cannot be reached in time.
        """
        try:
            async with asyncio.timeout(self.db_timeout_s):
                opened = self.engine.begin() if write else self.engine.connect()
                async with opened as conn:
                    yield conn
        except DB_DOWN as exc:
            self._database_down(exc)
            raise ServiceUnavailable("the API key store cannot be reached right now", code="state_unavailable") from exc
        if self.db_degraded:
            log.info("the API key database answers again")
            self.db_degraded = False

    def _database_down(self, exc: BaseException) -> None:
        if not self.db_degraded:
            # One line, no traceback: an outage is an operating condition, not a bug.
            log.warning("API key database unreachable (%s: %s)", type(exc).__name__, exc)
            self.db_degraded = True

    async def create(
        self,
        *,
        tenant: str,
        scopes: list[str],
        user: str | None = None,
        name: str = "",
        expires_at: float | None = None,
        created_by: str | None = None,
        rate_limit_rps: float | None = None,
        max_concurrent_turns: int | None = None,
    ) -> tuple[str, ApiKeyRecord]:
        """Mint a key; the secret is returned once and only its hash is stored."""
        key = new_secret()
        record = ApiKeyRecord(
            id=new_key_id(),
            tenant=tenant,
            user=user,
            scopes=sorted(set(scopes)),
            name=name,
            expires_at=expires_at,
            created_by=created_by,
            rate_limit_rps=rate_limit_rps,
            max_concurrent_turns=max_concurrent_turns,
        )
        row = record.model_dump(exclude={"scopes"}) | {"digest": digest(key), "scopes": " ".join(record.scopes)}
        async with self._db(write=True) as conn:
            await conn.execute(insert(api_keys).values(**row))
        return key, record

    async def lookup(self, key: str) -> ApiKeyRecord | None:
        """The record of an active key; None for unknown, revoked and expired ones."""
        if not could_be_minted(key):
            return None
        hashed = digest(key)
        cached = self.cache.fresh(hashed)
        if cached is not None:
            return cached
        try:
            async with self._db() as conn:
                row = (await conn.execute(select(api_keys).where(api_keys.c.digest == hashed))).mappings().first()
        except ServiceUnavailable:
            known = self.cache.last_known(hashed)
            if known is not None:
                return known
            raise
        record = None if row is None else _record(row)
        if record is None or record.state(time.time()) != "active":
            return None  # misses are never cached: the next lookup asks the database again
        self.cache.put(hashed, record)
        return record

    async def get(self, key_id: str) -> ApiKeyRecord | None:
        async with self._db() as conn:
            row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).mappings().first()
        return None if row is None else _record(row)

    async def list(
        self, tenant: str | None = None, *, include_inactive: bool = False, include_admin: bool = True
    ) -> list[ApiKeyRecord]:
        """Keys of ``tenant`` (every tenant when None), newest first."""
        query = select(api_keys).order_by(api_keys.c.created_at.desc())
        if tenant is not None:
            query = query.where(api_keys.c.tenant == tenant)
        async with self._db() as conn:
            rows = (await conn.execute(query)).mappings().all()
        now = time.time()
        records = [_record(row) for row in rows]
        return [
            r
            for r in records
            if (include_inactive or r.state(now) == "active") and (include_admin or ADMIN not in r.scopes)
        ]

    async def revoke(self, key_id: str) -> None:
        """Revoke at once here, on the other replicas through Redis (or their fresh window at the latest)."""
        async with self._db(write=True) as conn:
            await conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=time.time())
            )
        self.cache.forget(key_id)
        try:
            await self.redis.publish(REVOKED_CHANNEL, key_id)
        except REDIS_DOWN as exc:
            fresh_s = self.cache.fresh_s
            log.warning("revoked key %s; other replicas notice within %.0fs (redis: %s)", key_id, fresh_s, exc)

    async def ping(self) -> None:
        async with self._db() as conn:
            await conn.execute(select(1))

    async def run_invalidations(self, stop: asyncio.Event) -> None:
        """Drop keys revoked on other replicas as their ids arrive, until ``stop`` is set."""
        while not stop.is_set():
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(REVOKED_CHANNEL)
                self.cache.expire_all()  # anything revoked while we were not listening is asked again
                if self._redis_degraded:
                    log.info("listening for key revocations again")
                    self._redis_degraded = False
                while not stop.is_set():
                    message: JsonObject | None = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None:
                        data = message["data"]
                        self.cache.forget(data.decode() if isinstance(data, bytes) else str(data))
            except REDIS_DOWN as exc:
                if not self._redis_degraded:
                    fresh_s = self.cache.fresh_s
                    log.warning("cannot listen for key revocations (%s); rechecking every %.0fs", exc, fresh_s)
                    self._redis_degraded = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
            finally:
                with contextlib.suppress(*REDIS_DOWN):
                    await pubsub.reset()  # = aclose(), which is not annotated


async def open_api_keys(settings: OrchestratorSettings, redis: Redis) -> ApiKeyStore:
    """The store on the orchestrator's database (table created if missing), listening for revocations."""
    engine = open_engine(keys_database_url(settings), connect_timeout_s=settings.keys_db_connect_timeout_s)
    try:
        async with asyncio.timeout(30):
            await create_schema(engine)
    except BaseException:
        await engine.dispose()
        raise
    store = ApiKeyStore(engine, redis, db_timeout_s=settings.keys_db_timeout_s)
    store.start()
    return store
