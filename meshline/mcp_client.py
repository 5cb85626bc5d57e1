"""Calling MCP servers over streamable HTTP (the ``mcp`` package), as Meshline tool services.

The registry lists an MCP server's tools here and adapts them into :class:`ToolSpec` (an MCP
tool changes data unless its annotations say ``readOnlyHint``); agents call them here. Each
operation is one short MCP session over one shared HTTP client, bounded as a whole by
``min(budget, time left before the request's deadline)``, and carries the same headers as any
Meshline hop (``traceparent``, ``X-Meshline-Deadline``, the caller's bearer token, and the
``Idempotency-Key`` of a side-effecting call). A server that speaks the 2026 protocol is
discovered once per URL; later sessions adopt that result and skip the probe round trip.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from meshline.contracts import ToolSpec
from meshline.errors import DeadlineExceeded, MeshlineError, ServiceUnavailable, UpstreamError
from meshline.json_types import JsonObject
from meshline.service import DEADLINE_HEADER, current_context

log = logging.getLogger(__name__)
# What a model may call a function (OpenAI's rule); MCP allows more, the mesh cannot offer those.
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_PAGES = 20  # tools/list pages followed at most: a paginator that never ends cannot hang a registration
IDEMPOTENCY_META_KEY = "dev.meshline/idempotency-key"
_T = TypeVar("_T")
_call_headers: ContextVar[Mapping[str, str] | None] = ContextVar("meshline_mcp_headers", default=None)


@dataclass(frozen=True)
class McpListing:
    """What an MCP server says about itself and its tools."""

    server_name: str | None
    version: str | None
    description: str
    tools: list[ToolSpec]


def tool_spec(tool: types.Tool) -> ToolSpec:
    """An MCP tool as a Meshline tool; unknown side effects count as side effects."""
    read_only = tool.annotations is not None and tool.annotations.read_only_hint is True
    return ToolSpec(
        name=tool.name,
        description=tool.description or tool.title or (tool.annotations.title if tool.annotations else None) or "",
        input_schema=tool.input_schema or {"type": "object", "properties": {}},
        output_schema=tool.output_schema or {},
        side_effects=not read_only,
    )


def result_value(result: types.CallToolResult) -> Any:
    """A tool's answer as JSON: its structured content, else its text (parsed when it is JSON)."""
    if result.structured_content is not None:
        return result.structured_content
    texts = [block.text for block in result.content if isinstance(block, types.TextContent)]
    if len(texts) == len(result.content) == 1:
        try:
            return json.loads(texts[0])
        except ValueError:
            return texts[0]
    return {"content": [block.model_dump(mode="json", by_alias=True, exclude_none=True) for block in result.content]}


def result_error(tool: str, result: types.CallToolResult) -> MeshlineError:
    """An ``isError`` result as a MeshlineError; a problem object in structured content keeps its code and status."""
    problem = result.structured_content if isinstance(result.structured_content, dict) else {}
    text = " ".join(b.text for b in result.content if isinstance(b, types.TextContent)).strip()
    detail = str(problem.get("detail") or text or f"{tool} failed")[:2000]
    status = problem.get("status")
    return MeshlineError(
        detail,
        code=str(problem.get("code") or "tool_error"),
        status=status if isinstance(status, int) and 400 <= status < 600 else 502,
        retryable=bool(problem.get("retryable", False)),
    )


