"""Request context (trace id, tenant, user, deadline) carried across hops.

Inbound headers set it in :class:`ContextMiddleware`; the resilient client reads it to
propagate ``traceparent`` and ``X-Meshline-Deadline`` on every outbound call.
"""

from __future__ import annotations

import re
import secrets
import time
from contextvars import ContextVar
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEADLINE_HEADER = "x-meshline-deadline"
TRACEPARENT_RE = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


@dataclass
class RequestContext:
    trace_id: str = field(default_factory=lambda: secrets.token_hex(16))
    span_id: str = field(default_factory=lambda: secrets.token_hex(8))
    deadline: float | None = None  # absolute, epoch seconds
    tenant: str | None = None
    user: str | None = None
    scopes: frozenset[str] = frozenset()
    # The bearer token a request came with is deliberately not kept here: nothing forwards it.

    def remaining(self) -> float | None:
        """Seconds left before the deadline (may be negative), or None when there is none."""
        return None if self.deadline is None else self.deadline - time.time()

    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{secrets.token_hex(8)}-01"


_current: ContextVar[RequestContext | None] = ContextVar("meshline_request_context", default=None)


def current_context() -> RequestContext:
    """The context of the request being served, or a fresh one outside a request."""
    ctx = _current.get()
    if ctx is None:
        ctx = RequestContext()
        _current.set(ctx)
    return ctx


def bound_context() -> RequestContext | None:
    """The context of the request being served, or None: unlike :func:`current_context`, it never
    binds a fresh one (code that only reads must not leave a context behind for whatever later
    runs in this thread to share)."""
    return _current.get()


def time_left_in_request() -> float | None:
    """Seconds before the bound request's deadline, or None (no request, or no deadline).

    Unlike :func:`current_context`, it never binds a fresh context: code that only reads must not
    leave a context behind for whatever later runs in this thread to share."""
    ctx = bound_context()
    return None if ctx is None else ctx.remaining()


def bind_context(ctx: RequestContext) -> None:
    _current.set(ctx)


def context_from_headers(headers: dict[str, str]) -> RequestContext:
    ctx = RequestContext()
    match = TRACEPARENT_RE.match(headers.get("traceparent", ""))
    if match:
        ctx.trace_id = match.group(1)
    raw_deadline = headers.get(DEADLINE_HEADER)
    if raw_deadline:
        try:
            ctx.deadline = float(raw_deadline)
        except ValueError:
            ctx.deadline = None
    return ctx


class ContextMiddleware:
    """Binds a RequestContext per request and echoes the trace id as ``X-Trace-Id``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        ctx = context_from_headers(headers)
        token = _current.set(ctx)

        async def send_with_trace(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-trace-id", ctx.trace_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_trace)
        except Exception:
            # Left bound: the kit's CrashMiddleware answers the 500 outside this middleware and
            # must report the trace id this request ran under.
            raise
        _current.reset(token)
