"""Is a tool database older than its models? ``create_all`` only adds missing tables, never columns.

A database made by an earlier version (for the bundled services: before tool data carried the
tenant) would otherwise start and then fail, or worse, answer every tenant from one tenant-less
store. The check compares each existing table with its model: every model column must exist, and
the primary key must be the model's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from sqlalchemy import Connection, MetaData, inspect

from meshline.errors import InvalidConfig

OutdatedSchemaPolicy = Literal["error", "recreate"]


class OutdatedSchema(InvalidConfig, RuntimeError):
    """Startup error: tables whose shape is older than the service's models."""

    def __init__(self, stale: Sequence[str]) -> None:
        super().__init__(
            "the tool database was made by an older version: "
            + "; ".join(stale)
            + ". Migrate it, or point the service at a new database (database_url)."
        )
        self.stale = list(stale)


def outdated_tables(conn: Connection, metadata: Sequence[MetaData]) -> list[str]:
    """One line per existing table that differs from its model (what is missing, or its old key)."""
    inspector = inspect(conn)
    stale: list[str] = []
    for meta in metadata:
        for table in meta.sorted_tables:
            if not inspector.has_table(table.name):
                continue
            present = {c["name"] for c in inspector.get_columns(table.name)}
            missing = sorted(c.name for c in table.columns if c.name not in present)
            key = set(inspector.get_pk_constraint(table.name)["constrained_columns"])
            wanted = {c.name for c in table.primary_key.columns}
            if missing:
                stale.append(f"{table.name} lacks {', '.join(missing)}")
            elif key != wanted:
                stale.append(
                    f"{table.name} has primary key ({', '.join(sorted(key))}), not ({', '.join(sorted(wanted))})"
                )
    return stale
