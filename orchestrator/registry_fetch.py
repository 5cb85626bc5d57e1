"""The registry's own HTTP client: GETs of a registered service's fixed paths, guarded and bounded.

Separate from the orchestrator's shared client on purpose: every connection it opens goes
through the address guard (and none is kept alive, so each request is re-resolved and checked),
a body is read up to a cap, and a failure is described in our own words. What a registered URL
answered never comes back to the caller beyond its status code: an internal page fetched by a
crafted registration must not leak through an error.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
from pydantic import ValidationError

from meshline.errors import MeshlineError, UpstreamError
from meshline.resilience import AddressGuard, GuardedTransport, ServiceUrl
from meshline.service import current_context

MAX_BODY_BYTES = 1_000_000  # a manifest is a few kB; a larger answer is not one


@dataclass(frozen=True)
class Fetched:
    status: int
    body: bytes


class GuardedFetcher:
    def __init__(self, guard: AddressGuard, *, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._http = httpx.AsyncClient(
            transport=GuardedTransport(guard),
            timeout=httpx.Timeout(timeout_s),
            trust_env=False,  # no .netrc credentials for a URL someone else chose
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get(self, base: ServiceUrl, *segments: str) -> Fetched:
        """``GET base/segments...``: status and body; raises a MeshlineError that names the failure only."""
        path = "/" + "/".join(segments)
        budget = self.timeout_s
        remaining = current_context().remaining()
        if remaining is not None:
            budget = max(min(budget, remaining), 0.05)
        headers = {"traceparent": current_context().traceparent(), "accept": "application/json"}
        try:
            async with asyncio.timeout(budget):  # the whole exchange, a trickling body included
                async with self._http.stream("GET", base.endpoint(*segments), headers=headers) as response:
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > MAX_BODY_BYTES:
                            raise UpstreamError(f"GET {path} answered more than {MAX_BODY_BYTES} bytes")
                    return Fetched(response.status_code, bytes(body))
        except MeshlineError:
            raise
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise UpstreamError(f"GET {path} timed out after {budget:.1f}s", code="upstream_timeout") from exc
        except httpx.ConnectError as exc:
            raise UpstreamError(f"GET {path}: could not connect", code="connect_failed") from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(f"GET {path} failed ({type(exc).__name__})") from exc


def validation_summary(exc: ValidationError) -> str:
    """Where a document failed validation, never the values it held (they are upstream bytes)."""
    places = sorted({".".join(str(p) for p in error["loc"]) or "(document)" for error in exc.errors()})
    shown = ", ".join(places[:10]) + (", ..." if len(places) > 10 else "")
    return f"{exc.error_count()} error(s) at {shown}"
