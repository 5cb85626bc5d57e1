"""``create_tool_app``: a FastAPI tool service from a list of tools.

``GET /v1/manifest`` describes every tool (JSON Schemas, ``side_effects``); ``POST
/v1/tools/{name}`` validates the arguments, runs the tool for the customer named by the
service token and returns its result. Side-effecting tools require ``Idempotency-Key``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Header, Request
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from meshline.contracts.manifest import Manifest
from meshline.errors import BadRequest, Conflict, NotFound, Unprocessable
from meshline.service import Identity, require_identity
from meshline.service.app import add_readiness_check, create_service_app
from meshline.tools.kit.database import Database
from meshline.tools.kit.idempotency import (
    MAX_KEY_LENGTH,
    IdempotencyRecord,
    KitBase,
    arguments_hash,
    stored,
)
from meshline.tools.kit.settings import ToolServiceSettings
from meshline.tools.kit.tool import ToolContext, ToolDef

Startup = Callable[[Database], Awaitable[None]]
Caller = Annotated[Identity, Depends(require_identity("chat"))]


def _arguments(tool: ToolDef, raw: Any) -> Any:
    try:
        return tool.input_model.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
        raise Unprocessable(f"invalid arguments for {tool.name}: {detail}"[:2000], code="invalid_arguments") from exc


async def run_tool(
    database: Database, tool: ToolDef, raw_arguments: Any, *, tenant: str, customer: str, key: str | None
) -> dict[str, Any]:
    """Validate, run and (for side effects) record one call; the shared core of HTTP and MCP."""
    args = _arguments(tool, raw_arguments)
    if tool.side_effects and not key:
        raise BadRequest(f"{tool.name} changes data: send an Idempotency-Key header", code="idempotency_key_required")
    if key is not None and len(key) > MAX_KEY_LENGTH:
        raise BadRequest(f"Idempotency-Key is longer than {MAX_KEY_LENGTH} characters", code="invalid_idempotency_key")
    digest = arguments_hash(args.model_dump(mode="json"))
    if tool.side_effects and key:
        async with database.session() as session:
            previous = await stored(session, tenant, customer, tool.name, key)
        if previous is not None:
            return _replay(previous, digest)
    async with database.session() as session:
        result = await tool.function(args, ToolContext(tenant=tenant, customer=customer, session=session))
        body: dict[str, Any] = result.model_dump(mode="json")
        if tool.side_effects and key:
            session.add(
                IdempotencyRecord(
                    tenant=tenant, customer=customer, tool=tool.name, key=key,
                    arguments_hash=digest, result=json.dumps(body),
                )
            )  # fmt: skip
        try:
            await session.commit()
        except IntegrityError:
            # A concurrent call with the same key committed first: ours is rolled back, theirs stands.
            await session.rollback()
            assert key is not None
            previous = await stored(session, tenant, customer, tool.name, key)
            if previous is None:
                raise
            return _replay(previous, digest)
    return body


def _replay(record: IdempotencyRecord, digest: str) -> dict[str, Any]:
    if record.arguments_hash != digest:
        raise Conflict("this Idempotency-Key was already used with other arguments", code="idempotency_key_reused")
    body: dict[str, Any] = json.loads(record.result)
    return body


def build_manifest(name: str, description: str, version: str, tools: Sequence[ToolDef]) -> Manifest:
    return Manifest(name=name, kind="tool", version=version, description=description, tools=[t.spec() for t in tools])


def tool_router(tools: Sequence[ToolDef]) -> APIRouter:
    by_name = {t.name: t for t in tools}
    router = APIRouter(prefix="/v1", tags=["tools"])

    @router.get("/manifest", response_model=Manifest)
    async def manifest(request: Request) -> Manifest:
        """What this service offers (no auth: the registry reads it)."""
        result: Manifest = request.app.state.manifest
        return result

    @router.post("/tools/{name}")
    async def call_tool(
        name: str,
        request: Request,
        caller: Caller,
        arguments: Annotated[Any, Body()] = None,
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        """Run one tool for the token's customer; JSON arguments in, JSON result out."""
        tool = by_name.get(name)
        if tool is None:
            raise NotFound(f"no tool named {name!r} here", code="unknown_tool")
        return await run_tool(
            request.app.state.database, tool, arguments, tenant=caller.tenant, customer=caller.user, key=idempotency_key
        )

    return router


def create_tool_app(
    *,
    settings: ToolServiceSettings,
    tools: Sequence[ToolDef],
    description: str,
    version: str = "0.1.0",
    metadata: Sequence[Any] = (),
    on_startup: Startup | None = None,
    database: Database | None = None,
) -> FastAPI:
    """A tool service: ``metadata`` (SQLAlchemy MetaData) is created at startup, then ``on_startup`` runs."""
    names = [t.name for t in tools]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate tool names in {names}")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = database or Database(settings.resolved_database_url())
        await db.create_all(KitBase.metadata, *metadata)
        if on_startup is not None:
            await on_startup(db)
        app.state.database = db
        add_readiness_check(app, "database", db.ping)
        try:
            yield
        finally:
            if database is None:
                await db.dispose()

    app = create_service_app(
        settings=settings,
        routers=[tool_router(tools)],
        lifespan=lifespan,
        version=version,
        title=f"meshline tools {settings.name}",
    )
    app.state.manifest = build_manifest(settings.name, description, version, tools)
    app.state.tools = {t.name: t for t in tools}
    return app
