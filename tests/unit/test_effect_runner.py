"""The shared effect runner: effects in order, timers armed on the injected clock."""

from __future__ import annotations

import asyncio

import pytest

from siplocate.client.effects import EffectRunner, within
from siplocate.clock import ManualClock


class Echo(EffectRunner[str, str]):
    """A toy machine's runner: ``arm:NAME:SECONDS`` arms, ``again`` re-enters, the rest is
    recorded; a fired timer becomes the effect ``fired:NAME``."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock)
        self.done: list[str] = []
        self.settles = 0

    def carry_out(self, effect: str) -> None:
        if effect.startswith("arm:"):
            _, name, seconds = effect.split(":")
            self.arm(name, float(seconds))
        elif effect.startswith("disarm:"):
            self.disarm(effect.split(":")[1])
        elif effect == "again":
            self.apply(["queued"])  # arises mid-batch: runs after the batch, not inside it
            self.done.append(effect)
        else:
            self.done.append(effect)

    SLOTS = 5  # one per timer name; a runner may also share a slot among timers

    def slot(self, timer: str) -> int:
        return "ABCEF".index(timer)

    def on_timer(self, timer: str) -> list[str]:
        return [f"fired:{timer}"]

    def settled(self) -> None:
        self.settles += 1


async def test_timers_fire_on_the_injected_clock_not_the_loop() -> None:
    clock = ManualClock()
    runner = Echo(clock)
    runner.apply(["arm:F:32", "arm:E:0.5"])
    await clock.advance(0.4)
    assert runner.done == []
    await clock.advance(0.1)
    assert runner.done == ["fired:E"]
    await clock.advance(31.4)
    assert runner.done == ["fired:E"]
    await clock.advance(0.1)
    assert runner.done == ["fired:E", "fired:F"]


async def test_arming_a_timer_again_replaces_it_and_disarm_and_close_cancel() -> None:
    clock = ManualClock()
    runner = Echo(clock)
    runner.apply(["arm:A:1", "arm:A:5", "arm:B:2", "arm:C:3", "disarm:B"])
    await clock.advance(4)
    assert runner.done == ["fired:C"]  # A moved to 5 s, B disarmed
    runner.close()
    await clock.advance(10)
    assert runner.done == ["fired:C"]


def test_effects_arising_mid_batch_queue_behind_it_and_settle_once() -> None:
    runner = Echo(ManualClock())
    runner.apply(["one", "again", "two"])
    assert runner.done == ["one", "again", "two", "queued"]
    assert runner.settles == 1


async def test_within_bounds_work_on_the_injected_clock() -> None:
    clock = ManualClock()

    async def takes(seconds: float) -> float:
        await clock.sleep(seconds)
        return seconds

    quick = asyncio.ensure_future(within(clock, 5.0, takes(1.0)))
    slow = asyncio.ensure_future(within(clock, 5.0, takes(9.0)))
    await clock.advance(1.0)
    assert quick.done() and quick.result() == 1.0
    assert not slow.done()
    await clock.advance(4.0)
    with pytest.raises(TimeoutError):
        await slow


class Worker(EffectRunner[str, str]):
    """A toy machine whose ``work:NAME`` effects are async work (held: the effects after it
    wait for its result; ``bg:NAME``: not held); a result ``NAME`` comes back as the effect
    ``got:NAME``; ``boom`` work raises."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock)
        self.done: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.failures: list[BaseException] = []

    async def job(self, name: str) -> str:
        gate = self.gates.setdefault(name, asyncio.Event())
        await gate.wait()
        if name == "boom":
            raise RuntimeError(name)
        return name

    def carry_out(self, effect: str) -> None:
        kind, _, name = effect.partition(":")
        if kind in ("work", "bg"):
            self.start(self.job(name), lambda got: [f"got:{got}"], hold=kind == "work")
        else:
            self.done.append(effect)

    def on_timer(self, timer: str) -> list[str]:
        return [f"fired:{timer}"]

    def crashed(self, error: BaseException) -> None:
        self.failures.append(error)

    async def finish(self, name: str) -> None:
        self.gates.setdefault(name, asyncio.Event()).set()
        for _ in range(5):  # bounded: the task, its result, the effects
            await asyncio.sleep(0)


async def test_held_work_runs_like_an_await_in_the_effect_list() -> None:
    runner = Worker(ManualClock())
    runner.apply(["one", "work:a", "two"])
    runner.apply(["later"])  # arrives while the work is in flight: waits behind it too
    assert runner.done == ["one"]
    await runner.finish("a")
    assert runner.done == ["one", "got:a", "two", "later"]


async def test_unheld_work_lets_the_rest_go_on_and_feeds_its_result_back() -> None:
    runner = Worker(ManualClock())
    runner.apply(["bg:w", "next"])
    assert runner.done == ["next"]
    await runner.finish("w")
    assert runner.done == ["next", "got:w"]
    await runner.idle()


async def test_idle_waits_for_work_and_close_cancels_it() -> None:
    runner = Worker(ManualClock())
    runner.apply(["work:a"])
    waiting = asyncio.ensure_future(runner.idle())
    await asyncio.sleep(0)
    assert not waiting.done()
    await runner.finish("a")
    await waiting
    runner.apply(["work:b", "after"])
    runner.close()  # the work is cancelled and what it held dropped
    await runner.finish("b")
    assert runner.done == ["got:a"]
    runner.apply(["fresh"])  # a closed runner takes effects again
    assert runner.done == ["got:a", "fresh"]


async def test_work_that_raises_goes_to_crashed_and_drops_what_it_held() -> None:
    runner = Worker(ManualClock())
    runner.apply(["work:boom", "never"])
    await runner.finish("boom")
    assert [str(e) for e in runner.failures] == ["boom"]
    runner.apply(["again"])
    assert runner.done == ["again"]
