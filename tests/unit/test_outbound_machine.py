"""RFC 5626 flows as a pure machine, step by step with the time and the randomness given:
§4.5 backoff, §4.4.1 keep-alive pacing and refresh, a failed flow rebuilt through another
first hop, the fall back to plain registration; and the driver's pauses on a ManualClock."""

from __future__ import annotations

import asyncio
import random

import pytest

from siplocate.client.outbound import Outbound
from siplocate.client.outbound_machine import (
    BASE_ALL_FAILED,
    BASE_SOME_OK,
    MAX_TIME,
    DropConnection,
    Effect,
    FindHop,
    FlowId,
    FlowPhase,
    FlowState,
    OutboundMachine,
    Pause,
    RegisterPlain,
    Remove,
    SendKeepalive,
    SendRegister,
    StopFlows,
    TakeConnection,
    Unbind,
)
from siplocate.client.registration_machine import Emit
from siplocate.client.walker import Outcome
from siplocate.clock import ManualClock
from siplocate.sip.message import Response as SipResponse
from siplocate.sip.message import parse_message
from siplocate.target import Target, Transport

INSTANCE = "urn:uuid:00000000-0000-4000-8000-000000000001"
EDGE1 = Target(Transport.TCP, "edge1.test", 5060, "192.0.2.1", 10, 0)
EDGE2 = Target(Transport.TCP, "edge2.test", 5060, "192.0.2.2", 10, 0)
EDGE3 = Target(Transport.TCP, "edge3.test", 5060, "192.0.2.3", 20, 0)
EDGES = [EDGE1, EDGE2, EDGE3]


def answer(code: int = 200, *headers: str) -> SipResponse:
    head = (
        f"SIP/2.0 {code} Whatever\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n"
        "From: <sip:a@h>;tag=1\r\nTo: <sip:a@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n"
    )
    message = parse_message((head + "".join(h + "\r\n" for h in headers) + "\r\n").encode())
    assert isinstance(message, SipResponse)
    return message


def outbound_ok(target: Target, flow_timer: int | None = 20) -> Outcome:
    timer = () if flow_timer is None else (f"Flow-Timer: {flow_timer}",)
    return Outcome("REGISTER", answer(200, "Require: outbound", *timer), target)


def lost(target: Target) -> Outcome:
    return Outcome("REGISTER", None, None, error=f"no answer from {target.host}")


def machine(flows: int = 1, seed: int = 1, expires: int = 3600) -> OutboundMachine:
    states = [FlowState(FlowId(INSTANCE, n)) for n in range(1, flows + 1)]
    return OutboundMachine(states, expires=expires, rng=random.Random(seed))


def emitted(effects: list[Effect]) -> list[tuple[str, str]]:
    return [(e.kind, e.detail) for e in effects if isinstance(e, Emit)]


def pause(effects: list[Effect]) -> Pause:
    [p] = [e for e in effects if isinstance(e, Pause)]
    return p


def form(m: OutboundMachine, flow: FlowState, target: Target, now: float = 0.0) -> list[Effect]:
    """Form ``flow`` through ``target`` (it is the first free hop): the effects of its 2xx."""
    assert m.start(flow) == [FindHop(flow)]
    assert m.hop(flow, [target], []) == [SendRegister(flow, target)]
    effects = m.registered(flow, outbound_ok(target), now)
    assert flow.up and flow.phase == FlowPhase.UP
    return effects


def test_backoff_doubles_per_failure_from_30_s_and_stops_at_max_time() -> None:
    m = machine()
    [flow] = m.flows
    m.start(flow)
    for failures in range(1, 9):
        assert m.hop(flow, EDGES, []) == [SendRegister(flow, EDGE1)]
        effects = m.registered(flow, lost(EDGE1), 0.0)
        p = pause(effects)
        wait = min(MAX_TIME, BASE_ALL_FAILED * 2**failures)
        assert 0.5 * wait <= p.delay <= wait and not p.watch, (failures, p.delay)
        assert emitted(effects)[0][0] == "lost" and f"{p.delay:.0f} s" in emitted(effects)[0][1]
        assert m.timer(flow, 0.0) == [FindHop(flow)]  # the backoff is over: again
    assert flow.failures == 8


def test_backoff_starts_at_90_s_while_another_flow_works() -> None:
    m = machine(flows=2)
    first, second = m.flows
    form(m, first, EDGE1)
    m.start(second)
    assert m.hop(second, EDGES, []) == [SendRegister(second, EDGE2)]  # a distinct hop
    p = pause(m.registered(second, lost(EDGE2), 0.0))
    assert 0.5 * BASE_SOME_OK * 2 <= p.delay <= BASE_SOME_OK * 2


