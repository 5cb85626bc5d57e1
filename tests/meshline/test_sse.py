"""Server-sent events: what encode_sse writes, aiter_sse/iter_sse read back, over real HTTP framing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from meshline.contracts.chat import DeltaEvent, RouteDecision, RouteEvent
from meshline.sse import SSE_MEDIA_TYPE, SSEMessage, aiter_sse, encode_sse, iter_sse

PAYLOADS = [
    ("plain text", None),
    ("first line\nsecond line\n\nfourth after a blank", "delta"),
    ('{"type": "delta", "text": "h\\u00e9llo \\n not a real newline"}', "delta"),
    ("", "ping"),
    ("", None),
    (": looks like a comment", None),
    ("event: not a field", "x"),
    ("  leading spaces kept", None),
    ("trailing newline\n", "done"),
    ("unicode: Grüße, 日本語, 🚀", "delta"),
]


def sync_response(body: bytes | Iterable[bytes]) -> httpx.Response:
    return httpx.Response(200, content=body, headers={"content-type": SSE_MEDIA_TYPE})


def async_response(chunks: list[bytes]) -> httpx.Response:
    async def stream() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    return httpx.Response(200, content=stream(), headers={"content-type": SSE_MEDIA_TYPE})


def expected(data: str, event: str | None) -> SSEMessage:
    return SSEMessage(event or "message", data)


def byte_by_byte(body: bytes) -> list[bytes]:
    return [body[i : i + 1] for i in range(len(body))]


def test_encode_writes_event_and_one_data_line_per_line() -> None:
    assert encode_sse("hi") == b"data: hi\n\n"
    assert encode_sse("a\nb", "delta") == b"event: delta\ndata: a\ndata: b\n\n"
    assert encode_sse("") == b"data: \n\n"


@pytest.mark.parametrize(("data", "event"), PAYLOADS)
def test_round_trip_sync(data: str, event: str | None) -> None:
    assert list(iter_sse(sync_response(encode_sse(data, event)))) == [expected(data, event)]


@pytest.mark.parametrize(("data", "event"), PAYLOADS)
async def test_round_trip_async_split_at_every_byte(data: str, event: str | None) -> None:
    chunks = byte_by_byte(encode_sse(data, event))
    assert [m async for m in aiter_sse(async_response(chunks))] == [expected(data, event)]


async def test_many_events_in_one_stream_keep_their_order() -> None:
    body = b"".join(encode_sse(d, e) for d, e in PAYLOADS)
    assert [m async for m in aiter_sse(async_response([body]))] == [expected(d, e) for d, e in PAYLOADS]
    assert list(iter_sse(sync_response(byte_by_byte(body)))) == [expected(d, e) for d, e in PAYLOADS]


@pytest.mark.parametrize("data", ["carriage\rreturn", "windows\r\nline", "mixed\r\n\rend\n"])
def test_carriage_returns_in_data_are_not_lost(data: str) -> None:
    # SSE treats CR, LF and CRLF alike as line ends, so a CR can only travel as a line break.
    normalised = data.replace("\r\n", "\n").replace("\r", "\n")
    assert list(iter_sse(sync_response(encode_sse(data, "delta")))) == [SSEMessage("delta", normalised)]


def test_comments_and_keep_alives_are_skipped() -> None:
    body = b": keep-alive\n\n:another\nevent: delta\n: inside an event\ndata: x\n\n: bye\n\n"
    assert list(iter_sse(sync_response(body))) == [SSEMessage("delta", "x")]


def test_decoder_follows_the_event_stream_field_rules() -> None:
    body = (
        b"data:no space\n\n"  # the space after the colon is optional
        b"data:  two spaces\n\n"  # only one is removed
        b"data\n\n"  # a field name alone is an empty value
        b"id: 7\nretry: 1000\nunknown: field\ndata: kept\n\n"  # fields we do not use are ignored
        b"event: first\nevent: second\ndata: last event name wins\n\n"
    )
    assert list(iter_sse(sync_response(body))) == [
        SSEMessage("message", "no space"),
        SSEMessage("message", " two spaces"),
        SSEMessage("message", ""),
        SSEMessage("message", "kept"),
        SSEMessage("second", "last event name wins"),
    ]


def test_crlf_and_cr_line_endings_are_understood() -> None:
    body = b"event: delta\r\ndata: a\r\ndata: b\r\n\r\nevent: done\rdata: c\r\r"
    assert list(iter_sse(sync_response(body))) == [SSEMessage("delta", "a\nb"), SSEMessage("done", "c")]


def test_event_is_dispatched_only_by_its_blank_line() -> None:
    body = encode_sse("complete", "delta") + b"event: delta\ndata: cut off by the server"
    assert list(iter_sse(sync_response(body))) == [SSEMessage("delta", "complete")]


async def test_events_from_a_real_streaming_endpoint() -> None:
    route = RouteEvent(thread_id="t-1", route=RouteDecision(agents=["general"], method="examples", confidence=0.8))
    deltas = [DeltaEvent(text=t, agent="general") for t in ("Hel", "lo\nthere", "")]
    app = FastAPI()

    @app.get("/events")
    async def events() -> StreamingResponse:
        async def produce() -> AsyncIterator[bytes]:
            yield encode_sse(route.model_dump_json(), "route")
            yield b": keep-alive\n\n"
            for delta in deltas:
                yield encode_sse(delta.model_dump_json(), "delta")

        return StreamingResponse(produce(), media_type=SSE_MEDIA_TYPE)

    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://svc") as client,
        client.stream("GET", "/events") as response,
    ):
        assert response.headers["content-type"].startswith(SSE_MEDIA_TYPE)
        messages = [m async for m in aiter_sse(response)]
    assert [m.event for m in messages] == ["route", "delta", "delta", "delta"]
    assert RouteEvent.model_validate_json(messages[0].data) == route
    assert [DeltaEvent.model_validate_json(m.data) for m in messages[1:]] == deltas


def test_iter_sse_is_lazy() -> None:
    produced: list[int] = []

    def body() -> Iterator[bytes]:
        for i in range(3):
            produced.append(i)
            yield encode_sse(str(i))

    messages = iter_sse(sync_response(body()))
    assert next(messages) == SSEMessage("message", "0")
    assert 2 not in produced, "messages are yielded as they arrive, not after the whole body"
