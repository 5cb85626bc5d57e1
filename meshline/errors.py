"""One error tree for every service; the service kit maps it to problem+json (RFC 9457)."""

from __future__ import annotations


class MeshlineError(Exception):
    """Base of every error a Meshline service raises on purpose."""

    status: int = 500
    code: str = "internal_error"
    title: str = "Internal error"
    retryable: bool = False

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        status: int | None = None,
        retryable: bool | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if retryable is not None:
            self.retryable = retryable
        self.headers = headers or {}


class BadRequest(MeshlineError):
    status, code, title = 400, "bad_request", "Bad request"


class Unauthorized(MeshlineError):
    status, code, title = 401, "unauthorized", "Unauthorized"


class Forbidden(MeshlineError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(MeshlineError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(MeshlineError):
    status, code, title = 409, "conflict", "Conflict"


class PayloadTooLarge(MeshlineError):
    status, code, title = 413, "payload_too_large", "Payload too large"


class Unprocessable(MeshlineError):
    status, code, title = 422, "validation_error", "Invalid request"


class RateLimited(MeshlineError):
    status, code, title, retryable = 429, "rate_limited", "Too many requests", True


class UpstreamError(MeshlineError):
    status, code, title, retryable = 502, "upstream_error", "Upstream service failed", True


class ServiceUnavailable(MeshlineError):
    status, code, title, retryable = 503, "unavailable", "Service unavailable", True


class DeadlineExceeded(MeshlineError):
    status, code, title, retryable = 504, "deadline_exceeded", "Deadline exceeded", True


class InvalidConfig(MeshlineError):
    """A service's configuration (settings, config file, profile) is missing or invalid: a startup error.

    Subclasses that callers catch as ``ValueError`` also derive from it (``class X(InvalidConfig, ValueError)``).
    """

    status, code, title = 500, "invalid_config", "Invalid configuration"
