"""Registration and Outbound drive their machines through the one effect runner: the
refresh, keep-alive and backoff timers run on the injected clock, a verdict sends a REGISTER
at once, stop unregisters. No real time passes: a ManualClock is advanced."""

from __future__ import annotations

import asyncio
import random

import pytest

from siplocate.client.failover import Steering
from siplocate.client.outbound import Outbound
from siplocate.client.registration import Registration
from siplocate.client.walker import Outcome
from siplocate.clock import ManualClock
from siplocate.sip.message import Response
from siplocate.target import Target, Transport

from .test_outbound import response

PRIMARY = Target(Transport.UDP, "sip1.test", 5060, "127.0.0.2", 10, 0)
BACKUP = Target(Transport.UDP, "sip2.test", 5060, "127.0.0.3", 20, 0)
EDGE = Target(Transport.TCP, "edge1.test", 5060, "192.0.2.1", 10, 0)
INSTANCE = "urn:uuid:00000000-0000-4000-8000-000000000001"


class Registrar:
    """REGISTER answered 200 by the first target up in the steered order."""

    def __init__(self) -> None:
        self.up = {PRIMARY: True, BACKUP: True}
        self.last_targets = [PRIMARY, BACKUP]
        self.listeners: list[object] = []
        self.registers: list[Target] = []
        self.unregisters = 0

    async def register(self, expires: int, *, binding: object, steering: Steering) -> Outcome:
        order = list(self.last_targets)
        if steering.prefer is not None:
            order.remove(steering.prefer)
            order.insert(0, steering.prefer)
        for target in order:
            if self.up[target]:
                self.registers.append(target)
                return Outcome("REGISTER", Response(200, "OK"), target)
        return Outcome("REGISTER", None, None, error="no server answered")

    async def unregister(self, *, binding: object) -> None:
        self.unregisters += 1

    def tell(self, target: Target, up: bool) -> None:
        self.up[target] = up
        for listener in self.listeners:
            listener(target, up)  # type: ignore[operator]


async def settle() -> None:
    for _ in range(20):  # bounded: let tasks and callbacks run
        await asyncio.sleep(0)


async def test_registration_refreshes_on_the_clock_and_fails_over_on_a_verdict() -> None:
    clock = ManualClock()
    client = Registrar()
    reg = Registration(client, expires=60, clock=clock)  # type: ignore[arg-type]
    stop = asyncio.Event()
    run = asyncio.ensure_future(reg.run(stop))
    await settle()
    assert [e.event for e in reg.events] == ["registered"] and reg.current == PRIMARY
    await clock.advance(29.9)  # refresh at half of the 60 s asked (nothing granted)
    assert len(reg.events) == 1
    await clock.advance(0.1)
    await settle()
    assert [e.event for e in reg.events] == ["registered", "refreshed"]
    client.tell(PRIMARY, False)  # no waiting for the timer: the REGISTER goes now
    await settle()
    assert reg.events[-1].event == "failover" and reg.current == BACKUP
    await clock.advance(29.9)  # the refresh timer was armed again by the failover
    assert len(reg.events) == 3
    stop.set()
    await asyncio.wait_for(run, 5)
    assert client.unregisters == 1 and client.listeners == []
    assert client.registers == [PRIMARY, PRIMARY, BACKUP]


async def test_a_lost_registration_is_retried_every_retry_interval_on_the_clock() -> None:
    clock = ManualClock()
    client = Registrar()
    client.up = {PRIMARY: False, BACKUP: False}
    reg = Registration(
        client,  # type: ignore[arg-type]
        expires=60,
        retry_interval=5,
        clock=clock,
    )
    stop = asyncio.Event()
    run = asyncio.ensure_future(reg.run(stop))
    await settle()
    for _ in range(3):
        await clock.advance(5)
        await settle()
    assert [e.event for e in reg.events] == ["lost"] * 4
    client.up[BACKUP] = True
    await clock.advance(5)
    await settle()
    assert reg.events[-1].event == "registered" and reg.current == BACKUP
    stop.set()
    await asyncio.wait_for(run, 5)


async def test_a_register_that_raises_ends_the_run_with_it_and_unregisters() -> None:
    client = Registrar()

    async def broken(expires: int, *, binding: object, steering: Steering) -> Outcome:
        raise RuntimeError("a bug, not an outcome")

    client.register = broken  # type: ignore[method-assign]
    reg = Registration(client, expires=60, clock=ManualClock())  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="a bug, not an outcome"):
        await asyncio.wait_for(reg.run(asyncio.Event()), 5)
    assert client.unregisters == 1 and client.listeners == []


class Conn:
    def __init__(self) -> None:
        self.lost = asyncio.Event()
        self.pings = 0

    async def keepalive(self, timeout: float) -> None:
        self.pings += 1


class Edge:
    """What Outbound uses of a client: one edge that does outbound (Flow-Timer 20)."""

    def __init__(self) -> None:
        self.outbound: object = None
        self.flows = self
        self.conn = Conn()
        self.registers = 0
        self.unregisters = 0
        self.last_targets = [EDGE]
        self.listeners: list[object] = []

    async def targets(self) -> tuple[list[Target], None]:
        return [EDGE], None

    def is_down(self, target: Target) -> bool:
        return False

    async def register(self, expires: int, **kw: object) -> Outcome:
        self.registers += 1
        return Outcome("REGISTER", response("Require: outbound", "Flow-Timer: 20"), EDGE)

    async def unregister(self, **kw: object) -> None:
        self.unregisters += 1

    def pooled(self, target: Target) -> Conn:
        return self.conn

    def drop(self, conn: object) -> None:
        return None


async def test_outbound_keepalives_and_a_lost_connection_run_on_the_clock() -> None:
    clock = ManualClock()
    edge = Edge()
    ob = Outbound(
        edge,  # type: ignore[arg-type]
        flows=1,
        instance=INSTANCE,
        rng=random.Random(1),
        clock=clock,
    )
    stop = asyncio.Event()
    run = asyncio.ensure_future(ob.run(stop))
    await settle()
    assert [e.event for e in ob.events] == ["registered"] and ob.live() == [EDGE]
    await clock.advance(15.9)  # keep-alives at 80-100 % of Flow-Timer 20
    assert edge.conn.pings == 0
    await clock.advance(4.1)
    await settle()
    assert edge.conn.pings == 1
    first = edge.conn
    edge.conn = Conn()
    first.lost.set()  # the edge hangs up: the flow fails at once, not at its next timer
    await settle()
    assert [e.event for e in ob.events] == ["registered", "flow-failed", "registered"]
    assert edge.registers == 2
    stop.set()
    await asyncio.wait_for(run, 5)
    assert edge.unregisters == 1 and edge.outbound is None
