"""RFC 5626 (SIP Outbound), the user agent's side: stay reachable through several flows at once.

Each flow is a registration of its own (``reg-id`` 1..N, its own Call-ID) through a distinct
first hop (a different SRV target: an edge proxy), all under one ``+sip.instance`` kept on
disk so the registrar knows them for the same device across restarts. A flow is kept alive
by CRLF ping/pong on TCP/TLS and STUN Binding on UDP, paced by the edge's Flow-Timer; when
one fails the others still carry the registration and incoming requests, so failing over
costs no time at all, and the lost flow is rebuilt with the §4.5 backoff. A registrar or edge
that does not support outbound (no ``Require: outbound`` in the 2xx, or 439) gets a plain
RFC 3261 registration instead, and the event stream says so.

The rules are ``OutboundMachine`` (outbound_machine.py, pure); ``Outbound`` here carries out
its effects against a client through the one ``EffectRunner``, one per flow: pauses are timers
on the clock, REGISTERs and keep-alives are work whose results go back to the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..clock import Clock, as_clock
from ..errors import BadInput, DnsError, NotFound
from ..sip.transport import Connection
from ..target import Target
from .effects import EffectRunner, FirstFailure, first_of, within
from .failover import Steering
from .flows import OutboundLike
from .outbound_machine import (
    BASE_ALL_FAILED,
    BASE_SOME_OK,
    DEFAULT_FLOWS,
    MAX_TIME,
    PONG_WAIT,
    DropConnection,
    Effect,
    FindHop,
    FlowId,
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
    backoff,
    first_hop,
    flow_timer,
    keepalive_interval,
    requires_outbound,
)
from .registration import Registrar, Registration
from .registration_machine import Binding, Emit, RegEvent
from .walker import Outcome

__all__ = [
    "BASE_ALL_FAILED", "BASE_SOME_OK", "DEFAULT_FLOWS", "MAX_TIME", "PONG_WAIT", "Flow",
    "FlowId", "Outbound", "backoff", "first_hop", "flow_timer", "instance_path",
    "keepalive_interval", "load_instance", "requires_outbound",
]  # fmt: skip

Waiter = Callable[..., Awaitable[None]]  # (seconds, *events): sleep until either
_NO_CONNECTION = "the flow's connection is gone"
_URN = re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def instance_path() -> Path:
    """Where the instance ID lives: ``$XDG_STATE_HOME/siplocate/instance-id``."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "siplocate" / "instance-id"


def load_instance(path: Path | None = None) -> str:
    """This UA's ``+sip.instance`` (§4.1): a UUID URN made once and kept in ``path``, so the
    registrar replaces this device's flows after a restart instead of piling up new ones."""
    path = path or instance_path()
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip().lower()
    except FileNotFoundError:
        text = None
    except OSError as exc:
        raise BadInput(f"instance ID file {path}: {exc.strerror or exc}") from None
    if text is not None:
        if not _URN.fullmatch(text):
            raise BadInput(f"instance ID file {path} does not hold a urn:uuid:... line")
        return text
    urn = f"urn:uuid:{uuid.uuid4()}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.write_text(urn + "\n", encoding="ascii")
        os.replace(temporary, path)  # whole or not at all
    except OSError as exc:
        raise BadInput(f"cannot keep the instance ID in {path}: {exc.strerror or exc}") from None
    return urn


@dataclass
class Flow(FlowState):
    """One flow: the machine's state of it, and the connection it runs over now."""

    conn: Connection | None = None


class FlowConnections(Protocol):
    """The client's flow pool, as far as Outbound uses it."""

    def pooled(self, target: Target) -> Connection | None: ...

    def drop(self, conn: Connection) -> None: ...


class OutboundClient(Registrar, Protocol):
    """What Outbound uses of a client (``SipClient`` is one): what a Registration uses (for
    the plain fall back), plus REGISTER as a flow, the try list, the down-memory, the flow
    pool, and the slot where the client looks for live flows to send requests over."""

    async def register(
        self,
        expires: int = ...,
        *,
        binding: Binding | None = ...,
        steering: Steering | None = ...,
        flow: FlowId | None = ...,
    ) -> Outcome: ...

    async def unregister(
        self, *, binding: Binding | None = ..., flow: FlowId | None = ...
    ) -> Outcome | None: ...

    async def targets(self) -> tuple[list[Target], float | None]: ...

    def is_down(self, target: Target) -> bool: ...

    @property
    def flows(self) -> FlowConnections: ...

    outbound: OutboundLike | None


