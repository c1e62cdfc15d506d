"""RFC 5626 (SIP Outbound) flows as a pure machine: where each flow goes, its REGISTER and
refreshes, its keep-alive pacing, its failure and the §4.5 backoff, and the fall back to a
plain registration. Outcomes, keep-alive answers, timer expiries and the time go in; effects
come out. No asyncio, no I/O, no clock; randomness is the ``rng`` it is given. ``Outbound``
(outbound.py) is its driver.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from sipmessage import Response

from ..target import Target, Transport
from .registration_machine import Binding, Emit, refresh_in
from .walker import Outcome

DEFAULT_FLOWS = 2
PONG_WAIT = 10.0  # §4.4.1: no pong within 10 s and the flow has failed
MAX_TIME = 1800.0  # §4.5 defaults: max-time, and base-time when all flows / some flows failed
BASE_ALL_FAILED = 30.0
BASE_SOME_OK = 90.0


@dataclass(frozen=True, slots=True)
class FlowId:
    """What names one flow's binding at the registrar: the instance and the reg-id."""

    instance: str
    reg_id: int

    def contact_params(self) -> str:
        return f';reg-id={self.reg_id};+sip.instance="<{self.instance}>"'


def keepalive_interval(transport: Transport, flow_timer: int | None, rng: random.Random) -> float:
    """Seconds to the next keep-alive (§4.4.1): 80-100 % of the edge's Flow-Timer, else
    95-120 s on TCP/TLS and 24-29 s on UDP (random, so flows do not beat in step)."""
    if flow_timer is not None and flow_timer > 0:
        return rng.uniform(0.8, 1.0) * flow_timer
    if transport == Transport.UDP:
        return rng.uniform(24.0, 29.0)
    return rng.uniform(95.0, 120.0)


def backoff(
    failures: int, all_failed: bool, rng: random.Random, max_time: float = MAX_TIME
) -> float:
    """Seconds to wait before trying to form a flow again (§4.5): 50-100 % of
    min(max-time, base-time * 2^failures), base-time 30 s when every flow is down and
    90 s when another flow still works."""
    base = BASE_ALL_FAILED if all_failed else BASE_SOME_OK
    wait: float = min(max_time, base * 2.0 ** min(failures, 32))
    return rng.uniform(0.5, 1.0) * wait


def first_hop(
    targets: Sequence[Target],
    taken: Sequence[Target],
    is_down: Callable[[Target], bool],
    previous: Target | None = None,
) -> Target | None:
    """Where a flow goes (§4.2: distinct first hops): a target whose host (the SRV target,
    so not another address of a host a flow already uses) no other flow uses; those not
    known to be down first; the flow's previous hop if it still qualifies."""
    used = {t.host.lower().rstrip(".") for t in taken}
    free = [t for t in targets if t.host.lower().rstrip(".") not in used]
    healthy = [t for t in free if not is_down(t)]
    if previous is not None and previous in healthy:
        return previous
    choices = healthy or free
    return choices[0] if choices else None


def requires_outbound(response: Response) -> bool:
    """The registrar did outbound (§4.2.1): its 2xx says ``Require: outbound``."""
    tokens = ",".join(response.headers.getlist("Require")).lower().replace(" ", "").split(",")
    return "outbound" in tokens


def flow_timer(response: Response) -> int | None:
    """The edge's Flow-Timer (§10.2), if it sent a usable one."""
    value = response.headers.get("Flow-Timer")
    text = value.strip() if value is not None else ""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 7 else None


class FlowPhase(StrEnum):
    HOP = "hop"  # asking where it goes
    REGISTERING = "registering"  # its REGISTER is in flight
    UP = "up"  # pausing until the next keep-alive or refresh
    PINGING = "pinging"  # a keep-alive is out
    REFRESHING = "refreshing"  # its refresh is in flight
    BACKOFF = "backoff"  # waiting out the §4.5 backoff
    DONE = "done"  # fell back (or gave way to another flow's fall back)


@dataclass
class FlowState:
    """One flow as the machine knows it: its identity, its binding (Call-ID, CSeq) and where
    it runs now."""

    id: FlowId
    binding: Binding = field(default_factory=Binding)
    target: Target | None = None  # the first hop it runs (or tries to run) through
    up: bool = False
    failures: int = 0  # consecutive failed attempts to form it
    flow_timer: int | None = None
    mapped: tuple[str, int] | None = None  # what STUN says the far end sees (UDP)
    keepalives: int = 0  # keep-alives answered so far
    phase: FlowPhase = FlowPhase.HOP
    refresh_at: float = 0.0  # monotonic time its binding is refreshed


# Effects (each names the flow it is for) ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class FindHop:
    """Resolve the targets and call ``hop`` with them (None: DNS failed)."""

    flow: FlowState


@dataclass(frozen=True, slots=True)
class SendRegister:
    """REGISTER the flow's binding through exactly ``target``; call ``registered``."""

    flow: FlowState
    target: Target


