"""Bounding work by the request's deadline, so nothing runs on after the caller has given up.

Two limits, told apart in the error's code because they blame different parties: the caller's
deadline (``deadline_exceeded``: the caller's own budget ran out, whoever was working at that
moment) and a target's own budget within it (``budget_timeout``: the target took longer than it
is allowed to). Circuit breakers count only the second (``counts_as_failure``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from meshline.errors import DeadlineExceeded, Unprocessable
from meshline.service import current_context

BUDGET_TIMEOUT = "budget_timeout"


def time_left(reserve_s: float = 0.0) -> float | None:
    """Seconds left before the deadline minus ``reserve_s``, or None when there is no deadline."""
    remaining = current_context().remaining()
    return None if remaining is None else remaining - reserve_s


@asynccontextmanager
async def before_deadline(reserve_s: float = 0.0, what: str = "the call") -> AsyncIterator[None]:
    """Cancel the block ``reserve_s`` before the deadline and raise DeadlineExceeded instead.

    The reserve leaves the caller time to answer with what it has (a degraded reply, a saved
    turn) rather than being cut off at the very moment the user stops waiting.
    """
    left = time_left(reserve_s)
    if left is None:
        yield
        return
    if left <= 0:
        raise DeadlineExceeded(f"no time left for {what} before the deadline")
    try:
        async with asyncio.timeout(left):
            yield
    except TimeoutError as exc:
        raise DeadlineExceeded(f"{what} did not finish before the deadline") from exc


@asynccontextmanager
async def within_budget(budget_s: float | None, what: str = "the call") -> AsyncIterator[None]:
    """Cancel the block after ``budget_s`` (None: no budget of its own) and raise a 504 that blames it."""
    if budget_s is None:
        yield
        return
    try:
        async with asyncio.timeout(budget_s):
            yield
    except TimeoutError as exc:
        raise DeadlineExceeded(f"{what} took longer than its own budget of {budget_s:g}s", code=BUDGET_TIMEOUT) from exc


@dataclass(frozen=True)
class TurnTimeouts:
    """How long a turn may be given: ``default_s`` when the request names none, else between the bounds.

    The minimum is what a turn needs to answer at all (the dispatch reserve, the time a fallback
    needs, and a real call): a shorter deadline is one the request made impossible, so it is the
    caller's error (422), never a retryable 504.
    """

    default_s: float = 120.0
    min_s: float = 4.0
    max_s: float = 300.0

    def budget(self, requested_s: float | None, inbound_left_s: float | None = None) -> float:
        """Seconds the turn gets. ``inbound_left_s``: what an ``X-Meshline-Deadline`` the request
        came with leaves (a public caller could set one), bounded like ``timeout_s``."""
        budget = self.default_s if requested_s is None else requested_s
        source = None if requested_s is None else "timeout_s"  # the operator's default is not checked
        if inbound_left_s is not None and inbound_left_s < budget:
            budget, source = inbound_left_s, "the X-Meshline-Deadline header"
        if source is not None and not self.min_s <= budget <= self.max_s:
            raise Unprocessable(
                f"{source} gives the turn {budget:.3g}s; this mesh allows {self.min_s:g} to {self.max_s:g}s "
                "(the minimum leaves time to call an agent, fall back and save the turn)",
                code="timeout_out_of_range",
            )
        return budget