class Outbound:
    """Keep ``flows`` registrations of one client up through distinct first hops (RFC 5626).

    ``run(stop)`` forms the flows, keeps them alive, rebuilds the ones that fail and, when
    ``stop`` is set, removes their bindings. While it runs, the client sends new requests
    over a healthy flow and answers what arrives on any of them. Events (``RegEvent`` with
    ``flow`` set to the reg-id): registered, refreshed, flow-failed, unbound (a failed flow's
    binding removed through another flow), lost, fallback. ``wait`` (default: a timer on
    ``clock``) is how a flow waits for a backoff or its next keep-alive: ``wait(seconds,
    *events)`` returns when the time is up or one of the events is set.
    """

    def __init__(
        self,
        client: OutboundClient,
        *,
        flows: int = DEFAULT_FLOWS,
        expires: int = 3600,
        instance: str | None = None,
        instance_file: Path | None = None,
        on_event: Callable[[RegEvent], Awaitable[None] | None] | None = None,
        pong_wait: float = PONG_WAIT,
        rng: random.Random | None = None,
        wait: Waiter | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not 1 <= flows <= 16:
            raise BadInput(f"outbound flows must be between 1 and 16, not {flows}")
        self.client = client
        self.clock = as_clock(clock)
        self.instance = instance or load_instance(instance_file)
        self.flows = [Flow(FlowId(self.instance, n)) for n in range(1, flows + 1)]
        self.machine = OutboundMachine(
            self.flows, expires=expires, pong_wait=pong_wait, rng=rng or random.Random()
        )
        self.on_event = on_event
        self.wait = wait
        self.events: list[RegEvent] = []
        self._plain = asyncio.Event()  # fell back: every other flow ends
        self._stop = asyncio.Event()  # run()'s stop, once it runs
        self._failed = FirstFailure()  # a flow's work raised: the run ends
        self._runners: list[_FlowRunner] = []
        client.outbound = self

    @property
    def expires(self) -> int:
        return self.machine.expires

    @property
    def pong_wait(self) -> float:
        return self.machine.pong_wait

    @property
    def rng(self) -> random.Random:
        return self.machine.rng

    @property
    def fallback(self) -> str | None:
        """Why registration fell back to plain RFC 3261 (None: it did not)."""
        return self.machine.fallback

    def live(self) -> list[Target]:
        """First hops of the flows that are up, in reg-id order: where requests go now."""
        return self.machine.live()

    def _notify(self, event: RegEvent) -> Awaitable[None] | None:
        self.events.append(event)
        return self.on_event(event) if self.on_event is not None else None

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: keep every flow; then unregister them (bounded, best effort)."""
        self._stop = stop
        self._failed.halted.clear()
        runners = self._runners = [_FlowRunner(self) for _ in self.flows]
        try:
            for runner, flow in zip(runners, self.flows, strict=True):
                runner.apply(self.machine.start(flow))
            await first_of(stop.wait(), self._failed.halted.wait())
            self._failed.reraise()  # a flow's work failed: the others are cancelled
            for runner in runners:
                runner.end_pause()
            for runner in runners:  # work in flight ends; what it asks next sees the stop
                await runner.idle()
            self._failed.reraise()
        finally:
            for runner in runners:
                runner.close()
            last = _FlowRunner(self)
            last.apply(self.machine.stop())
            await last.idle()
            if self.client.outbound is self:
                self.client.outbound = None

    def _over(self) -> bool:
        """Stopped, or fallen back to a plain registration: flows ask nothing more."""
        return self._stop.is_set() or self._plain.is_set()

    def _carry_out(self, runner: _FlowRunner, effect: Effect) -> None:
        """One effect of a flow; async work runs on ``runner`` (the effects after it wait for
        its result), and what the machine says to that result comes back through it."""
        m, now = self.machine, self.clock.monotonic
        if isinstance(effect, Emit):
            told = self._notify(effect.event(self.clock.wall()))
            if told is not None:
                runner.start(told, _nothing, hold=True)
        elif isinstance(effect, FindHop):
            if not self._over():
                flow = effect.flow
                runner.start(self._targets(), lambda found: m.hop(flow, *found), hold=True)
        elif isinstance(effect, SendRegister):
            flow = effect.flow
            runner.start(self._register(flow, effect.target),
                         lambda outcome: m.registered(flow, outcome, now()), hold=True)  # fmt: skip
        elif isinstance(effect, TakeConnection):
            flow = self._flow(effect.flow)
            target = flow.target
            flow.conn = self.client.flows.pooled(target) if target is not None else None
        elif isinstance(effect, Pause):
            self._pause(runner, effect)
        elif isinstance(effect, SendKeepalive):
            runner.start(self._keepalive(effect), _same, hold=True)
        elif isinstance(effect, DropConnection):
            flow = self._flow(effect.flow)
            if flow.conn is not None:
                self.client.flows.drop(flow.conn)
        elif isinstance(effect, Unbind):
            runner.start(self._unbind(effect), _same, hold=True)
        elif isinstance(effect, Remove):
            runner.start(asyncio.gather(*(self._remove(f) for f in effect.flows)), _nothing,
                         hold=True)  # fmt: skip
        elif isinstance(effect, StopFlows):
            self._plain.set()
            for other in self._runners:
                if other is not runner:
                    other.end_pause()
        elif isinstance(effect, RegisterPlain):
            plain = Registration(
                self.client, expires=self.expires, binding=effect.binding,
                on_event=self._notify, clock=self.clock,
            )  # fmt: skip
            runner.start(plain.run(self._stop), _nothing, hold=True)

    def _flow(self, state: FlowState) -> Flow:
        assert isinstance(state, Flow)  # the machine holds the driver's flows
        return state

    async def _targets(self) -> tuple[list[Target] | None, list[Target]]:
        """The try list (None: DNS failed) and which of it is known to be down."""
        try:
            targets, _ = await self.client.targets()
        except (NotFound, DnsError):
            return None, []
        return targets, [t for t in targets if self.client.is_down(t)]

    async def _register(self, flow: FlowState, target: Target) -> Outcome:
        try:
            return await self.client.register(
                self.expires, binding=flow.binding, steering=Steering(only=[target]), flow=flow.id
            )
        except (NotFound, DnsError) as exc:
            return Outcome("REGISTER", None, None, error=str(exc))

    def _pause(self, runner: _FlowRunner, pause: Pause) -> None:
        """Wait out a pause: the flow's timer on the clock and, while it runs, a watch on its
        connection; a stop or the fall back ends the flow, a lost connection fails it."""
        flow = self._flow(pause.flow)
        if pause.watch and flow.conn is None:
            runner.apply(self.machine.failed(flow, _NO_CONNECTION, self.clock.monotonic()))
            return
        if self.wait is not None:  # a caller's own way of waiting
            events = [self._stop, self._plain]
            if pause.watch and flow.conn is not None:
                events.append(flow.conn.lost)
            runner.start(self.wait(pause.delay, *events), lambda _: self._paused(runner, pause),
                         hold=True)  # fmt: skip
            return
        if self._over():
            return
        runner.pause = pause
        runner.arm(_PAUSE, pause.delay)
        if pause.watch and flow.conn is not None:
            lost = flow.conn.lost
            runner.watch = runner.start(lost.wait(), lambda _: self._paused(runner, pause))

    def _paused(self, runner: _FlowRunner, pause: Pause) -> list[Effect]:
        """The pause is over (its timer, or the connection watch): what the machine says."""
        runner.end_pause()
        if self._over():
            return []  # stopped (or fell back): run() removes the binding
        flow = self._flow(pause.flow)
        now = self.clock.monotonic()
        if pause.watch and flow.conn is not None and flow.conn.lost.is_set():
            return self.machine.failed(flow, "the connection to the edge was lost", now)
        return self.machine.timer(flow, now)

    async def _keepalive(self, send: SendKeepalive) -> list[Effect]:
        flow = self._flow(send.flow)
        if flow.conn is None:
            return self.machine.failed(flow, _NO_CONNECTION, self.clock.monotonic())
        try:
            mapped = await flow.conn.keepalive(send.wait)
        except TimeoutError:
            return self.machine.unanswered(flow, self.clock.monotonic())
        except (ConnectionError, OSError) as exc:
            return self.machine.failed(flow, f"keep-alive not sent: {exc}", self.clock.monotonic())
        return self.machine.answered(flow, mapped, self.clock.monotonic())

    async def _unbind(self, unbind: Unbind) -> list[Effect]:
        """Remove a failed flow's binding through a flow still up, so the registrar stops
        trying it for incoming requests (it would wait for its own timeout first); the
        registrar finds the binding by instance and reg-id, whatever edge it came in by."""
        flow = unbind.flow
        try:
            outcome = await within(
                self.clock,
                PONG_WAIT,
                self.client.register(
                    0, binding=flow.binding, steering=Steering(only=unbind.via), flow=flow.id
                ),
            )
        except Exception:  # best effort: the binding expires on its own anyway
            return []
        return self.machine.unbound(flow, outcome) if outcome.ok else []

    async def _remove(self, flow: FlowState) -> None:
        with contextlib.suppress(Exception):
            await self.client.unregister(binding=flow.binding, flow=flow.id)


class _FlowRunner(EffectRunner[str, Effect]):
    """One flow's effects through the one effect runner: its timer is the pause (keep-alive,
    refresh or §4.5 backoff), its held work runs in order as the flow's did."""

    __slots__ = ("keeper", "pause", "watch")

    def __init__(self, keeper: Outbound) -> None:
        super().__init__(keeper.clock)
        self.keeper = keeper
        self.pause: Pause | None = None
        self.watch: asyncio.Future[bool] | None = None  # the connection watch of a pause

    def carry_out(self, effect: Effect) -> None:
        self.keeper._carry_out(self, effect)

    def on_timer(self, timer: str) -> list[Effect]:
        pause, self.pause = self.pause, None
        return self.keeper._paused(self, pause) if pause is not None else []

    def crashed(self, error: BaseException) -> None:
        self.keeper._failed.record(error)

    def end_pause(self) -> None:
        """Disarm the pause's timer and cancel its connection watch."""
        self.disarm(_PAUSE)
        self.pause = None
        watch, self.watch = self.watch, None
        if watch is not None:
            watch.cancel()


_PAUSE = "pause"


def _nothing(_: object) -> list[Effect]:
    return []


def _same(effects: list[Effect]) -> list[Effect]:
    return effects
