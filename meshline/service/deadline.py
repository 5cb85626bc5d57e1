"""Work past the caller's deadline is cancelled, not left running.

The caller stops waiting at its deadline (``X-Meshline-Deadline``), so anything this service
still does for that request afterwards only burns capacity that live requests need: the
middleware cancels the handler at the deadline and answers 504 problem+json, or, when the
response has already started (a stream), ends it there.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send

from meshline.errors import DeadlineExceeded
from meshline.service.asgi import WatchedSend
from meshline.service.context import current_context
from meshline.service.problems import problem_for, problem_response


class DeadlineMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        remaining = current_context().remaining() if scope["type"] == "http" else None
        if remaining is None:
            await self.app(scope, receive, send)
            return
        if remaining <= 0:  # the caller has already given up: do no work at all
            await self._refuse(scope, receive, send)
            return
        watched = WatchedSend(send)
        try:
            async with asyncio.timeout(remaining):
                await self.app(scope, receive, watched)
        except TimeoutError:
            if watched.started:  # a stream already under way: end it where it is
                await watched.end()
                return
            await self._refuse(scope, receive, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
        error = DeadlineExceeded("the request's deadline passed before the answer was ready")
        await problem_response(problem_for(error, scope.get("path")))(scope, receive, send)
