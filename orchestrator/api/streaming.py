"""Turning a stream of turn events into an SSE response, with errors as ``error`` events.

A turn that fails after its response has started cannot change the HTTP status, so the stream
ends with an ``error`` event instead (its shape is the endpoint's: Meshline's ``ErrorEvent`` on
``/v1/chat``, an OpenAI error object on ``/v1/chat/completions``) and never just stops.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

from fastapi.responses import StreamingResponse

from meshline.errors import MeshlineError
from meshline.orchestrator.turns import TurnEvent
from meshline.sse import SSE_MEDIA_TYPE

log = logging.getLogger(__name__)
Encoder = Callable[[TurnEvent], list[bytes]]
ErrorEncoder = Callable[[MeshlineError], bytes]


async def sse_response(
    events: AsyncIterator[TurnEvent], encode: Encoder, encode_error: ErrorEncoder, headers: dict[str, str]
) -> StreamingResponse:
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
            yield encode_error(exc)
        except Exception:
            log.exception("stream failed")
            yield encode_error(MeshlineError("the turn failed unexpectedly"))

    return StreamingResponse(
        body(), media_type=SSE_MEDIA_TYPE, headers={"cache-control": "no-cache", "x-accel-buffering": "no", **headers}
    )
