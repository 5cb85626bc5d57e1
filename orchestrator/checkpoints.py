"""Thread checkpoints: LangGraph's SQLite saver by default, its Postgres saver when a URL is set."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from langgraph.checkpoint.base import BaseCheckpointSaver

from meshline.orchestrator.settings import OrchestratorSettings


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
            saver = AsyncPostgresSaver(conn=pool)  # type: ignore[arg-type]
            await saver.setup()
            yield saver
        finally:
            await pool.close()
    else:
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        path = settings.checkpoint_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        async with AsyncSqliteSaver.from_conn_string(str(path)) as sqlite_saver:
            await sqlite_saver.setup()
            yield sqlite_saver
