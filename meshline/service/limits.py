"""Request size limit, enforced before the body is parsed."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodySizeLimitMiddleware:
    """Rejects bodies over ``max_bytes`` with 413 (problem+json via the kit's handlers).

    Checks Content-Length first and counts streamed bytes too, so a chunked upload cannot
    slip past the limit. Raising HTTPException lets FastAPI's body parsing pass it through.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> HTTPException:
        return HTTPException(413, f"request body is larger than {self.max_bytes} bytes")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope["headers"]:
            if key == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                # Answered inside the app so the problem handlers render it.
                scope["meshline.too_large"] = True
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            if scope.get("meshline.too_large"):
                raise self._too_large()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._too_large()
            return message

        await self.app(scope, counting_receive, send)
