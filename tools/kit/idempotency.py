"""Durable idempotency for side-effecting tools: (tenant, customer, tool, key) -> first result.

The record is written in the same transaction as the tool's own changes, so either both
exist or neither does: a retry after a crash re-runs a tool that never committed, and a
retry after a commit gets the stored result without running the tool again.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from sqlalchemy import DateTime, MetaData, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from meshline.json_types import JsonObject

MAX_KEY_LENGTH = 200


class KitBase(DeclarativeBase):
    metadata = MetaData()


class IdempotencyRecord(KitBase):
    __tablename__ = "meshline_idempotency"

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    customer: Mapped[str] = mapped_column(String(128), primary_key=True)
    tool: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    arguments_hash: Mapped[str] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(UTC))


def arguments_hash(arguments: JsonObject) -> str:
    return hashlib.sha256(json.dumps(arguments, sort_keys=True, default=str).encode()).hexdigest()


async def stored(session: AsyncSession, tenant: str, customer: str, tool: str, key: str) -> IdempotencyRecord | None:
    found = await session.execute(
        select(IdempotencyRecord).where(
            IdempotencyRecord.tenant == tenant,
            IdempotencyRecord.customer == customer,
            IdempotencyRecord.tool == tool,
            IdempotencyRecord.key == key,
        )
    )
    return found.scalar_one_or_none()
