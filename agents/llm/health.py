"""What each replica observes of each model group: sliding windows for rollback, cooldowns.

``HealthWindows`` keeps, per version (``alias@version``), the outcomes and latencies of the last
``window_s`` seconds and says when a version breaches the error-rate or latency thresholds.
``Cooldowns`` takes a group out of the fallback chain for ``cooldown_s`` after ``failures``
failures within ``window_s`` — for every group, including the single-deployment ones litellm
never cools down — so callers fail fast to the next group instead of waiting on a dead one.
Both are per replica and in memory: they judge what this replica sees, with no Redis hop.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from meshline.resilience import SYSTEM_CLOCK, Clock


@dataclass(frozen=True)
class RollbackThresholds:
    window_s: float
    min_requests: int
    max_error_rate: float
    max_p95_latency_s: float


@dataclass
class _Window:
    samples: deque[tuple[float, bool, float]] = field(default_factory=deque)  # (at, ok, latency_s)

    def trim(self, now: float, window_s: float) -> None:
        while self.samples and now - self.samples[0][0] > window_s:
            self.samples.popleft()


@dataclass(frozen=True)
class WindowStats:
    requests: int
    errors: int
    p95_latency_s: float

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


class HealthWindows:
    """Per-version outcome windows and the rollback rule; ``clock`` ages samples out (injectable for tests)."""

    def __init__(self, thresholds: RollbackThresholds, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.thresholds = thresholds
        self.clock = clock
        self._windows: dict[str, _Window] = {}

    def record(self, group: str, ok: bool, latency_s: float) -> None:
        window = self._windows.setdefault(group, _Window())
        now = self.clock.monotonic()
        window.samples.append((now, ok, latency_s))
        window.trim(now, self.thresholds.window_s)

    def stats(self, group: str) -> WindowStats:
        window = self._windows.get(group)
        if window is None:
            return WindowStats(0, 0, 0.0)
        window.trim(self.clock.monotonic(), self.thresholds.window_s)
        latencies = sorted(s[2] for s in window.samples if s[1])
        p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies else 0.0
        errors = sum(1 for s in window.samples if not s[1])
        return WindowStats(len(window.samples), errors, p95)

    def breach(self, group: str) -> str | None:
        """Why ``group`` should be rolled back, or None while it is within its thresholds."""
        stats = self.stats(group)
        limits = self.thresholds
        if stats.requests < limits.min_requests:
            return None
        if stats.error_rate > limits.max_error_rate:
            return f"error rate {stats.error_rate:.0%} over {stats.requests} calls > {limits.max_error_rate:.0%}"
        if stats.p95_latency_s > limits.max_p95_latency_s:
            return f"p95 latency {stats.p95_latency_s:.2f}s > {limits.max_p95_latency_s:.2f}s"
        return None

    def forget(self, group: str) -> None:
        self._windows.pop(group, None)


class Cooldowns:
    """Failure counting per group; a group with too many recent failures is skipped for a while.

    ``clock`` measures the window and the cooldown (injectable for tests).
    """

    def __init__(self, failures: int, window_s: float, cooldown_s: float, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.failures, self.window_s, self.cooldown_s = failures, window_s, cooldown_s
        self.clock = clock
        self._failed: dict[str, deque[float]] = {}
        self._until: dict[str, float] = {}

    def cooling(self, group: str) -> float:
        """Seconds left of ``group``'s cooldown (0 when it may be called)."""
        left = self._until.get(group, 0.0) - self.clock.monotonic()
        return left if left > 0 else 0.0

    def failed(self, group: str) -> None:
        now = self.clock.monotonic()
        times = self._failed.setdefault(group, deque())
        times.append(now)
        while times and now - times[0] > self.window_s:
            times.popleft()
        if len(times) >= self.failures:
            self._until[group] = now + self.cooldown_s
            times.clear()

    def succeeded(self, group: str) -> None:
        self._failed.pop(group, None)
