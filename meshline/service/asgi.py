"""A small ASGI helper shared by the kit's middlewares that answer on the app's behalf."""

from __future__ import annotations

from starlette.types import Message, Send


class WatchedSend:
    """Wraps ``send`` to know whether the response has started: until then a middleware may
    still answer with a problem of its own; after it, it can only end the body where it is."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        self.started = self.started or message["type"] == "http.response.start"
        await self._send(message)

    async def end(self) -> None:
        """Close a response already under way (a stream cut short)."""
        await self._send({"type": "http.response.body", "body": b"", "more_body": False})