class _OneLineLibraryErrors(logging.Filter):
    """The ``mcp`` client logs a traceback for a peer that answers badly (or a connection the address guard
    refused), the peer's bytes inside it; the caller gets our own MeshlineError for the same event. Keep
    one warning line, without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg, record.args = f"{record.getMessage()} ({type(record.exc_info[1]).__name__})", None
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _quiet_library_tracebacks() -> None:
    for name in ("mcp.client.streamable_http", "mcp.client.session"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _OneLineLibraryErrors) for f in logger.filters):
            logger.addFilter(_OneLineLibraryErrors())


async def _add_call_headers(request: httpx2.Request) -> None:
    request.headers.update(_call_headers.get() or {})


class McpToolClient:
    """Lists and calls the tools of MCP servers; one instance per process (it owns an HTTP pool)."""

    def __init__(
        self,
        *,
        timeout_s: float = 15.0,
        connect_timeout_s: float = 2.0,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        """``transport``: e.g. ``GuardedTransport2``, so every connection is checked against an address guard."""
        _quiet_library_tracebacks()
        self.timeout_s = timeout_s
        self._http = httpx2.AsyncClient(
            timeout=httpx2.Timeout(timeout_s, connect=connect_timeout_s),
            event_hooks={"request": [_add_call_headers]},
            transport=transport,
            trust_env=transport is None,  # a guarded client takes nothing from the environment (.netrc credentials)
        )
        self._discovered: dict[str, types.DiscoverResult] = {}

    async def aclose(self) -> None:
        await self._http.aclose()

    def _budget(self, timeout_s: float | None) -> float:
        budget = timeout_s or self.timeout_s
        remaining = current_context().remaining()
        if remaining is not None:
            if remaining <= 0:
                raise DeadlineExceeded("the request's deadline passed before the MCP call was made")
            budget = min(budget, remaining)
        return budget

    @staticmethod
    def _headers(token: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
        ctx = current_context()
        headers = {"traceparent": ctx.traceparent(), **(extra or {})}
        if ctx.deadline is not None:
            headers[DEADLINE_HEADER] = f"{ctx.deadline:.3f}"
        if token:  # minted for this server alone; never the token the caller's request came with
            headers["authorization"] = f"Bearer {token}"
        return headers

    @asynccontextmanager
    async def _session(self, url: str, *, handshake: bool = False) -> AsyncIterator[Client]:
        """A session; ``handshake`` always negotiates on the wire (a probe must reach the server)."""
        known = None if handshake else self._discovered.get(url)
        mode = known.supported_versions[-1] if known and known.supported_versions else "auto"
        client = Client(
            streamable_http_client(url, http_client=self._http),
            mode=mode,
            prior_discover=known if mode != "auto" else None,
            cache=None,
        )
        async with client:
            discovered = getattr(client.session, "discover_result", None)
            if isinstance(discovered, types.DiscoverResult):
                self._discovered[url] = discovered
            yield client

    async def _run(
        self,
        url: str,
        operation: Callable[[Client], Awaitable[_T]],
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        handshake: bool = False,
    ) -> _T:
        budget = self._budget(timeout_s)
        bound = _call_headers.set(self._headers(token, headers))
        try:
            with anyio.fail_after(budget):
                async with self._session(url, handshake=handshake) as client:
                    return await operation(client)
        except TimeoutError as exc:
            remaining = current_context().remaining()
            if remaining is not None and remaining <= 0.05:
                raise DeadlineExceeded(f"deadline reached while waiting for MCP server {url}") from exc
            raise UpstreamError(f"MCP server {url} timed out after {budget:.1f}s", code="upstream_timeout") from exc
        except MeshlineError:
            raise
        except Exception as exc:
            self._discovered.pop(url, None)  # re-probe next time: the server may have changed
            raise _as_meshline_error(url, exc) from exc
        finally:
            _call_headers.reset(bound)

    async def list_tools(self, url: str, *, token: str | None = None, timeout_s: float | None = None) -> McpListing:
        """The server's identity and every tool it lists (following pages)."""

        async def listing(client: Client) -> McpListing:
            tools: list[types.Tool] = []
            cursor: str | None = None
            for _ in range(MAX_PAGES):
                page = await client.list_tools(cursor=cursor)
                tools += page.tools
                cursor = page.next_cursor
                if cursor is None:
                    break
            info = client.server_info
            description = (info.description if info else None) or client.instructions or ""
            return McpListing(
                server_name=info.name if info else None,
                version=info.version if info else None,
                description=description,
                tools=[tool_spec(t) for t in tools],
            )

        return await self._run(url, listing, token=token, timeout_s=timeout_s)

    async def call_tool(
        self,
        url: str,
        name: str,
        arguments: JsonObject,
        *,
        idempotency_key: str | None = None,
        token: str | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        """Run one tool; its result as JSON. A tool error raises MeshlineError with its detail."""
        # The key rides both ways an MCP server may look for it: the header the native contract
        # uses, and the request's _meta (which survives transports without headers).
        headers = {"idempotency-key": idempotency_key} if idempotency_key else None
        meta = types.RequestParamsMeta()
        if idempotency_key:
            meta[IDEMPOTENCY_META_KEY] = idempotency_key  # type: ignore[literal-required]  # an open map

        async def call(client: Client) -> types.CallToolResult:
            return await client.call_tool(name, arguments, meta=meta or None)

        result = await self._run(url, call, token=token, headers=headers, timeout_s=timeout_s)
        if result.is_error:
            raise result_error(name, result)
        return result_value(result)

    async def check(self, url: str, *, timeout_s: float | None = None) -> None:
        """Raises unless an MCP session can be opened at ``url`` (the registry's health probe)."""

        async def opened(_: Client) -> None:
            return None

        await self._run(url, opened, timeout_s=timeout_s, handshake=True)


def _leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (possibly nested) exception groups: anyio task groups wrap them."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _as_meshline_error(url: str, exc: BaseException) -> MeshlineError:
    for leaf in _leaves(exc):
        if isinstance(leaf, MeshlineError):  # e.g. the address guard's refusal, raised inside a task group
            return leaf
        if isinstance(leaf, httpx2.ConnectError | httpx2.ConnectTimeout):
            return ServiceUnavailable(f"cannot connect to MCP server {url}: {leaf}", code="connect_failed")
        if isinstance(leaf, httpx2.HTTPStatusError):
            status = leaf.response.status_code
            return UpstreamError(f"MCP server {url} answered HTTP {status}", code="mcp_http_error")
        if isinstance(leaf, MCPError):
            return UpstreamError(f"MCP server {url}: {leaf.message}", code="mcp_error")
    first = _leaves(exc)[0]
    return UpstreamError(f"MCP call to {url} failed: {type(first).__name__}: {first}", code="mcp_error")
