"""One tool call, the shared core of the native contract and MCP: validate, run, record.

The tool runs in one DB session that commits after it returns, together with the
idempotency record of a side-effecting call, so the side effect and its stored result are one
transaction; a repeated key answers the stored result without running the tool again. One
customer's writes take turns (:meth:`Database.writing`), so calls with the same key at the same
time do too: the first runs the tool, the others wait for it and answer its stored result.

Who the call is for is a :class:`TenantScope` built from the verified service token by the caller
of :func:`run_tool` (tenant claim, ``sub`` = the customer), never from the arguments; the tool's
session is scoped to it, and so are its idempotency records and its write lock.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from meshline.errors import BadRequest, Conflict, Unprocessable
from meshline.json_types import JsonObject
from meshline.tools.kit.database import Database
from meshline.tools.kit.idempotency import MAX_KEY_LENGTH, IdempotencyRecord, arguments_hash, stored
from meshline.tools.kit.tenancy import TenantScope
from meshline.tools.kit.tool import ToolContext, ToolDef

TenantSetup = Callable[[Database, str], Awaitable[object]]


@dataclass
class ToolRuntime:
    """What a call needs besides the tool: the service's database and its optional per-tenant setup.

    ``tenant_setup`` (for example demo data for any tenant) runs before the first call of each
    tenant in this process, one tenant at a time; it must be idempotent across processes, since
    every replica runs it once for each tenant it serves.
    """

    database: Database
    tenant_setup: TenantSetup | None = None
    _ready: set[str] = field(default_factory=set, init=False, repr=False)
    _setting_up: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    async def prepare(self, tenant: str) -> None:
        if self.tenant_setup is None or tenant in self._ready:
            return
        async with self._setting_up:
            if tenant not in self._ready:
                await self.tenant_setup(self.database, tenant)
                self._ready.add(tenant)


def _arguments(tool: ToolDef, raw: Any) -> Any:
    try:
        return tool.input_model.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
        raise Unprocessable(f"invalid arguments for {tool.name}: {detail}"[:2000], code="invalid_arguments") from exc


async def run_tool(
    runtime: ToolRuntime, tool: ToolDef, raw_arguments: Any, *, scope: TenantScope, key: str | None
) -> JsonObject:
    """Validate, run and (for side effects) record one call for ``scope``; the shared core of HTTP and MCP."""
    database, tenant, customer = runtime.database, scope.tenant, scope.customer
    args = _arguments(tool, raw_arguments)
    if tool.side_effects and not key:
        raise BadRequest(f"{tool.name} changes data: send an Idempotency-Key header", code="idempotency_key_required")
    if key is not None and len(key) > MAX_KEY_LENGTH:
        raise BadRequest(f"Idempotency-Key is longer than {MAX_KEY_LENGTH} characters", code="invalid_idempotency_key")
    await runtime.prepare(tenant)
    if not tool.side_effects:
        async with database.session(scope) as session:
            result = await tool.function(args, ToolContext(tenant=tenant, customer=customer, session=session))
            await session.commit()
        return result.model_dump(mode="json")
    assert key is not None
    digest = arguments_hash(args.model_dump(mode="json"))
    async with database.session(scope) as session:  # a replay needs no writer's turn
        previous = await stored(session, tenant, customer, tool.name, key)
    if previous is not None:
        return _replay(previous, digest)
    # Locked per customer of the tenant: tools change only the caller's own data.
    async with database.writing(scope) as session:
        # A call with the same key may have committed while this one waited for its turn.
        previous = await stored(session, tenant, customer, tool.name, key)
        if previous is not None:
            return _replay(previous, digest)
        result = await tool.function(args, ToolContext(tenant=tenant, customer=customer, session=session))
        body: JsonObject = result.model_dump(mode="json")
        session.add(
            IdempotencyRecord(
                tenant=tenant,
                customer=customer,
                tool=tool.name,
                key=key,
                arguments_hash=digest,
                result=json.dumps(body),
            )
        )
        try:
            await session.commit()
        except IntegrityError:
            # Last line of defence (taking turns makes it unreachable): the other call's record stands.
            await session.rollback()
            previous = await stored(session, tenant, customer, tool.name, key)
            if previous is None:
                raise
            return _replay(previous, digest)
    return body


def _replay(record: IdempotencyRecord, digest: str) -> JsonObject:
    if record.arguments_hash != digest:
        raise Conflict("this Idempotency-Key was already used with other arguments", code="idempotency_key_reused")
    body: JsonObject = json.loads(record.result)
    return body
