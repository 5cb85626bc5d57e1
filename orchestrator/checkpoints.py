"""Thread checkpoints: LangGraph's SQLite saver by default, its Postgres saver when a URL is set.

Both revive only the turn state's own models (``CHECKPOINT_TYPES``) besides plain JSON and
LangGraph's types: a checkpoint row naming any other class comes back as its fields, never as
an object built from a name someone wrote into the database (LangGraph's strict mode, chosen
here rather than its permissive default, which warns and builds any class).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from meshline.orchestrator.settings import OrchestratorSettings
from meshline.orchestrator.turn_state import CHECKPOINT_TYPES


def checkpoint_serde() -> JsonPlusSerializer:
    """The serializer of every checkpointer: JSON-like values and the state's models, nothing else."""
    return JsonPlusSerializer(allowed_msgpack_modules=CHECKPOINT_TYPES)


@asynccontextmanager
async def open_checkpointer(settings: OrchestratorSettings) -> AsyncIterator[BaseCheckpointSaver[str]]:
    if settings.database_url:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import AsyncConnectionPool

        pool = AsyncConnectionPool(
            settings.database_url,
            min_size=1,
            max_size=10,
            kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
            open=False,
            timeout=10,
        )
        await pool.open(wait=True, timeout=10)
        try:
            saver = AsyncPostgresSaver(conn=pool, serde=checkpoint_serde())  # type: ignore[arg-type]
            await saver.setup()
            yield saver
        finally:
            await pool.close()
    else:
        import aiosqlite
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        path = settings.checkpoint_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        async with aiosqlite.connect(str(path)) as conn:
            sqlite_saver = AsyncSqliteSaver(conn, serde=checkpoint_serde())
            await sqlite_saver.setup()
            yield sqlite_saver
