"""Turning a stream of turn events into an SSE response, with errors as ``error`` events."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

from fastapi.responses import StreamingResponse

from meshline.errors import MeshlineError
from meshline.orchestrator.turns import TurnEvent
from meshline.service.problems import problem_for
from meshline.sse import SSE_MEDIA_TYPE, encode_sse

log = logging.getLogger("meshline.orchestrator.stream")
Encoder = Callable[[TurnEvent], list[bytes]]


async def sse_response(events: AsyncIterator[TurnEvent], encode: Encoder, headers: dict[str, str]) -> StreamingResponse:
    """Pull the first event before answering, so early failures become plain problem+json responses."""
    first = await anext(events)

    async def body() -> AsyncIterator[bytes]:
        try:
            for chunk in encode(first):
                yield chunk
            async for event in events:
                for chunk in encode(event):
                    yield chunk
        except MeshlineError as exc:
            yield encode_sse(problem_for(exc).model_dump_json(exclude_none=True), "error")
        except Exception:
            log.exception("stream failed")
            error = MeshlineError("the turn failed unexpectedly")
            yield encode_sse(problem_for(error).model_dump_json(exclude_none=True), "error")

    return StreamingResponse(
        body(), media_type=SSE_MEDIA_TYPE, headers={"cache-control": "no-cache", "x-accel-buffering": "no", **headers}
    )
