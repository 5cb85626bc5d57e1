"""Real HTTP peers for registration tests: they record every request and hide a secret in every answer.

A refusal must leave the peer untouched (``seen`` stays empty) or, when it was fetched, must not
carry anything the peer sent: its body, its headers, the names it gave itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

SECRET = "s3cr3t-upstream-bytes"


@dataclass
class Upstream:
    """An ASGI app: ``/v1/manifest`` answers ``manifest_status`` with ``manifest`` (or ``raw``), ``/readyz`` 200,
    anything else an internal page holding the secret."""

    manifest: dict[str, Any] | None = None
    manifest_status: int = 200
    raw: bytes | None = None
    seen: list[str] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        self.seen.append(path)
        status, body = 200, f'{{"page": "internal", "secret": "{SECRET}"}}'.encode()
        if path == "/v1/manifest":
            status = self.manifest_status
            if self.raw is not None:
                body = self.raw
            elif self.manifest is not None:
                body = json.dumps(self.manifest).encode()
        elif path == "/readyz":
            body = b'{"status": "ok"}'
        headers = [(b"content-type", b"application/json"), (b"x-upstream-secret", SECRET.encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def recorded(app: ASGIApp, seen: list[str]) -> ASGIApp:
    """``app`` with every HTTP request's path appended to ``seen`` (e.g. a real MCP server)."""

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            seen.append(scope["path"])
        await app(scope, receive, send)

    return wrapper


class ScriptedDns:
    """The address guard's resolver, answering from a script: ``answers[i]`` for the i-th lookup, then the last."""

    def __init__(self, *answers: Sequence[str]) -> None:
        self.answers = [list(a) for a in answers]
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        return self.answers[min(len(self.lookups), len(self.answers)) - 1]
