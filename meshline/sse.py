"""Server-sent events: encoding on the server side, parsing on the client side (async and sync)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass

import httpx

SSE_MEDIA_TYPE = "text/event-stream"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class SSEMessage:
    event: str
    data: str


def encode_sse(data: str, event: str | None = None) -> bytes:
    lines = [f"event: {event}"] if event else []
    # Readers end a line at CR, LF or CRLF alike: split on all three or a bare CR cuts the data.
    lines.extend(f"data: {line}" for line in _LINE_BREAK.split(data))
    return ("\n".join(lines) + "\n\n").encode()


class _Decoder:
    """Incremental SSE decoder (the WHATWG event-stream rules that matter here)."""

    def __init__(self) -> None:
        self.event = ""
        self.data: list[str] = []

    def feed(self, line: str) -> SSEMessage | None:
        if line == "":
            if not self.data and not self.event:
                return None
            message = SSEMessage(self.event or "message", "\n".join(self.data))
            self.event, self.data = "", []
            return message
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self.event = value
        elif name == "data":
            self.data.append(value)
        return None


def _decode(lines: Iterable[str]) -> Iterator[SSEMessage]:
    decoder = _Decoder()
    for line in lines:
        message = decoder.feed(line)
        if message is not None:
            yield message


async def aiter_sse(response: httpx.Response) -> AsyncIterator[SSEMessage]:
    decoder = _Decoder()
    async for line in response.aiter_lines():
        message = decoder.feed(line)
        if message is not None:
            yield message


def iter_sse(response: httpx.Response) -> Iterator[SSEMessage]:
    yield from _decode(response.iter_lines())