def test_no_hop_left_is_a_failure_with_backoff() -> None:
    m = machine(flows=2)
    first, second = m.flows
    form(m, first, EDGE1)
    m.start(second)
    effects = m.hop(second, [EDGE1], [])  # only the host the first flow uses
    assert emitted(effects)[0][1].startswith("no first hop left that no other flow uses")
    assert second.phase == FlowPhase.BACKOFF and second.failures == 1
    assert emitted(m.hop(second, None, []))[0][0] == "lost"  # DNS failed: the same


@pytest.mark.parametrize(
    ("transport", "flow_timer", "low", "high"),
    [(Transport.TCP, 20, 16, 20), (Transport.TCP, None, 95, 120), (Transport.UDP, None, 24, 29)],
)
def test_keepalives_are_paced_by_the_flow_timer_else_the_transport_default(
    transport: Transport, flow_timer: int | None, low: float, high: float
) -> None:
    edge = EDGE1._replace(transport=transport)
    m = machine(seed=7, expires=86400)  # no refresh among these keep-alives
    [flow] = m.flows
    m.start(flow)
    m.hop(flow, [edge], [])
    effects = m.registered(flow, outbound_ok(edge, flow_timer), 0.0)
    assert isinstance(effects[0], TakeConnection) and emitted(effects)[0][0] == "registered"
    now, delays = 0.0, []
    for _ in range(20):  # twenty keep-alives, each answered
        p = pause(effects)
        assert p.watch
        delays.append(p.delay)
        now += p.delay
        assert m.timer(flow, now) == [SendKeepalive(flow, 10.0)]
        effects = m.answered(flow, None, now)
    assert all(low <= d <= high for d in delays), delays
    assert len(set(delays)) > 1  # random within the range: flows do not beat in step
    assert flow.keepalives == 20


def test_the_binding_is_refreshed_at_half_its_lifetime_between_keepalives() -> None:
    m = machine(expires=60)
    [flow] = m.flows
    effects = form(m, flow, EDGE1)
    assert flow.refresh_at == 30.0
    now = 0.0
    while True:  # bounded: a keep-alive every 16-20 s reaches 30 s in two pauses
        now += pause(effects).delay
        if now >= 30.0:
            break
        assert m.timer(flow, now) == [SendKeepalive(flow, 10.0)]
        effects = m.answered(flow, None, now)
    assert now == 30.0  # the pause ended at the refresh, not at the next keep-alive
    assert m.timer(flow, now) == [SendRegister(flow, EDGE1)]
    effects = m.registered(flow, outbound_ok(EDGE1), now)
    assert emitted(effects)[0][0] == "refreshed" and flow.refresh_at == 60.0
    assert m.timer(flow, 60.0) == [SendRegister(flow, EDGE1)]
    failed = m.registered(flow, lost(EDGE1), 60.0)
    assert emitted(failed)[0] == ("flow-failed", "refresh failed: no answer from edge1.test")


def test_a_failed_flow_is_unbound_through_another_and_formed_again_on_a_free_hop() -> None:
    m = machine(flows=2)
    first, second = m.flows
    form(m, first, EDGE1)
    form(m, second, EDGE2)
    assert m.live() == [EDGE1, EDGE2]
    m.timer(first, 18.0)
    effects = m.unanswered(first, 28.0)  # no pong within 10 s
    assert effects == [
        DropConnection(first),
        Emit("flow-failed", EDGE1, "no pong within 10 s", flow=1),
        Unbind(first, (EDGE2,)),
        FindHop(first),
    ]
    assert m.live() == [EDGE2] and first.failures == 1
    [unbound] = m.unbound(first, Outcome("REGISTER", answer(200), EDGE2))
    assert isinstance(unbound, Emit) and (unbound.kind, unbound.target) == ("unbound", EDGE2)
    # The dead edge is known down, the other is taken: the third edge.
    assert m.hop(first, EDGES, [EDGE1]) == [SendRegister(first, EDGE3)]
    # It fails again before a single keep-alive answered: now the backoff (90 s base,
    # another flow works), without counting the failure twice.
    m.registered(first, outbound_ok(EDGE3), 30.0)
    effects = m.failed(first, "the connection to the edge was lost", 31.0)
    assert [type(e) for e in effects] == [DropConnection, Emit, Unbind, Emit, Pause]
    assert first.failures == 2 and 0.5 * 360 <= pause(effects).delay <= 360
    assert emitted(effects)[1][1].startswith("the flow failed again at once")


def test_an_answered_keepalive_forgives_the_failures() -> None:
    m = machine()
    [flow] = m.flows
    form(m, flow, EDGE1)
    m.failed(flow, "lost", 1.0)
    m.hop(flow, EDGES, [])
    m.registered(flow, outbound_ok(EDGE1), 2.0)
    m.timer(flow, 20.0)
    m.answered(flow, None, 20.0)
    assert flow.failures == 0
    assert [type(e) for e in m.failed(flow, "lost", 30.0)][-1] is FindHop  # at once