@dataclass(frozen=True, slots=True)
class TakeConnection:
    """Adopt the client's pooled connection to the flow's hop as the flow's own."""

    flow: FlowState


@dataclass(frozen=True, slots=True)
class Pause:
    """Wait ``delay`` s, then ``timer``; ``watch``: the connection may fail meanwhile
    (``failed``); a backoff watches only stop and fall back."""

    flow: FlowState
    delay: float
    watch: bool


@dataclass(frozen=True, slots=True)
class SendKeepalive:
    """CRLF ping (TCP/TLS) or STUN Binding (UDP), ``wait`` s for its answer; then
    ``answered``, ``unanswered`` or ``failed``."""

    flow: FlowState
    wait: float


@dataclass(frozen=True, slots=True)
class DropConnection:
    flow: FlowState


@dataclass(frozen=True, slots=True)
class Unbind:
    """Remove the failed flow's binding through the live hops ``via`` (best effort, within
    PONG_WAIT); an answer goes to ``unbound``."""

    flow: FlowState
    via: tuple[Target, ...]


@dataclass(frozen=True, slots=True)
class Remove:
    """Unregister these flows' bindings (best effort, at once)."""

    flows: tuple[FlowState, ...]


@dataclass(frozen=True, slots=True)
class StopFlows:
    """Outbound is off: every other flow ends its wait and stops."""


@dataclass(frozen=True, slots=True)
class RegisterPlain:
    """Keep a plain RFC 3261 registration of ``binding`` instead, until the run ends."""

    binding: Binding


Effect = (
    FindHop | SendRegister | TakeConnection | Pause | SendKeepalive | DropConnection | Unbind
    | Remove | StopFlows | RegisterPlain | Emit
)  # fmt: skip


