"""Maps every failure to ``application/problem+json``: MeshlineError, validation errors, 404/405, crashes."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from meshline.contracts import ProblemDetails
from meshline.errors import MeshlineError
from meshline.json_types import JsonObject
from meshline.service.asgi import WatchedSend
from meshline.service.context import current_context

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    429: ("rate_limited", "Too many requests"),
}


def problem_response(problem: ProblemDetails, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(exclude_none=True), status_code=problem.status, headers=headers, media_type=PROBLEM_JSON
    )


def problem_for(error: MeshlineError, instance: str | None = None) -> ProblemDetails:
    return ProblemDetails(
        type=f"https://meshline.dev/problems/{error.code}",
        title=error.title,
        status=error.status,
        detail=error.detail,
        code=error.code,
        retryable=error.retryable,
        instance=instance,
        trace_id=current_context().trace_id,
    )


def _json_safe_errors(errors: Any) -> list[JsonObject]:
    out = []
    for err in errors:
        out.append(
            {"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", "")), "type": err.get("type")}
        )
    return out


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(MeshlineError)
    async def _meshline(request: Request, exc: MeshlineError) -> JSONResponse:
        return problem_response(problem_for(exc, request.url.path), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _json_safe_errors(exc.errors())
        body_error = any(e["type"] == "json_invalid" for e in errors)
        problem = ProblemDetails(
            type="https://meshline.dev/problems/" + ("malformed_json" if body_error else "validation_error"),
            title="Malformed JSON" if body_error else "Invalid request",
            status=400 if body_error else 422,
            detail="; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors)[:2000],
            code="malformed_json" if body_error else "validation_error",
            instance=request.url.path,
            trace_id=current_context().trace_id,
            errors=errors,
        )
        return problem_response(problem)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, title = _HTTP_CODES.get(exc.status_code, ("http_error", "HTTP error"))
        problem = ProblemDetails(
            type=f"https://meshline.dev/problems/{code}",
            title=title,
            status=exc.status_code,
            detail=str(exc.detail),
            code=code,
            instance=request.url.path,
            trace_id=current_context().trace_id,
        )
        return problem_response(problem, dict(exc.headers or {}))


class CrashMiddleware:
    """Answers an unhandled exception with a 500 problem+json, and keeps the connection.

    Outermost of the kit's middlewares. Starlette's own error middleware would send a 500 too,
    but then re-raises, and uvicorn closes the keep-alive connection: the client's next request
    on it fails with a read error, so one crash would break a second, innocent request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        watched = WatchedSend(send)
        try:
            await self.app(scope, receive, watched)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if watched.started:  # mid-stream: end it; the status has been sent already
                await watched.end()
                return
            problem = ProblemDetails(
                type="https://meshline.dev/problems/internal_error",
                title="Internal error",
                status=500,
                detail="The service failed unexpectedly; the trace id identifies the failure in its logs.",
                code="internal_error",
                instance=scope.get("path"),
                trace_id=current_context().trace_id,
            )
            # Sent outside ContextMiddleware, which therefore cannot add the header itself.
            await problem_response(problem, {"x-trace-id": problem.trace_id or ""})(scope, receive, send)
