"""Typed SDK errors, built from the orchestrator's ``application/problem+json`` bodies."""

from __future__ import annotations

import json
from typing import TypedDict

import httpx
from pydantic import ValidationError

from meshline.contracts import ProblemDetails


class MeshlineAPIError(Exception):
    """An error answered by the mesh (or the failure to reach it).

    ``status`` is the HTTP status (0 when no response arrived), ``code`` the machine-readable
    Meshline code, ``retryable`` whether the same call may succeed later, ``problem`` the whole body.
    """

    def __init__(self, problem: ProblemDetails, *, retry_after: float | None = None) -> None:
        self.problem = problem
        self.status = problem.status
        self.title = problem.title
        self.code = problem.code
        self.detail = problem.detail
        self.retryable = problem.retryable
        self.trace_id = problem.trace_id
        self.retry_after = retry_after
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """One line for humans: the title, then the detail when it says more."""
        if self.detail and self.detail != self.title:
            return f"{self.title}: {self.detail}"
        return self.title


class AuthenticationError(MeshlineAPIError):
    """401 or 403: the API key is missing, unknown, or lacks a scope."""


class NotFoundError(MeshlineAPIError):
    """404: no such thread, service or route."""


class RateLimitError(MeshlineAPIError):
    """429: slow down; ``retry_after`` says for how long when the server told."""


class InvalidRequestError(MeshlineAPIError):
    """400, 413 or 422: the request itself is wrong; repeating it will not help."""


class ServiceUnavailableError(MeshlineAPIError):
    """502, 503 or 504: the mesh or a service behind it failed or timed out; usually retryable."""


class APIConnectionError(MeshlineAPIError):
    """No answer at all: the mesh is unreachable, or the connection broke or timed out."""


_BY_STATUS: dict[int, type[MeshlineAPIError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    413: InvalidRequestError,
    422: InvalidRequestError,
    429: RateLimitError,
    502: ServiceUnavailableError,
    503: ServiceUnavailableError,
    504: ServiceUnavailableError,
}


def error_from_problem(problem: ProblemDetails, *, retry_after: float | None = None) -> MeshlineAPIError:
    """The typed error matching ``problem.status``."""
    return _BY_STATUS.get(problem.status, MeshlineAPIError)(problem, retry_after=retry_after)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None


class _Fallback(TypedDict):
    """The fields a synthesized problem starts from."""

    title: str
    status: int


def problem_from_response(response: httpx.Response, body: bytes) -> ProblemDetails:
    """The response's problem+json, or a synthesized one when the body is something else."""
    status = response.status_code
    fallback = _Fallback(title=response.reason_phrase or f"HTTP {status}", status=status)
    try:
        parsed = json.loads(body)
    except ValueError:
        return ProblemDetails(**fallback, detail=body.decode(errors="replace")[:500])
    if not isinstance(parsed, dict):
        return ProblemDetails(**fallback, detail=str(parsed)[:500])
    if not isinstance(parsed.get("detail", ""), str):  # e.g. a bare validation error list
        parsed = {**parsed, "errors": parsed.get("detail"), "detail": ""}
    try:
        return ProblemDetails.model_validate({**fallback, **parsed, "status": status})
    except ValidationError:
        return ProblemDetails(**fallback, detail=body.decode(errors="replace")[:500])


def error_from_response(response: httpx.Response, body: bytes) -> MeshlineAPIError:
    """The typed error for an error response whose body has been read."""
    return error_from_problem(problem_from_response(response, body), retry_after=_retry_after(response))


def connection_error(url: str, exc: httpx.HTTPError) -> APIConnectionError:
    """Why no answer came back from ``url``."""
    if isinstance(exc, httpx.TimeoutException):
        title, code = "Timed out", "timeout"
        detail = f"no answer from {url} in time ({type(exc).__name__})"
    else:
        title, code = "Mesh unreachable", "connect_failed"
        detail = f"cannot reach {url}: {exc or type(exc).__name__}"
    return APIConnectionError(ProblemDetails(title=title, status=0, detail=detail, code=code, retryable=True))
