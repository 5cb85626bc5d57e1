"""``ServiceClient``: the one way a Meshline service calls another over HTTP.

Every call gets an explicit timeout (the smaller of its budget and what is left of the
request's deadline), carries trace, deadline and token headers, and is retried only when
the failure is retryable and the call is safe to repeat.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI

from meshline.errors import DeadlineExceeded, MeshlineError, ServiceUnavailable, UpstreamError
from meshline.resilience.metrics import ResilienceMetrics
from meshline.resilience.retry import (
    IDEMPOTENT_METHODS,
    RetryBudget,
    RetryPolicy,
    is_retryable_status,
    retry_after_seconds,
)
from meshline.service import DEADLINE_HEADER, current_context

MIN_TIMEOUT_S = 0.05
STREAM_BROKEN = "stream_broken"  # the connection died mid-call: the peer may have done some of the work


class ServiceClient:
    def __init__(
        self,
        *,
        timeout_s: float = 30.0,
        connect_timeout_s: float = 2.0,
        retry: RetryPolicy | None = None,
        retry_budget: RetryBudget | None = None,
        max_connections: int = 200,
        metrics: ResilienceMetrics | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``transport``: e.g. a ``GuardedTransport`` for calls to registered (not configured) URLs."""
        self.metrics = metrics
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.retry = retry or RetryPolicy()
        self.retry_budget = retry_budget or RetryBudget()
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            transport=transport,
        )

    @classmethod
    def for_app(
        cls, app: FastAPI, timeout_s: float | None = None, transport: httpx.AsyncBaseTransport | None = None
    ) -> ServiceClient:
        """A kit service's client for calls to other services: the mesh's timeouts, the app's metrics."""
        mesh = app.state.settings.mesh
        return cls(
            timeout_s=timeout_s or mesh.http_timeout_s,
            connect_timeout_s=mesh.connect_timeout_s,
            metrics=app.state.resilience_metrics,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    def _headers(self, token: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
        ctx = current_context()
        headers = {"traceparent": ctx.traceparent()}
        if ctx.deadline is not None:
            headers[DEADLINE_HEADER] = f"{ctx.deadline:.3f}"
        if token:  # only a token minted for this call's target: never the one this request came with
            headers["authorization"] = f"Bearer {token}"
        if extra:
            headers.update(extra)
        return headers

    def _timeout(self, budget_s: float | None) -> httpx.Timeout:
        budget = budget_s or self.timeout_s
        remaining = current_context().remaining()
        if remaining is not None:
            if remaining <= 0:
                raise DeadlineExceeded("the request's deadline passed before the call was made")
            budget = min(budget, remaining)
        budget = max(budget, MIN_TIMEOUT_S)
        return httpx.Timeout(budget, connect=min(self.connect_timeout_s, budget))

    def _may_retry(self, delay_s: float, url: str, reason: str) -> bool:
        """Whether waiting ``delay_s`` still leaves the next attempt some time, and the budget allows it."""
        remaining = current_context().remaining()
        if remaining is not None and delay_s + MIN_TIMEOUT_S >= remaining:
            return False
        target = urlsplit(url).netloc
        if not self.retry_budget.try_spend():
            if self.metrics is not None:
                self.metrics.retry_budget_exhausted.labels(target).inc()
            return False
        if self.metrics is not None:
            self.metrics.retries.labels(target, reason).inc()
        return True

    def _safe_to_repeat(self, method: str, idempotent: bool | None, headers: Mapping[str, str]) -> bool:
        if idempotent is not None:
            return idempotent
        return method.upper() in IDEMPOTENT_METHODS or "idempotency-key" in {k.lower() for k in headers}

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send one call, retrying retryable failures; returns the final response (any status).

        The body is ``json``, or raw ``content`` (e.g. a multipart body passed through, with its
        ``content-type`` in ``headers``)."""
        all_headers = self._headers(token, headers)
        repeatable = self._safe_to_repeat(method, idempotent, all_headers)
        self.retry_budget.record_call()
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self.retry.max_attempts
            timeout = self._timeout(timeout_s)
            try:
                # httpx's timeouts bound each read; this bounds the whole call (a trickling body too).
                async with asyncio.timeout(timeout.read):
                    response = await self._http.request(
                        method, url, json=json, content=content, params=params, headers=all_headers, timeout=timeout
                    )
            except (httpx.ConnectError, httpx.ConnectTimeout, AttributeError) as exc:
                if isinstance(exc, AttributeError) and not killed_mid_connect(exc):
                    raise
                # Nothing reached the server: always safe to try again.
                delay = self.retry.delay(attempt)
                if last or not self._may_retry(delay, url, "connect"):
                    raise ServiceUnavailable(f"cannot connect to {url}: {exc}", code="connect_failed") from exc
                await asyncio.sleep(delay)
                continue
            except (httpx.TimeoutException, TimeoutError) as exc:
                raise self._timeout_error(url) from exc
            except httpx.HTTPError as exc:
                delay = self.retry.delay(attempt)
                if last or not repeatable or not self._may_retry(delay, url, "transport"):
                    raise UpstreamError(f"call to {url} failed: {type(exc).__name__}: {exc}") from exc
                await asyncio.sleep(delay)
                continue
            if last or not is_retryable_status(response.status_code, idempotent=repeatable):
                return response
            delay = self.retry.delay(attempt, retry_after_seconds(response))
            if not self._may_retry(delay, url, str(response.status_code)):
                return response  # the caller sees the real refusal instead of a wait past its deadline
            await asyncio.sleep(delay)

    def _timeout_error(self, url: str) -> MeshlineError:
        remaining = current_context().remaining()
        if remaining is not None and remaining <= MIN_TIMEOUT_S:
            return DeadlineExceeded(f"deadline reached while waiting for {url}")
        return UpstreamError(f"{url} timed out", code="upstream_timeout")

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """Open a streamed response; connect failures are retried, nothing after the first byte is."""
        all_headers = self._headers(token, headers)
        self.retry_budget.record_call()
        attempt = 0
        while True:
            attempt += 1
            timeout = self._timeout(timeout_s)
            request = self._http.build_request(method, url, json=json, headers=all_headers, timeout=timeout)
            try:
                async with asyncio.timeout(timeout.read):  # until the response head arrives
                    response = await self._http.send(request, stream=True)
                break
            except (httpx.ConnectError, httpx.ConnectTimeout, AttributeError) as exc:
                if isinstance(exc, AttributeError) and not killed_mid_connect(exc):
                    raise
                delay = self.retry.delay(attempt)
                if attempt >= self.retry.max_attempts or not self._may_retry(delay, url, "connect"):
                    raise ServiceUnavailable(f"cannot connect to {url}: {exc}", code="connect_failed") from exc
                await asyncio.sleep(delay)
            except (httpx.TimeoutException, TimeoutError) as exc:
                raise self._timeout_error(url) from exc
            except httpx.HTTPError as exc:  # the request may have reached it: not repeated here
                raise UpstreamError(f"call to {url} failed: {type(exc).__name__}: {exc}", code=STREAM_BROKEN) from exc
        try:
            yield response
        except httpx.TimeoutException as exc:
            raise self._timeout_error(url) from exc
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise UpstreamError(f"stream from {url} broke: {exc}", code=STREAM_BROKEN) from exc
        finally:
            await response.aclose()


def killed_mid_connect(exc: AttributeError) -> bool:
    """httpcore asks anyio for the peer of a socket the peer closed as it connected (a process
    killed at that moment) and anyio fails with AttributeError: nothing was sent, so it is a
    connect failure like any other."""
    return "getpeername" in str(exc)


def raise_for_problem(response: httpx.Response) -> None:
    """Turn an error response (problem+json or not) into the matching MeshlineError."""
    if response.status_code < 400:
        return
    detail, code, retryable = response.text[:500], "upstream_error", response.status_code in (502, 503, 504, 429)
    try:
        body = response.json()
        if isinstance(body, dict):
            detail = str(body.get("detail") or body.get("title") or detail)
            code = str(body.get("code") or code)
            retryable = bool(body.get("retryable", retryable))
    except ValueError:
        pass
    headers = {"retry-after": response.headers["retry-after"]} if "retry-after" in response.headers else None
    raise MeshlineError(detail, code=code, status=response.status_code, retryable=retryable, headers=headers)
