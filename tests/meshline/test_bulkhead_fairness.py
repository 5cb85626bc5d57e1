"""The bulkhead shares an agent's slots fairly: one tenant holds at most its share, waiters are
served round-robin across tenants, and a holder cut at the deadline or cancelled frees its slot."""

from __future__ import annotations

import asyncio
import time

import pytest

from meshline.errors import DeadlineExceeded
from meshline.resilience.bulkhead import Bulkhead, BulkheadFull, BulkheadPolicy
from meshline.resilience.deadlines import before_deadline
from meshline.service.context import current_context


async def hold(bulkhead: Bulkhead, tenant: str, release: asyncio.Event, log: list[str] | None = None) -> None:
    async with bulkhead.slot("commerce", tenant):
        if log is not None:
            log.append(tenant)
        await release.wait()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_tenant_share_is_at_least_one_slot() -> None:
    assert BulkheadPolicy(max_concurrent=32, tenant_share=0.5).tenant_cap() == 16
    assert BulkheadPolicy(max_concurrent=3, tenant_share=0.5).tenant_cap() == 1
    assert BulkheadPolicy(max_concurrent=1, tenant_share=0.1).tenant_cap() == 1
    assert BulkheadPolicy(max_concurrent=4, tenant_share=1.0).tenant_cap() == 4


async def test_a_noisy_tenant_holding_its_share_cannot_starve_another() -> None:
    bulkhead = Bulkhead(BulkheadPolicy(max_concurrent=4, max_wait_s=0.05, tenant_share=0.5))
    release = asyncio.Event()
    noisy = [asyncio.create_task(hold(bulkhead, "noisy", release)) for _ in range(2)]
    await settle()
    assert bulkhead.held_by("commerce", "noisy") == 2
    with pytest.raises(BulkheadFull) as refused:  # its third call waits for its own slots, then 503
        async with bulkhead.slot("commerce", "noisy"):
            raise AssertionError("over its share")
    assert "this tenant" in refused.value.detail and refused.value.headers["retry-after"] == "1"
    # Two slots are free for everyone else, at once.
    started = time.perf_counter()
    async with bulkhead.slot("commerce", "quiet"), bulkhead.slot("commerce", "quiet"):
        assert bulkhead.in_use("commerce") == 4
    assert time.perf_counter() - started < 0.04
    release.set()
    await asyncio.gather(*noisy)
    assert bulkhead.in_use("commerce") == 0 and bulkhead.waiting("commerce") == 0


async def test_waiters_are_served_round_robin_across_tenants_fifo_within_one() -> None:
    bulkhead = Bulkhead(BulkheadPolicy(max_concurrent=1, max_wait_s=5, tenant_share=1.0))
    order: list[str] = []
    first = asyncio.Event()
    holder = asyncio.create_task(hold(bulkhead, "a", first))
    await settle()
    done = asyncio.Event()
    done.set()  # each waiter leaves as soon as it is served
    # Tenant a queues four calls before b and c queue one each: one global FIFO would serve a, a, a, a, b, c.
    waiters = [asyncio.create_task(hold(bulkhead, tenant, done, order)) for tenant in "aaaabc"]
    await settle()
    assert bulkhead.waiting("commerce") == 6
    first.set()
    await asyncio.gather(holder, *waiters)
    assert order == ["a", "b", "c", "a", "a", "a"]


async def test_a_free_slot_goes_to_a_tenant_below_its_share_not_the_first_waiter() -> None:
    bulkhead = Bulkhead(BulkheadPolicy(max_concurrent=2, max_wait_s=5, tenant_share=0.5))
    release_noisy, release_quiet = asyncio.Event(), asyncio.Event()
    noisy = asyncio.create_task(hold(bulkhead, "noisy", release_noisy))
    quiet = asyncio.create_task(hold(bulkhead, "quiet", release_quiet))
    await settle()
    order: list[str] = []
    done = asyncio.Event()
    done.set()
    noisy_waiter = asyncio.create_task(hold(bulkhead, "noisy", done, order))  # waits for its own slot
    await settle()
    quiet_waiter = asyncio.create_task(hold(bulkhead, "quiet", done, order))
    await settle()
    release_quiet.set()  # the quiet tenant's slot frees: the noisy waiter is first but at its share
    await quiet
    await quiet_waiter
    assert order == ["quiet"] and bulkhead.held_by("commerce", "noisy") == 1
    release_noisy.set()
    await asyncio.gather(noisy, noisy_waiter)
    assert order == ["quiet", "noisy"] and bulkhead.in_use("commerce") == 0


async def test_a_slot_is_freed_at_the_deadline() -> None:
    bulkhead = Bulkhead(BulkheadPolicy(max_concurrent=1, max_wait_s=5))
    never = asyncio.Event()

    async def hang_until_the_deadline() -> None:
        current_context().deadline = time.time() + 0.3
        async with before_deadline(0.1, "the commerce agent"):
            await hold(bulkhead, "noisy", never)

    started = time.perf_counter()
    cut = asyncio.create_task(hang_until_the_deadline())
    await settle()
    assert bulkhead.in_use("commerce") == 1
    async with bulkhead.slot("commerce", "quiet"):  # waits only until the holder's deadline
        waited = time.perf_counter() - started
    with pytest.raises(DeadlineExceeded):
        await cut
    assert 0.1 < waited < 1.0, waited
    assert bulkhead.in_use("commerce") == 0


async def test_cancelling_a_holder_or_a_waiter_releases_what_it_had() -> None:
    bulkhead = Bulkhead(BulkheadPolicy(max_concurrent=1, max_wait_s=5))
    never = asyncio.Event()
    holder = asyncio.create_task(hold(bulkhead, "a", never))
    await settle()
    waiter = asyncio.create_task(hold(bulkhead, "b", never))
    await settle()
    assert (bulkhead.in_use("commerce"), bulkhead.waiting("commerce")) == (1, 1)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert bulkhead.waiting("commerce") == 0
    holder.cancel()
    await asyncio.gather(holder, return_exceptions=True)
    assert bulkhead.in_use("commerce") == 0 and bulkhead.held_by("commerce", "a") == 0
    async with bulkhead.slot("commerce", "c"):
        assert bulkhead.in_use("commerce") == 1


async def test_a_waiter_granted_as_it_is_cancelled_hands_the_slot_on() -> None:
    bulkhead = Bulkhead(BulkheadPolicy(max_concurrent=1, max_wait_s=5))
    never = asyncio.Event()
    async with bulkhead.slot("commerce", "a"):
        granted_then_cancelled = asyncio.create_task(hold(bulkhead, "b", never))
        await settle()
        late = asyncio.create_task(hold(bulkhead, "c", never))
        await settle()
    # Leaving the block handed the slot to b; b is cancelled before it runs again.
    granted_then_cancelled.cancel()
    await asyncio.gather(granted_then_cancelled, return_exceptions=True)
    await settle()
    assert bulkhead.held_by("commerce", "b") == 0
    assert bulkhead.held_by("commerce", "c") == 1 and bulkhead.in_use("commerce") == 1
    late.cancel()
    await asyncio.gather(late, return_exceptions=True)
    assert bulkhead.in_use("commerce") == 0
