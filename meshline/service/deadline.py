"""Work past the caller's deadline is cancelled, not left running.

The caller stops waiting at its deadline (``X-Meshline-Deadline``), so anything this service
still does for that request afterwards only burns capacity that live requests need: the
middleware cancels the handler at the deadline and answers 504 problem+json, or, when the
response has already started (a stream), ends it there. A request that arrives after its own
deadline made itself impossible: 422 ``deadline_passed``, not a retryable 504 (sent again with
the same deadline it can only fail again; nor is it the service's fault, so no breaker counts it).
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send

from meshline.errors import DeadlineExceeded, Unprocessable
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
            late = Unprocessable(
                "the request's X-Meshline-Deadline had already passed when it arrived (check the caller's clock)",
                code="deadline_passed",
            )
            await problem_response(problem_for(late, scope.get("path")))(scope, receive, send)
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
