"""The client on one injected clock: down-memory on monotonic time (a step of the wall clock
neither revives a dead server nor keeps a live one down), wall time only for stamps, the
health monitor's rounds on the clock's sleep."""

from __future__ import annotations

import asyncio
import math

from siplocate.client import HealthMonitor, SipClient
from siplocate.client.failover import Failover, Failure, Policy
from siplocate.client.flows import FlowPool
from siplocate.client.walker import NO_ANSWER, Attempt
from siplocate.clock import Clock, ManualClock
from siplocate.sip.transport import Connection
from siplocate.target import Target, Transport

A = Target(Transport.UDP, "192.0.2.1", 5060, "192.0.2.1", 0, 0)
B = Target(Transport.UDP, "192.0.2.2", 5060, "192.0.2.2", 0, 0)


class SteppedClock(ManualClock):
    """A ManualClock whose wall clock can be stepped (NTP, an admin) apart from its
    monotonic time, which never moves but forward."""

    def __init__(self) -> None:
        super().__init__()
        self.step = 0.0

    def wall(self) -> float:
        return super().wall() + self.step

    def time(self) -> float:
        return self.wall()


def client_on(clock: Clock, **kwargs: object) -> SipClient:
    return SipClient(
        "sip:alice@example.test",
        static=["192.0.2.1", "192.0.2.2"],
        clock=clock,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_a_down_target_stays_down_across_wall_clock_steps_for_down_for() -> None:
    clock = SteppedClock()
    client = client_on(clock, down_for=30.0)
    client.mark(A, False)
    clock.step = 3600.0  # the wall clock jumps an hour ahead: still down
    assert client.is_down(A)
    clock.step = -3600.0  # and an hour back: not down any longer than down_for
    await clock.advance(29.9)
    assert client.is_down(A)
    await clock.advance(0.2)
    assert not client.is_down(A)


async def test_a_retry_after_runs_on_monotonic_time() -> None:
    clock = SteppedClock()
    client = client_on(clock)
    client.mark(B, False, failure=Failure.UNAVAILABLE, retry_after=5.0)
    clock.step = 86_400.0
    assert client.is_down(B)
    await clock.advance(5.1)
    assert not client.is_down(B)


async def test_until_is_unix_time_converted_once_at_the_boundary() -> None:
    """``mark(until=...)`` keeps its contract (Unix time): a target down until a minute
    from now is down for a minute of monotonic time, whatever the wall clock does next."""
    clock = SteppedClock()
    client = client_on(clock)
    client.mark(A, False, until=clock.wall() + 60)
    client.mark(B, False, until=math.inf)
    clock.step = 7200.0
    await clock.advance(59)
    assert client.is_down(A)
    await clock.advance(2)
    assert not client.is_down(A)
    assert client.is_down(B)  # until seen up
    client.observed(B, True)
    assert not client.is_down(B)


async def test_sticky_ttl_follows_the_dns_expiry_on_monotonic_time() -> None:
    clock = SteppedClock()
    failover = Failover(Policy.STICKY_TTL, clock=clock)
    failover.mark(B, True, expires=clock.wall() + 10)  # the DNS answer lives 10 s more
    clock.step = -3600.0  # a step back would keep it sticky an hour too long on wall time
    assert failover.order([A, B], clock.monotonic())[0] == B
    await clock.advance(10.1)
    assert failover.order([A, B], clock.monotonic())[0] == A


class Fleet:
    """A client as the monitor sees it (``health.Probed``): two targets, A never answers."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.failover_after: float | None = None
        self.probes: list[tuple[float, Target]] = []
        self.verdicts: list[tuple[Target, bool]] = []

    async def targets(self) -> tuple[list[Target], float | None]:
        return [A, B], None

    async def probe(self, target: Target, budget: float | None = None) -> Attempt:
        self.probes.append((self.clock.monotonic(), target))
        status = None if target == A else 200
        return Attempt(target, status=status, at=self.clock.wall())

    def observed(self, target: Target, up: bool, *, changed: bool = True) -> None:
        if changed:
            self.verdicts.append((target, up))


async def test_health_rounds_run_on_the_injected_clock() -> None:
    clock = ManualClock()
    fleet = Fleet(clock)
    monitor = HealthMonitor(fleet, interval=2.0).start()
    try:
        await clock.advance(0)
        assert monitor.rounds == 1
        await clock.advance(5 * 2.0)  # five intervals of the clock, no real waiting
        assert monitor.rounds == 6
        assert [t for t, _ in fleet.probes[:2]] == [0.0, 0.0]
        assert sorted({t for t, _ in fleet.probes}) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
        assert fleet.verdicts == [(A, False), (B, True)]  # changes only, once each
    finally:
        await monitor.stop()


class Silent(Connection):
    """A flow whose far end never answers: it only counts what is written to it."""

    def __init__(self, target: Target) -> None:
        super().__init__(target, lambda m, c: None, lambda e, c: None)
        self.local = ("127.0.0.1", 40000)
        self.writes = 0

    def _write(self, data: bytes) -> None:
        self.writes += 1


async def test_a_request_walks_on_the_injected_clock() -> None:
    """Retransmissions (Timer E), the failover budget and the attempts' figures all come
    from the client's clock: two silent targets, 2 s budget each, no real waiting."""
    clock = SteppedClock()
    client = client_on(clock, failover_after=2.0)
    flows: dict[str, Silent] = {}  # by address

    async def opener(target: Target) -> Connection:
        return flows.setdefault(target.address, Silent(target))

    client.flows = FlowPool(opener)
    started = clock.wall()
    request = asyncio.ensure_future(client.options())
    await clock.advance(0)
    assert flows[A.address].writes == 1 and B.address not in flows
    await clock.advance(1.0)
    assert flows[A.address].writes == 2  # Timer E at 0.5 s (the next at 1.5 s)
    clock.step = 3600.0  # a wall-clock step mid-request: no duration changes
    await clock.advance(1.0)
    assert B.address in flows  # the budget ran out on the clock: the next target
    await clock.advance(2.0)
    outcome = await request
    assert [a.target.address for a in outcome.attempts] == [A.address, B.address]
    assert [a.ms for a in outcome.attempts] == [2000.0, 2000.0]
    # Stamps within one request: its start's wall time plus monotonic time since then.
    assert [a.at for a in outcome.attempts] == [started, started + 2.0]
    assert all(client.is_down(t) for t in client.last_targets)
    await client.close()


async def test_a_probe_is_bounded_by_its_budget_on_the_injected_clock() -> None:
    clock = ManualClock()
    client = client_on(clock)
    silent = Silent(A)

    async def opener(target: Target) -> Connection:
        return silent

    client.flows = FlowPool(opener)
    started = clock.wall()
    probe = asyncio.ensure_future(client.probe(A, 1.5))
    await clock.advance(1.4)
    assert not probe.done()
    assert silent.writes == 2  # Timer E at 0.5 s, on the same clock
    await clock.advance(0.2)
    attempt = await probe
    assert attempt.status is None and attempt.error == NO_ANSWER
    assert attempt.ms == 1500.0 and attempt.at == started
    await client.close()