class OutboundMachine:
    """The flows of one RFC 5626 client. Each input names a flow and gives ``now``
    (monotonic seconds); the effects it returns are carried out in order."""

    def __init__(
        self,
        flows: Sequence[FlowState],
        *,
        expires: int = 3600,
        pong_wait: float = PONG_WAIT,
        rng: random.Random | None = None,
    ) -> None:
        self.flows = list(flows)
        self.expires = expires
        self.pong_wait = pong_wait
        self.rng = rng or random.Random()
        self.fallback: str | None = None  # why registration fell back to plain RFC 3261

    def live(self) -> list[Target]:
        """First hops of the flows that are up, in reg-id order: where requests go now."""
        return [f.target for f in self.flows if f.up and f.target is not None]

    # -- inputs ------------------------------------------------------------------------------

    def start(self, flow: FlowState) -> list[Effect]:
        flow.phase = FlowPhase.HOP
        return [FindHop(flow)]

    def hop(
        self, flow: FlowState, targets: Sequence[Target] | None, down: Collection[Target]
    ) -> list[Effect]:
        """The resolved targets (None: none) and those known to be down: where it goes."""
        taken = [f.target for f in self.flows if f is not flow and f.target is not None]
        where = None if targets is None else first_hop(targets, taken, down.__contains__,
                                                        flow.target)  # fmt: skip
        if where is None:
            return self._retry_later(flow, "no first hop left that no other flow uses")
        flow.target = where
        flow.phase = FlowPhase.REGISTERING
        return [SendRegister(flow, where)]

    def registered(self, flow: FlowState, outcome: Outcome, now: float) -> list[Effect]:
        """The outcome of the flow's REGISTER (forming it, or refreshing it)."""
        if flow.phase == FlowPhase.REFRESHING:
            if not outcome.ok:
                return self.failed(flow, f"refresh failed: {outcome.describe()}", now)
            flow.failures = 0
            flow.refresh_at = now + refresh_in(flow.binding.granted, self.expires)
            return [self._emit("refreshed", flow, outcome), self._pause(flow, now)]
        response = outcome.response
        if outcome.ok and response is not None and not requires_outbound(response):
            return self._fall_back(flow, outcome, "the registrar did not answer Require: outbound")
        if response is not None and response.code == 439:
            return self._fall_back(flow, outcome, "439 First Hop Lacks Outbound Support")
        if not outcome.ok or response is None:
            return self._retry_later(flow, outcome.describe(), outcome)
        flow.up = True  # failures are forgiven once the flow answers a keep-alive
        flow.flow_timer = flow_timer(response)
        flow.refresh_at = now + refresh_in(flow.binding.granted, self.expires)
        registered = self._emit("registered", flow, outcome)
        return [TakeConnection(flow), registered, self._pause(flow, now)]

    def timer(self, flow: FlowState, now: float) -> list[Effect]:
        """A pause is over: time to refresh, send a keep-alive, or form the flow again."""
        if flow.phase == FlowPhase.BACKOFF:
            return self.start(flow)
        if flow.phase != FlowPhase.UP or flow.target is None:
            return []
        if now >= flow.refresh_at:
            flow.phase = FlowPhase.REFRESHING
            return [SendRegister(flow, flow.target)]
        flow.phase = FlowPhase.PINGING
        return [SendKeepalive(flow, self.pong_wait)]

    def answered(self, flow: FlowState, mapped: tuple[str, int] | None, now: float) -> list[Effect]:
        """The keep-alive was answered (``mapped``: the STUN answer's address, on UDP)."""
        if mapped is not None and flow.mapped is not None and mapped != flow.mapped:
            return self.failed(flow, f"NAT binding changed from {flow.mapped} to {mapped} "
                                     "(§4.4.2)", now)  # fmt: skip
        flow.mapped = mapped or flow.mapped
        flow.keepalives += 1
        flow.failures = 0  # a working flow: the §4.5 count starts again
        return [self._pause(flow, now)]

    def unanswered(self, flow: FlowState, now: float) -> list[Effect]:
        """No answer to the keep-alive within ``pong_wait``."""
        udp = flow.target is not None and flow.target.transport == Transport.UDP
        kind = "STUN answer" if udp else "pong"
        return self.failed(flow, f"no {kind} within {self.pong_wait:g} s", now)

    def failed(self, flow: FlowState, reason: str, now: float) -> list[Effect]:
        """The flow failed (connection lost, keep-alive or refresh unanswered): its binding is
        removed through another flow, and it is formed again at once, or after the backoff
        if it failed before it answered a single keep-alive."""
        flow.up = False
        effects: list[Effect] = [DropConnection(flow), self._emit("flow-failed", flow, None,
                                                                  reason)]  # fmt: skip
        live = self.live()
        if live:
            effects.append(Unbind(flow, tuple(live)))
        flow.failures += 1
        if flow.failures > 1:  # failed again before it answered a single keep-alive
            return effects + self._retry_later(flow, "the flow failed again at once", count=False)
        return effects + self.start(flow)

    def unbound(self, flow: FlowState, outcome: Outcome) -> list[Effect]:
        """The failed flow's binding was removed through another flow."""
        detail = f"binding removed through another flow: {outcome.describe()}"
        return [self._emit("unbound", flow, outcome, detail, via=outcome.target)]

    def stop(self) -> list[Effect]:
        """The run is over: remove the bindings of the flows that are up."""
        up = tuple(f for f in self.flows if f.up)
        for f in up:
            f.up = False
        return [Remove(up)] if up else []

    # -- rules -------------------------------------------------------------------------------

    def _pause(self, flow: FlowState, now: float) -> Pause:
        """Until the next keep-alive (§4.4.1 pacing) or the refresh, whichever is first."""
        flow.phase = FlowPhase.UP
        transport = flow.target.transport if flow.target is not None else Transport.TCP
        interval = keepalive_interval(transport, flow.flow_timer, self.rng)
        return Pause(flow, min(now + interval, flow.refresh_at) - now, watch=True)

    def _retry_later(
        self, flow: FlowState, reason: str, outcome: Outcome | None = None, *, count: bool = True
    ) -> list[Effect]:
        """Wait the §4.5 backoff before forming the flow again (``count``: this is one more
        consecutive failure)."""
        flow.up = False
        flow.failures += 1 if count else 0
        others_up = any(f.up for f in self.flows if f is not flow)
        delay = backoff(flow.failures, not others_up, self.rng)
        flow.phase = FlowPhase.BACKOFF
        lost = self._emit("lost", flow, outcome, f"{reason}; next try in {delay:.0f} s")
        return [lost, Pause(flow, delay, watch=False)]

    def _fall_back(self, flow: FlowState, outcome: Outcome, reason: str) -> list[Effect]:
        """No outbound on this path: one plain registration (RFC 3261, with the client's
        failover), made by this flow; the other flows remove their bindings and end."""
        flow.phase = FlowPhase.DONE
        if self.fallback is not None:  # another flow fell back first: this binding goes
            flow.up = False
            return [Remove((flow,))] if outcome.ok else []
        self.fallback = reason
        binding = flow.binding if outcome.ok else Binding()
        flow.up = False
        others = tuple(f for f in self.flows if f is not flow and f.up)
        for f in others:
            f.up = False
        told = self._emit("fallback", flow, outcome, f"{reason}: plain registration instead")
        return [StopFlows(), told, Remove(others), RegisterPlain(binding)]

    @staticmethod
    def _emit(
        kind: str,
        flow: FlowState,
        outcome: Outcome | None,
        detail: str | None = None,
        via: Target | None = None,
    ) -> Emit:
        """Tell of ``kind`` for ``flow`` (``via``: where it was sent, if not the flow's hop)."""
        text = detail if detail is not None else outcome.describe() if outcome else ""
        attempts = tuple(outcome.attempts) if outcome else ()
        return Emit(kind, via or flow.target, text, attempts, flow=flow.id.reg_id)
