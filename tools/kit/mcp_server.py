"""The kit's tools over MCP (streamable HTTP at ``/mcp``), from the same process and database.

Same contract as ``POST /v1/tools/{name}``, spoken as MCP:
- Listing (``tools/list``) is open, like ``GET /v1/manifest``; side-effecting tools are
  annotated ``readOnlyHint: false`` and read tools ``readOnlyHint: true``.
- A call (``tools/call``) needs the service token (scope ``tools:call``) in ``Authorization:
  Bearer``; the tenant and customer are the token's, exactly as for the native contract. A bad
  token is refused at the HTTP level (401/403 problem+json); a call without one is a tool error.
- A side-effecting call needs an idempotency key: the ``Idempotency-Key`` header of the HTTP
  request that carries it, or ``_meta["dev.meshline/idempotency-key"]`` in the call's params
  (for clients that cannot set headers). A repeated key returns the stored first result.
- Tool errors (bad arguments, not found, missing key, ...) come back as ``isError`` results whose
  structured content is the problem object the native contract would have answered.

Stateless streamable HTTP with JSON responses: any replica can answer any request, and a
request carries its own token, so there is no session to pin or to steal.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import mcp_types as types
from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from meshline.errors import MeshlineError, NotFound, ServiceUnavailable, Unauthorized
from meshline.mcp_client import IDEMPOTENCY_META_KEY
from meshline.service import (
    TOOLS_CALL,
    Identity,
    RequestContext,
    bind_context,
    current_context,
    problem_for,
    problem_response,
    require_identity,
)
from meshline.tools.kit.calls import ToolRuntime, run_tool
from meshline.tools.kit.tenancy import TenantScope
from meshline.tools.kit.tool import ToolDef

MCP_PATH = "/mcp"
_IDENTITY = "meshline.identity"  # ASGI scope keys: the verified caller and its request context
_CONTEXT = "meshline.context"
_verify = require_identity(TOOLS_CALL)


def mcp_tool(tool: ToolDef) -> types.Tool:
    spec = tool.spec()
    return types.Tool(
        name=spec.name,
        description=spec.description,
        input_schema=spec.input_schema,
        output_schema=spec.output_schema,
        annotations=types.ToolAnnotations(read_only_hint=not tool.side_effects, idempotent_hint=tool.side_effects),
    )


def error_result(error: MeshlineError) -> types.CallToolResult:
    problem = problem_for(error).model_dump(exclude_none=True)
    text = [types.TextContent(text=error.detail)]
    return types.CallToolResult(content=text, structured_content=problem, is_error=True)


def _idempotency_key(request: Request | None, meta: Any) -> str | None:
    from_meta = meta.get(IDEMPOTENCY_META_KEY) if isinstance(meta, dict) else None
    if isinstance(from_meta, str) and from_meta:
        return from_meta
    return request.headers.get("idempotency-key") if request is not None else None


def build_mcp_server(
    name: str, version: str, description: str, tools: Sequence[ToolDef], runtime: Callable[[], ToolRuntime]
) -> Server[Any]:
    """A low-level MCP server over ``tools``; ``runtime`` returns the service's runtime once it started."""
    by_name = {t.name: t for t in tools}
    listed = types.ListToolsResult(tools=[mcp_tool(t) for t in tools])

    async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return listed

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        request: Request | None = ctx.request if isinstance(ctx.request, Request) else None
        scope = request.scope if request is not None else {}
        context = scope.get(_CONTEXT)
        if isinstance(context, RequestContext):  # handlers run in the session's task, not the request's
            bind_context(context)
        identity = scope.get(_IDENTITY)
        try:
            if not isinstance(identity, Identity):
                raise Unauthorized("send the service token as Authorization: Bearer", code="missing_token")
            tool = by_name.get(params.name)
            if tool is None:
                raise NotFound(f"no tool named {params.name!r} here", code="unknown_tool")
            body = await run_tool(
                runtime(),
                tool,
                params.arguments,
                scope=TenantScope(tenant=identity.tenant, customer=identity.user),
                key=_idempotency_key(request, ctx.meta),
            )
        except MeshlineError as exc:
            return error_result(exc)
        return types.CallToolResult(content=[types.TextContent(text=json.dumps(body))], structured_content=body)

    return Server(name, version=version, description=description, on_list_tools=list_tools, on_call_tool=call_tool)


class McpEndpoint:
    """ASGI app at ``/mcp``: verifies a bearer token when one is sent, then hands over to MCP.

    The session manager lives only while ``running()`` is entered (the service's lifespan); a new
    one is made each time, since a manager cannot be restarted.
    """

    def __init__(self, server: Server[Any]) -> None:
        self.server = server
        self._manager: StreamableHTTPSessionManager | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the session manager in a task of its own: its anyio task group must be entered and
        left by one task, and a lifespan's setup and teardown may run in different ones (tests)."""
        manager = StreamableHTTPSessionManager(self.server, stateless=True, json_response=True)
        started, stop = asyncio.Event(), asyncio.Event()

        async def own() -> None:
            async with manager.run():
                started.set()
                await stop.wait()

        owner = asyncio.create_task(own())
        waiting = asyncio.create_task(started.wait())
        await asyncio.wait({owner, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if not started.is_set():
            waiting.cancel()
            await owner  # it ended before it started: raise its error
            raise RuntimeError("the MCP session manager stopped before it started")
        self._manager = manager
        try:
            yield
        finally:
            self._manager = None
            stop.set()
            await owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            if self._manager is None:
                raise ServiceUnavailable("the MCP endpoint is not running", code="not_ready")
            if request.headers.get("authorization"):
                scope[_IDENTITY] = await _verify(request)
        except MeshlineError as exc:
            await problem_response(problem_for(exc, request.url.path), exc.headers)(scope, receive, send)
            return
        scope[_CONTEXT] = current_context()
        await self._manager.handle_request(scope, receive, send)


def mcp_endpoint(
    name: str, version: str, description: str, tools: Sequence[ToolDef], runtime: Callable[[], ToolRuntime]
) -> McpEndpoint:
    """The MCP endpoint of a kit service, to mount at :data:`MCP_PATH`."""
    return McpEndpoint(build_mcp_server(name, version, description, tools, runtime))