def test_a_changed_nat_binding_fails_the_flow() -> None:
    edge = EDGE1._replace(transport=Transport.UDP)
    m = machine()
    [flow] = m.flows
    form(m, flow, edge)
    m.timer(flow, 25.0)
    m.answered(flow, ("198.51.100.1", 4000), 25.0)
    m.timer(flow, 50.0)
    effects = m.answered(flow, ("198.51.100.1", 4001), 50.0)
    assert "NAT binding changed" in emitted(effects)[0][1] and not flow.up
    m.hop(flow, [edge], [])
    m.registered(flow, outbound_ok(edge), 51.0)
    m.timer(flow, 80.0)
    assert "no STUN answer within 10 s" in emitted(m.unanswered(flow, 90.0))[0][1]


def test_a_registrar_without_outbound_gets_one_plain_registration() -> None:
    m = machine(flows=2)
    first, second = m.flows
    form(m, first, EDGE1)  # the first flow was formed with outbound ...
    m.start(second)
    m.hop(second, EDGES, [])
    plain = Outcome("REGISTER", answer(200), EDGE2)  # ... the second path lacks it
    effects = m.registered(second, plain, 5.0)
    assert effects == [
        StopFlows(),
        Emit(
            "fallback",
            EDGE2,
            "the registrar did not answer Require: outbound: plain registration instead",
            flow=2,
        ),
        Remove((first,)),
        RegisterPlain(second.binding),  # the binding it just made is kept
    ]
    assert m.fallback is not None and m.live() == [] and second.phase == FlowPhase.DONE
    assert m.stop() == []  # nothing left up for the end of the run to remove


def test_a_439_edge_falls_back_with_a_fresh_binding_and_a_late_flow_gives_way() -> None:
    m = machine(flows=2)
    first, second = m.flows
    m.start(first)
    m.hop(first, EDGES, [])
    refused = Outcome("REGISTER", answer(439), EDGE1)
    effects = m.registered(first, refused, 0.0)
    assert "439 First Hop Lacks Outbound Support" in emitted(effects)[0][1]
    [fresh] = [e for e in effects if isinstance(e, RegisterPlain)]
    assert fresh.binding is not first.binding
    m.start(second)
    m.hop(second, EDGES, [])
    assert m.registered(second, Outcome("REGISTER", answer(200), EDGE2), 1.0) == [Remove((second,))]


def test_the_end_of_the_run_removes_the_flows_that_are_up() -> None:
    m = machine(flows=2)
    first, second = m.flows
    form(m, first, EDGE1)
    m.start(second)
    assert m.stop() == [Remove((first,))] and m.live() == []


class Conn:
    """A flow that answers every keep-alive."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.lost = asyncio.Event()
        self.pings = 0

    async def keepalive(self, timeout: float) -> None:
        self.pings += 1


class Client:
    """What Outbound uses of a client: one edge answering REGISTER with outbound and
    Flow-Timer 20, the pool holding one connection."""

    def __init__(self) -> None:
        self.outbound: object = None
        self.flows = self
        self.conn = Conn(EDGE1)
        self.registers: list[int] = []

    async def targets(self) -> tuple[list[Target], None]:
        return [EDGE1], None

    def is_down(self, target: Target) -> bool:
        return False

    async def register(self, expires: int, **kw: object) -> Outcome:
        self.registers.append(expires)
        return outbound_ok(EDGE1)

    async def unregister(self, **kw: object) -> None:
        self.registers.append(0)

    def pooled(self, target: Target) -> Conn:
        return self.conn

    def drop(self, conn: object) -> None:
        return None


async def test_the_driver_paces_keepalives_and_refreshes_on_the_clock() -> None:
    client = Client()
    clock = ManualClock()
    ob = Outbound(
        client,  # type: ignore[arg-type]
        flows=1,
        expires=120,
        instance=INSTANCE,
        rng=random.Random(3),
        clock=clock,
    )
    stop = asyncio.Event()
    task = asyncio.ensure_future(ob.run(stop))
    await clock.advance(0)
    assert [e.event for e in ob.events] == ["registered"] and ob.live() == [EDGE1]
    await clock.advance(15.9)
    assert client.conn.pings == 0  # not before 80 % of the Flow-Timer
    await clock.advance(4.1)
    assert client.conn.pings == 1  # by 100 % of it
    await clock.advance(40)  # the refresh at 60 s (half of 120), keep-alives between
    assert client.registers == [120, 120] and client.conn.pings >= 3
    assert [e.event for e in ob.events] == ["registered", "refreshed"]
    stop.set()
    await asyncio.wait_for(task, 5)
    assert client.registers[-1] == 0 and client.outbound is None
