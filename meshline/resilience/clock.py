"""The clock the resilience state machines read, injectable so tests need not sleep.

Breaker cooldowns, health windows and poll timestamps all ask "what time is it"; reading it
through a ``Clock`` lets a test move time forward by hand (``meshline.testing.clock.ManualClock``)
instead of sleeping past a cooldown against the real one.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """``monotonic()`` for durations, ``time()`` for wall-clock stamps shared across processes."""

    def monotonic(self) -> float: ...
    def time(self) -> float: ...


class SystemClock:
    """The real clock: ``time.monotonic`` and ``time.time``."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()


SYSTEM_CLOCK: Clock = SystemClock()
