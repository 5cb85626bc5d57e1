"""Wait for a condition instead of sleeping a fixed time and hoping it happened.

A fixed sleep is either too short on a loaded machine (the test flakes) or too long everywhere
else (the suite crawls). ``wait_until`` polls the condition and returns as soon as it holds,
failing with ``WaitTimeout`` after ``timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

POLL_S = 0.01


class WaitTimeout(AssertionError):
    """The condition did not hold within the timeout (an AssertionError, so pytest reports it as a failure)."""


def wait_until_sync(
    condition: Callable[[], object], timeout: float = 5.0, what: str = "", interval: float = POLL_S
) -> None:
    """Block until ``condition()`` is truthy; raise ``WaitTimeout`` (saying ``what``) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise WaitTimeout(_message(condition, timeout, what))
        time.sleep(interval)


async def wait_until(
    condition: Callable[[], object | Awaitable[object]],
    timeout: float = 5.0,  # noqa: ASYNC109 - a poll with a deadline, named like its sync twin
    what: str = "",
    interval: float = POLL_S,
) -> None:
    """Await until ``condition()`` (sync or async) is truthy; raise ``WaitTimeout`` (saying ``what``) after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() >= deadline:
            raise WaitTimeout(_message(condition, timeout, what))
        await asyncio.sleep(interval)


def _message(condition: Callable[..., object], timeout: float, what: str) -> str:
    return f"not within {timeout}s: {what or getattr(condition, '__qualname__', repr(condition))}"
