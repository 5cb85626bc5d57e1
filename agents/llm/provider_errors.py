"""Provider failures (litellm exceptions) as Meshline errors, hence problem+json.

A provider's 503 stays a 503 (it refused before doing work, so callers may retry even a POST);
other provider 5xx and connection failures become 502; rate limits 429; timeouts 504; requests
the provider rejects (bad parameters, context window) 400. A misconfigured deployment (wrong
key, unknown model at the provider) is our fault, not the caller's: 502, not retryable.
"""

from __future__ import annotations

import openai
from litellm.exceptions import (
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    UnprocessableEntityError,
)
from litellm.types.router import RouterRateLimitError

from meshline.errors import (
    BadRequest,
    DeadlineExceeded,
    MeshlineError,
    RateLimited,
    ServiceUnavailable,
    UpstreamError,
)
from meshline.resilience import retry_after_seconds

_DETAIL_LIMIT = 500


def _detail(exc: BaseException) -> str:
    # litellm appends multi-line advice to its messages; the first line says what happened.
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:_DETAIL_LIMIT]


def _retry_after(exc: BaseException) -> dict[str, str]:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return {}
    try:
        seconds = retry_after_seconds(response)  # type: ignore[arg-type]
    except Exception:  # a response object without the httpx shape: no hint
        return {}
    return {} if seconds is None else {"Retry-After": str(max(1, round(seconds)))}


def provider_error(exc: BaseException) -> MeshlineError | None:
    """The Meshline error a provider failure maps to; None when ``exc`` is no provider failure (a bug)."""
    if isinstance(exc, MeshlineError):
        return exc
    if not isinstance(exc, openai.APIError | RouterRateLimitError):
        return None
    detail = _detail(exc)
    if isinstance(exc, openai.APITimeoutError):
        return DeadlineExceeded(detail, code="provider_timeout")
    if isinstance(exc, RateLimitError):
        return RateLimited(detail, code="provider_rate_limited", headers=_retry_after(exc))
    if isinstance(exc, ContextWindowExceededError):
        return BadRequest(detail, code="context_window_exceeded")
    if isinstance(exc, ContentPolicyViolationError):
        return BadRequest(detail, code="content_policy_violation")
    if isinstance(exc, AuthenticationError | PermissionDeniedError | NotFoundError):
        return UpstreamError(detail, code="provider_misconfigured", retryable=False)
    if isinstance(exc, BadRequestError | UnprocessableEntityError):
        return BadRequest(detail, code="provider_bad_request")
    if isinstance(exc, ServiceUnavailableError):
        return ServiceUnavailable(detail, code="provider_unavailable", headers=_retry_after(exc))
    if isinstance(exc, RouterRateLimitError):
        # Every deployment of the alias is cooling down after failures.
        wait = max(1, round(float(getattr(exc, "cooldown_time", 1) or 1)))
        return ServiceUnavailable(detail, code="no_healthy_deployment", headers={"Retry-After": str(wait)})
    return UpstreamError(detail, code="provider_error")
