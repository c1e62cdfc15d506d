"""The client's flow pool: one opening shared by concurrent callers, failed flows dropped,
a newer flow kept, pending openings stopped on close (the real flows are the client tests')."""

from __future__ import annotations

import asyncio

import pytest

from siplocate.client.flows import FlowPool
from siplocate.target import Target, Transport

T = Target(Transport.TCP, "sip1.test", 5060, "127.0.0.2", 10, 0)


class Flow:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.closed = False

    def close(self) -> None:
        self.closed = True


async def test_concurrent_callers_share_one_opening_and_reuse_the_flow() -> None:
    opened: list[Flow] = []
    gate = asyncio.Event()

    async def opener(target: Target) -> Flow:
        await gate.wait()
        opened.append(Flow(target))
        return opened[-1]

    pool = FlowPool(opener)  # type: ignore[arg-type]
    waiting = [asyncio.ensure_future(pool.get(T, 5)) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    flows = await asyncio.gather(*waiting)
    assert len(opened) == 1 and all(f is opened[0] for f in flows)
    assert pool.pooled(T) is opened[0] and await pool.get(T, 5) is opened[0]


async def test_a_failed_flow_is_dropped_but_a_newer_one_is_kept() -> None:
    async def opener(target: Target) -> Flow:
        return Flow(target)

    pool = FlowPool(opener)  # type: ignore[arg-type]
    old = await pool.get(T, 5)
    old.closed = True  # it failed
    new = await pool.get(T, 5)
    assert new is not old
    pool.drop(old)  # the late error report of the old flow
    assert pool.pooled(T) is new
    pool.drop(new)
    assert pool.pooled(T) is None and new.closed


async def test_close_stops_openings_and_closes_flows() -> None:
    async def never(target: Target) -> Flow:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    pool = FlowPool(never)  # type: ignore[arg-type]
    pending = asyncio.ensure_future(pool.get(T, 5))
    await asyncio.sleep(0)
    pool.close()
    with pytest.raises(asyncio.CancelledError):
        await pending


async def test_an_opening_that_takes_too_long_times_out() -> None:
    async def slow(target: Target) -> Flow:
        await asyncio.sleep(10)
        return Flow(target)

    pool = FlowPool(slow)  # type: ignore[arg-type]
    with pytest.raises(TimeoutError):
        await pool.get(T, 0.01)
    assert pool.pooled(T) is None
