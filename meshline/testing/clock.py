"""A clock a test moves by hand, for code that takes a ``meshline.resilience.clock.Clock``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ManualClock:
    """Stands still until ``advance``; ``time()`` and ``monotonic()`` move together.

    ``wall`` starts at a fixed, plausible epoch so wall-clock arithmetic (buckets per second,
    stamps compared across replicas) behaves as it would on the real clock.
    """

    now: float = 1000.0
    wall: float = 1_700_000_000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.wall + self.now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (never backward: a monotonic clock does not)."""
        if seconds < 0:
            raise ValueError("a clock does not run backward")
        self.now += seconds
