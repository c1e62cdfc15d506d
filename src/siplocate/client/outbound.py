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
its effects against a client, one task per flow, sleeping on the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..clock import Clock, as_clock
from ..errors import BadInput, DnsError, NotFound
from ..sip.transport import Connection
from ..target import Target
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
    binding removed through another flow), lost, fallback. ``wait`` (default: sleep on
    ``clock``) is how a flow waits for a backoff or its next keep-alive.
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
        self.wait = wait or self._sleep
        self.events: list[RegEvent] = []
        self._plain = asyncio.Event()
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

    async def _notify(self, event: RegEvent) -> None:
        self.events.append(event)
        if self.on_event is not None:
            result = self.on_event(event)
            if result is not None:
                await result

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: keep every flow; then unregister them (bounded, best effort)."""
        tasks = [asyncio.ensure_future(self._keep(flow, stop)) for flow in self.flows]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for effect in self.machine.stop():
                await self._carry_out(effect, stop)
            if self.client.outbound is self:
                self.client.outbound = None

    async def _keep(self, flow: Flow, stop: asyncio.Event) -> None:
        """Carry out what the machine asks for this flow, in order, until it asks nothing
        more (stopped, or fallen back)."""
        queue: deque[Effect] = deque(self.machine.start(flow))
        while queue:
            then = await self._carry_out(queue.popleft(), stop)
            queue.extendleft(reversed(then))

    async def _carry_out(self, effect: Effect, stop: asyncio.Event) -> list[Effect]:
        """One effect; what the machine says to its result comes back."""
        m, now = self.machine, self.clock.monotonic
        if isinstance(effect, Emit):
            await self._notify(effect.event(self.clock.wall()))
        elif isinstance(effect, FindHop):
            if stop.is_set() or self._plain.is_set():
                return []
            return m.hop(effect.flow, *await self._targets())
        elif isinstance(effect, SendRegister):
            flow = effect.flow
            return m.registered(flow, await self._register(flow, effect.target), now())
        elif isinstance(effect, TakeConnection):
            flow = self._flow(effect.flow)
            target = flow.target
            flow.conn = self.client.flows.pooled(target) if target is not None else None
        elif isinstance(effect, Pause):
            return await self._pause(effect, stop)
        elif isinstance(effect, SendKeepalive):
            return await self._keepalive(effect)
        elif isinstance(effect, DropConnection):
            flow = self._flow(effect.flow)
            if flow.conn is not None:
                self.client.flows.drop(flow.conn)
        elif isinstance(effect, Unbind):
            return await self._unbind(effect)
        elif isinstance(effect, Remove):
            await asyncio.gather(*(self._remove(f) for f in effect.flows))
        elif isinstance(effect, StopFlows):
            self._plain.set()
        elif isinstance(effect, RegisterPlain):
            plain = Registration(
                self.client, expires=self.expires, binding=effect.binding,
                on_event=self._notify, clock=self.clock,
            )  # fmt: skip
            await plain.run(stop)
        return []

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

    async def _pause(self, pause: Pause, stop: asyncio.Event) -> list[Effect]:
        """Wait out a pause; a stop or the fall back ends the flow, a lost connection fails it."""
        flow = self._flow(pause.flow)
        if not pause.watch:
            await self.wait(pause.delay, stop, self._plain)
        elif flow.conn is None:
            return self.machine.failed(
                flow, "the flow's connection is gone", self.clock.monotonic()
            )
        else:
            await self.wait(pause.delay, stop, self._plain, flow.conn.lost)
        if stop.is_set() or self._plain.is_set():
            return []  # stopped (or fell back): run() removes the binding
        now = self.clock.monotonic()
        if pause.watch and flow.conn is not None and flow.conn.lost.is_set():
            return self.machine.failed(flow, "the connection to the edge was lost", now)
        return self.machine.timer(flow, now)

    async def _keepalive(self, send: SendKeepalive) -> list[Effect]:
        flow = self._flow(send.flow)
        if flow.conn is None:
            return self.machine.failed(
                flow, "the flow's connection is gone", self.clock.monotonic()
            )
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
            outcome = await asyncio.wait_for(
                self.client.register(
                    0, binding=flow.binding, steering=Steering(only=unbind.via), flow=flow.id
                ),
                PONG_WAIT,
            )
        except Exception:  # best effort: the binding expires on its own anyway
            return []
        return self.machine.unbound(flow, outcome) if outcome.ok else []

    async def _remove(self, flow: FlowState) -> None:
        with contextlib.suppress(Exception):
            await self.client.unregister(binding=flow.binding, flow=flow.id)

    async def _sleep(self, delay: float, *events: asyncio.Event) -> None:
        """Sleep ``delay`` seconds on the clock or until one of ``events`` is set."""
        if any(e.is_set() for e in events):
            return
        waiters: list[asyncio.Future[object]] = [asyncio.ensure_future(self.clock.sleep(delay))]
        waiters += [asyncio.ensure_future(e.wait()) for e in events]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
