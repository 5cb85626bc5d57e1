"""Bounding work by the request's deadline, so nothing runs on after the caller has given up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from meshline.errors import DeadlineExceeded
from meshline.service.context import current_context


def time_left(reserve_s: float = 0.0) -> float | None:
    """Seconds left before the deadline minus ``reserve_s``, or None when there is no deadline."""
    remaining = current_context().remaining()
    return None if remaining is None else remaining - reserve_s


@asynccontextmanager
async def before_deadline(
    reserve_s: float = 0.0, what: str = "the call", budget_s: float | None = None
) -> AsyncIterator[None]:
    """Cancel the block ``reserve_s`` before the deadline (or after ``budget_s``, if sooner) and
    raise DeadlineExceeded instead.

    The reserve leaves the caller time to answer with what it has (a degraded reply, a saved
    turn) rather than being cut off at the very moment the user stops waiting.
    """
    left = time_left(reserve_s)
    if budget_s is not None:
        left = budget_s if left is None else min(left, budget_s)
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
