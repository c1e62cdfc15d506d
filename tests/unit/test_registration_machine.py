"""The registration machine (RFC 3261 §10 kept alive) step by step on a ManualClock: every
failback rule (refresh, never, probe, damped), failover when the registrar fails, the retry of
a lost registration, and the driver's timer on the same clock. No sockets, no sleeping."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siplocate.client.failover import Damping, Failback, Steering
from siplocate.client.registration import Registration
from siplocate.client.registration_machine import (
    ArmRefresh,
    Binding,
    Effect,
    Emit,
    Phase,
    RegistrationMachine,
    SendRegister,
    Unregister,
    refresh_in,
)
from siplocate.client.walker import Outcome
from siplocate.clock import ManualClock
from siplocate.errors import NotFound
from siplocate.sip.message import Response
from siplocate.target import Target, Transport

PRIMARY = Target(Transport.UDP, "sip1.test", 5060, "127.0.0.2", 10, 0)
BACKUP = Target(Transport.UDP, "sip2.test", 5060, "127.0.0.3", 20, 0)
THIRD = Target(Transport.UDP, "sip3.test", 5060, "127.0.0.4", 30, 0)
RANKED = [PRIMARY, BACKUP, THIRD]
FROM_TOP = SendRegister(Steering(from_top=True))


def ok(target: Target) -> Outcome:
    return Outcome("REGISTER", Response(200, "OK"), target)


def failed() -> Outcome:
    return Outcome("REGISTER", None, None, error="no server answered")


def kinds(effects: list[Effect]) -> list[str]:
    return [e.kind for e in effects if isinstance(e, Emit)]


def armed(effects: list[Effect]) -> float:
    [arm] = [e for e in effects if isinstance(e, ArmRefresh)]
    return arm.delay


def on_the_backup(
    failback: Failback, clock: ManualClock, damping: Damping | None = None
) -> RegistrationMachine:
    """Registered on the primary, which then failed (failover to the backup): waiting."""
    m = RegistrationMachine(expires=60, failback=failback, damping=damping)
    [first] = m.register(RANKED, clock.monotonic())
    assert isinstance(first, SendRegister) and first.steering.prefer is None
    assert kinds(m.registered(ok(PRIMARY), RANKED, clock.monotonic())) == ["registered"]
    assert m.observed(PRIMARY, True, RANKED, clock.monotonic()) == []  # its own answer
    [send] = m.observed(PRIMARY, False, RANKED, clock.monotonic())  # registrar down: at once
    assert isinstance(send, SendRegister) and m.reason == "current registrar down"
    assert kinds(m.registered(ok(BACKUP), RANKED, clock.monotonic())) == ["failover"]
    assert m.current == BACKUP and m.phase == Phase.WAITING
    return m


def test_the_first_register_walks_from_the_top_and_arms_half_the_lifetime() -> None:
    m = RegistrationMachine(expires=60)
    assert m.register(RANKED, 0.0) == [FROM_TOP] and m.phase == Phase.REGISTERING
    effects = m.registered(ok(PRIMARY), RANKED, 0.0)
    assert kinds(effects) == ["registered"] and armed(effects) == 30.0
    m.binding.granted = 20  # the registrar granted less than asked
    effects = m.registered(ok(PRIMARY), RANKED, 30.0)
    assert kinds(effects) == ["refreshed"] and armed(effects) == 10.0


def test_a_lost_registration_is_retried_every_retry_interval() -> None:
    m = RegistrationMachine(expires=60, retry_interval=7.0)
    m.register(RANKED, 0.0)
    m.registered(ok(PRIMARY), RANKED, 0.0)
    effects = m.registered(failed(), RANKED, 30.0)
    [lost] = [e for e in effects if isinstance(e, Emit)]
    assert (lost.kind, lost.target, lost.detail) == ("lost", PRIMARY, "no server answered")
    assert armed(effects) == 7.0 and m.current is None
    assert m.expired(RANKED, 37.0) == [FROM_TOP]  # the retry walks from the top
    effects = m.registered(ok(BACKUP), RANKED, 37.0)
    assert kinds(effects) == ["registered"] and armed(effects) == 30.0


def test_the_timer_means_nothing_while_a_register_is_in_flight_or_after_stop() -> None:
    m = RegistrationMachine()
    m.register(RANKED, 0.0)
    assert m.expired(RANKED, 1.0) == []
    m.registered(ok(PRIMARY), RANKED, 1.0)
    assert m.stop() == [Unregister()] and m.phase == Phase.STOPPED
    assert m.expired(RANKED, 2.0) == [] and m.observed(PRIMARY, False, RANKED, 2.0) == []


def test_a_failed_registrar_is_left_at_once_but_not_while_a_register_is_in_flight() -> None:
    m = RegistrationMachine(expires=60)
    m.register(RANKED, 0.0)
    assert m.observed(PRIMARY, False, RANKED, 0.0) == []  # nothing held yet
    m.registered(ok(PRIMARY), RANKED, 0.0)
    assert m.observed(BACKUP, False, RANKED, 1.0) == []  # not ours
    assert m.observed(PRIMARY, False, RANKED, 2.0) == [FROM_TOP]
    assert m.observed(PRIMARY, False, RANKED, 2.1) == []  # that REGISTER is in flight


async def test_failback_refresh_returns_at_the_next_refresh_not_before() -> None:
    clock = ManualClock()
    m = on_the_backup(Failback.REFRESH, clock)
    await clock.advance(3)
    assert m.observed(PRIMARY, True, RANKED, clock.monotonic()) == []  # no probe-driven move
    await clock.advance(27)
    assert m.expired(RANKED, clock.monotonic()) == [FROM_TOP]
    assert kinds(m.registered(ok(PRIMARY), RANKED, clock.monotonic())) == ["failback"]


async def test_failback_never_stays_while_the_registrar_answers() -> None:
    clock = ManualClock()
    m = on_the_backup(Failback.NEVER, clock)
    stay = SendRegister(Steering(prefer=BACKUP))
    for _ in range(5):  # the primary answers every probe, refresh after refresh
        await clock.advance(30)
        assert m.observed(PRIMARY, True, RANKED, clock.monotonic()) == []
        assert m.expired(RANKED, clock.monotonic()) == [stay]
        assert kinds(m.registered(ok(BACKUP), RANKED, clock.monotonic())) == ["refreshed"]
    # Only the registrar's own failure moves it (still asking for it first: the walk
    # skips what is known to be down).
    assert m.observed(BACKUP, False, RANKED, clock.monotonic()) == [stay]
    assert kinds(m.registered(ok(PRIMARY), RANKED, clock.monotonic())) == ["failback"]


async def test_failback_probe_returns_when_a_higher_ranked_target_answers_once_per_run() -> None:
    clock = ManualClock()
    m = on_the_backup(Failback.PROBE, clock)
    await clock.advance(2)
    assert m.observed(THIRD, True, RANKED, clock.monotonic()) == []  # ranks lower
    assert m.observed(PRIMARY, True, RANKED, clock.monotonic()) == [FROM_TOP]
    assert m.reason == "higher-ranked target up"
    # It answers OPTIONS but refuses the REGISTER: no second try while it keeps answering.
    m.registered(ok(BACKUP), RANKED, clock.monotonic())
    for _ in range(3):
        await clock.advance(2)
        assert m.observed(PRIMARY, True, RANKED, clock.monotonic()) == []
    # A silence ends the run of answers: the next answer earns a new try.
    assert m.observed(PRIMARY, False, RANKED, clock.monotonic()) == []
    await clock.advance(2)
    assert m.observed(PRIMARY, True, RANKED, clock.monotonic()) == [FROM_TOP]
    assert kinds(m.registered(ok(PRIMARY), RANKED, clock.monotonic())) == ["failback"]


def test_a_target_outside_the_try_list_never_triggers_a_failback() -> None:
    m = RegistrationMachine(failback=Failback.PROBE)
    m.register(RANKED, 0.0)
    m.registered(ok(BACKUP), RANKED, 0.0)
    stranger = Target(Transport.UDP, "sip9.test", 5060, "127.0.0.9", 1, 0)
    assert m.observed(stranger, True, RANKED, 1.0) == []
    assert m.observed(PRIMARY, True, [BACKUP, THIRD], 1.0) == []  # PRIMARY left the answer


async def test_damping_needs_answers_in_a_row_before_a_probe_failback() -> None:
    clock = ManualClock()
    m = on_the_backup(Failback.PROBE, clock, Damping(probes=3))
    for _ in range(2):
        await clock.advance(1)
        assert m.observed(PRIMARY, True, RANKED, clock.monotonic()) == []
    await clock.advance(1)
    assert m.observed(PRIMARY, True, RANKED, clock.monotonic()) == [
        SendRegister(Steering(prefer=PRIMARY))
    ]


async def test_damping_holds_a_failback_until_the_flap_penalty_decays_below_reuse() -> None:
    """One flap at t0 suppresses the primary for two half-lives (10 s at 1 s probes):
    neither a probe nor a refresh brings the registration back before that."""
    clock = ManualClock()
    m = on_the_backup(Failback.PROBE, clock, Damping.for_probes(1.0, probes=1))
    reusable = m.damping.reusable_at(PRIMARY, clock.monotonic())
    assert reusable == pytest.approx(clock.monotonic() + 10.0)
    stay = SendRegister(Steering(prefer=BACKUP))
    for _ in range(9):
        await clock.advance(1)
        assert m.observed(PRIMARY, True, RANKED, clock.monotonic()) == []
        assert m.steering(RANKED, clock.monotonic()) == stay.steering
    await clock.advance(1.01)
    assert m.observed(PRIMARY, True, RANKED, clock.monotonic()) == [
        SendRegister(Steering(prefer=PRIMARY))
    ]


async def test_a_damped_refresh_prefers_the_highest_target_damping_lets_back() -> None:
    clock = ManualClock()
    m = RegistrationMachine(expires=60, failback=Failback.REFRESH, damping=Damping(probes=2))
    m.register(RANKED, clock.monotonic())
    m.registered(ok(THIRD), RANKED, clock.monotonic())
    for target in (BACKUP, BACKUP, PRIMARY):  # the backup twice in a row, the primary once
        m.observed(target, True, RANKED, clock.monotonic())
    await clock.advance(30)
    assert m.expired(RANKED, clock.monotonic()) == [SendRegister(Steering(prefer=BACKUP))]
    assert kinds(m.registered(ok(BACKUP), RANKED, clock.monotonic())) == ["failback"]


@given(granted=st.none() | st.integers(0, 10**6), expires=st.integers(1, 10**6))
def test_refresh_is_at_half_the_lifetime_and_never_below_a_second(
    granted: int | None, expires: int
) -> None:
    got = refresh_in(granted, expires)
    assert got >= 1.0 and got <= max(1.0, (granted or expires) / 2)
    m = RegistrationMachine(expires=expires, binding=Binding(granted=granted))
    assert m.refresh_in() == got


@dataclass
class Registrar:
    """Just what Registration uses of a client: REGISTER answered by the preferred (else
    first) target that is up; it grants what it is asked."""

    up: dict[Target, bool] = field(default_factory=lambda: {t: True for t in RANKED})
    last_targets: list[Target] = field(default_factory=lambda: list(RANKED))
    listeners: list[object] = field(default_factory=list)
    sent: list[tuple[Target, float]] = field(default_factory=list)
    clock: ManualClock = field(default_factory=ManualClock)
    removed: int = 0
    dns_down: bool = False

    async def register(self, expires: int, *, binding: Binding, steering: Steering) -> Outcome:
        if self.dns_down:
            self.sent.append((BACKUP, math.nan))
            raise NotFound("client.test: no NAPTR, SRV or address records")
        order = list(self.last_targets)
        if steering.prefer is not None:
            order.insert(0, steering.prefer)
        for target in order:
            if self.up[target]:
                self.sent.append((target, self.clock.monotonic()))
                binding.granted = expires
                return ok(target)
        return failed()

    async def unregister(self, *, binding: Binding) -> None:
        self.removed += 1

    def tell(self, target: Target, up: bool) -> None:
        for listener in self.listeners:
            listener(target, up)  # type: ignore[operator]


async def test_the_driver_refreshes_on_the_clock_and_fails_over_at_a_verdict() -> None:
    client = Registrar()
    clock = client.clock
    reg = Registration(client, expires=60, failback=Failback.PROBE, clock=clock)  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.ensure_future(reg.run(stop))
    await clock.advance(0)
    assert [e.event for e in reg.events] == ["registered"] and reg.current == PRIMARY
    await clock.advance(29.9)
    assert len(client.sent) == 1  # not refreshed before half the lifetime
    await clock.advance(0.1)
    assert [t for t, _ in client.sent] == [PRIMARY, PRIMARY]
    assert client.sent[-1][1] == pytest.approx(30.0)
    assert reg.events[-1].at == clock.wall()  # events carry the clock's wall time
    client.up[PRIMARY] = False
    client.tell(PRIMARY, False)  # a health probe: failover at once, not at the next refresh
    await clock.advance(0)
    assert reg.events[-1].event == "failover" and reg.current == BACKUP
    client.up[PRIMARY] = True
    await clock.advance(5)
    client.tell(PRIMARY, True)
    await clock.advance(0)
    assert reg.events[-1].event == "failback" and reg.current == PRIMARY
    assert client.sent[-1][1] == pytest.approx(35.0)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert client.removed == 1 and client.listeners == []


async def test_the_driver_retries_a_lost_registration_every_retry_interval() -> None:
    """DNS trouble is a lost round, not the end: retried on the clock, then registered."""
    client = Registrar(dns_down=True)
    clock = client.clock
    reg = Registration(client, expires=60, retry_interval=5, clock=clock)  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.ensure_future(reg.run(stop))
    await clock.advance(0)
    assert [e.event for e in reg.events] == ["lost"] and "no NAPTR" in reg.events[0].detail
    await clock.advance(4.9)
    assert len(client.sent) == 1
    await clock.advance(0.1)
    assert len(client.sent) == 2 and reg.events[-1].event == "lost"
    client.dns_down = False
    await clock.advance(5)
    assert reg.events[-1].event == "registered" and reg.current == PRIMARY
    stop.set()
    await asyncio.wait_for(task, 5)


STEP = st.one_of(
    st.tuples(st.just("verdict"), st.sampled_from(RANKED), st.booleans()),
    st.tuples(st.just("outcome"), st.sampled_from([*RANKED, None]), st.just(False)),
    st.tuples(st.just("timer"), st.just(PRIMARY), st.just(False)),
)


@given(
    failback=st.sampled_from(list(Failback)),
    damped=st.booleans(),
    steps=st.lists(STEP, max_size=60),
)
def test_one_register_at_a_time_and_a_failed_registrar_is_always_left(
    failback: Failback, damped: bool, steps: list[tuple[str, Target | None, bool]]
) -> None:
    """Whatever arrives in whatever order: never a second REGISTER while one is in flight;
    while waiting, the registrar's failure always sends one at once (failover is never
    damped); an outcome always arms the timer (retry_interval when lost)."""
    damping = Damping.for_probes(1.0) if damped else None
    m = RegistrationMachine(expires=60, failback=failback, damping=damping, retry_interval=3)
    in_flight = bool(m.register(RANKED, 0.0))
    for now, (kind, target, up) in enumerate(steps, start=1):
        if kind == "outcome":
            if not in_flight:
                continue
            effects = m.registered(ok(target) if target else failed(), RANKED, now)
            assert armed(effects) == (30.0 if target else 3.0)
            in_flight = False
            continue
        waiting = m.phase == Phase.WAITING
        held = m.current
        assert target is not None
        if kind == "timer":
            effects = m.expired(RANKED, now)
        else:
            effects = m.observed(target, up, RANKED, now)
            if waiting and held == target and not up:
                assert len(effects) == 1 and isinstance(effects[0], SendRegister)
        sends = [e for e in effects if isinstance(e, SendRegister)]
        assert not (in_flight and sends)
        in_flight = in_flight or bool(sends)
        assert in_flight == (m.phase == Phase.REGISTERING)
