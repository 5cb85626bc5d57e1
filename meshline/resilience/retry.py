"""Which failures are retried, and how long to wait between attempts."""

from __future__ import annotations

import random
import time
from collections import deque
from dataclasses import dataclass

import httpx

RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@dataclass(frozen=True)
class RetryPolicy:
    """Jittered exponential backoff ("full jitter"), capped, honouring Retry-After."""

    max_attempts: int = 3
    base_delay_s: float = 0.05
    max_delay_s: float = 2.0

    def delay(self, attempt: int, retry_after_s: float | None = None) -> float:
        """Seconds to wait before attempt number ``attempt + 1`` (attempts count from 1)."""
        if retry_after_s is not None:
            return min(retry_after_s, self.max_delay_s)
        ceiling = min(self.max_delay_s, self.base_delay_s * (2 ** (attempt - 1)))
        return random.uniform(0, ceiling)


def retry_after_seconds(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None  # HTTP-date form: fall back to backoff


def is_retryable_status(status: int, *, idempotent: bool) -> bool:
    """A 503/429 means the server refused before doing work; 502/504 may hide work done."""
    if status in (429, 503):
        return True
    return idempotent and status in RETRYABLE_STATUS


class RetryBudget:
    """Retries may add at most ``ratio`` of the calls made in the last ``window_s`` seconds.

    During an outage every call fails, and per-call retries alone would multiply the load on
    the struggling service by ``max_attempts``; the budget caps that extra load (plus a small
    floor so that a quiet client can still retry). The same idea as Envoy's and Finagle's.
    """

    def __init__(self, ratio: float = 0.2, min_per_s: float = 2.0, window_s: float = 10.0) -> None:
        self.ratio = ratio
        self.floor = min_per_s * window_s
        self.window_s = window_s
        self._calls: deque[float] = deque()
        self._retries: deque[float] = deque()

    def _trim(self, now: float) -> None:
        for events in (self._calls, self._retries):
            while events and events[0] <= now - self.window_s:
                events.popleft()

    def record_call(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._calls.append(now)
        self._trim(now)

    def try_spend(self, now: float | None = None) -> bool:
        """Take one retry from the budget; False when it is spent."""
        now = time.monotonic() if now is None else now
        self._trim(now)
        if len(self._retries) >= max(self.floor, self.ratio * len(self._calls)):
            return False
        self._retries.append(now)
        return True
