"""RFC 5626 (SIP Outbound), the user agent's side: stay reachable through several flows at once.

Each flow is a registration of its own (``reg-id`` 1..N, its own Call-ID) through a distinct
first hop (a different SRV target: an edge proxy), all under one ``+sip.instance`` kept on
disk so the registrar knows them for the same device across restarts. A flow is kept alive
by CRLF ping/pong on TCP/TLS and STUN Binding on UDP, paced by the edge's Flow-Timer; when
one fails the others still carry the registration and incoming requests, so failing over
costs no time at all, and the lost flow is rebuilt with the §4.5 backoff. A registrar or edge
that does not support outbound (no ``Require: outbound`` in the 2xx, or 439) gets a plain
RFC 3261 registration instead, and the event stream says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BadInput, DnsError, NotFound
from ..sip.transport import Connection
from ..target import Target, Transport
from .failover import Steering
from .registration import Binding, RegEvent, Registration
from .walker import Outcome

if TYPE_CHECKING:
    from sipmessage import Response

    from .sipclient import SipClient

Waiter = Callable[..., Awaitable[None]]  # (seconds, *events): sleep until either
DEFAULT_FLOWS = 2
PONG_WAIT = 10.0  # §4.4.1: no pong within 10 s and the flow has failed
MAX_TIME = 1800.0  # §4.5 defaults: max-time, and base-time when all flows / some flows failed
BASE_ALL_FAILED = 30.0
BASE_SOME_OK = 90.0
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


@dataclass
class Flow:
    """One flow: its identity, its binding (Call-ID, CSeq) and where it runs now."""

    id: FlowId
    binding: Binding = field(default_factory=Binding)
    target: Target | None = None  # the first hop it runs (or tries to run) through
    conn: Connection | None = None
    up: bool = False
    failures: int = 0  # consecutive failed attempts to form it
    flow_timer: int | None = None
    mapped: tuple[str, int] | None = None  # what STUN says the far end sees (UDP)
    keepalives: int = 0  # keep-alives answered so far


class Outbound:
    """Keep ``flows`` registrations of one client up through distinct first hops (RFC 5626).

    ``run(stop)`` forms the flows, keeps them alive, rebuilds the ones that fail and, when
    ``stop`` is set, removes their bindings. While it runs, the client sends new requests
    over a healthy flow and answers what arrives on any of them. Events (``RegEvent`` with
    ``flow`` set to the reg-id): registered, refreshed, flow-failed, unbound (a failed flow's
    binding removed through another flow), lost, fallback.
    """

    def __init__(
        self,
        client: SipClient,
        *,
        flows: int = DEFAULT_FLOWS,
        expires: int = 3600,
        instance: str | None = None,
        instance_file: Path | None = None,
        on_event: Callable[[RegEvent], Awaitable[None] | None] | None = None,
        pong_wait: float = PONG_WAIT,
        rng: random.Random | None = None,
        wait: Waiter | None = None,
    ) -> None:
        if not 1 <= flows <= 16:
            raise BadInput(f"outbound flows must be between 1 and 16, not {flows}")
        self.client = client
        self.instance = instance or load_instance(instance_file)
        self.flows = [Flow(FlowId(self.instance, n)) for n in range(1, flows + 1)]
        self.expires = expires
        self.on_event = on_event
        self.pong_wait = pong_wait
        self.rng = rng or random.Random()
        self.wait = wait or _wait  # how a flow waits for a backoff or its next keep-alive
        self.events: list[RegEvent] = []
        self.fallback: str | None = None  # why registration fell back to plain RFC 3261
        self._plain = asyncio.Event()
        client.outbound = self

    def live(self) -> list[Target]:
        """First hops of the flows that are up, in reg-id order: where requests go now."""
        return [f.target for f in self.flows if f.up and f.target is not None]

    async def _emit(
        self, kind: str, flow: Flow, detail: str, outcome: Outcome | None, via: Target | None = None
    ) -> None:
        """Tell of ``kind`` for ``flow`` (``via``: where it was sent, if not the flow's hop)."""
        event = RegEvent(
            kind, via or flow.target, time.time(), detail, outcome.attempts if outcome else [],
            flow=flow.id.reg_id,
        )  # fmt: skip
        await self._notify(event)

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
            await asyncio.gather(*(self._remove(f) for f in self.flows if f.up))
            if self.client.outbound is self:
                self.client.outbound = None

    async def _remove(self, flow: Flow) -> None:
        flow.up = False
        with contextlib.suppress(Exception):
            await self.client.unregister(binding=flow.binding, flow=flow.id)

    async def _keep(self, flow: Flow, stop: asyncio.Event) -> None:
        """Form the flow, keep it, form it again when it fails, until stopped."""
        while not stop.is_set() and not self._plain.is_set():
            target = await self._first_hop(flow)
            if target is None:
                await self._retry_later(flow, stop, "no first hop left that no other flow uses")
                continue
            flow.target = target
            outcome = await self._register(flow, target)
            response = outcome.response
            if outcome.ok and response is not None and not requires_outbound(response):
                await self._fall_back(flow, outcome, stop, "the registrar did not answer "
                                      "Require: outbound")  # fmt: skip
                return
            if response is not None and response.code == 439:
                await self._fall_back(flow, outcome, stop, "439 First Hop Lacks Outbound Support")
                return
            if not outcome.ok or response is None:
                await self._retry_later(flow, stop, outcome.describe(), outcome)
                continue
            flow.up = True  # failures are forgiven once the flow answers a keep-alive
            flow.flow_timer = flow_timer(response)
            flow.conn = self.client.flows.pooled(target)
            await self._emit("registered", flow, outcome.describe(), outcome)
            reason = await self._maintain(flow, stop)
            if reason is None:
                return  # stopped (or fell back): run() removes the binding
            flow.up = False
            if flow.conn is not None:
                self.client.flows.drop(flow.conn)
            await self._emit("flow-failed", flow, reason, None)
            await self._forget(flow)
            flow.failures += 1
            if flow.failures > 1:  # failed again before it answered a single keep-alive
                await self._retry_later(flow, stop, "the flow failed again at once", count=False)

    async def _forget(self, flow: Flow) -> None:
        """Remove a failed flow's binding through a flow still up, so the registrar stops
        trying it for incoming requests (it would wait for its own timeout first); the
        registrar finds the binding by instance and reg-id, whatever edge it came in by."""
        live = self.live()
        if not live:
            return
        try:
            outcome = await asyncio.wait_for(
                self.client.register(
                    0, binding=flow.binding, steering=Steering(only=live), flow=flow.id
                ),
                PONG_WAIT,
            )
        except Exception:  # best effort: the binding expires on its own anyway
            return
        if outcome.ok:
            detail = f"binding removed through another flow: {outcome.describe()}"
            await self._emit("unbound", flow, detail, outcome, outcome.target)

    async def _register(self, flow: Flow, target: Target) -> Outcome:
        try:
            return await self.client.register(
                self.expires, binding=flow.binding, steering=Steering(only=[target]), flow=flow.id
            )
        except (NotFound, DnsError) as exc:
            return Outcome("REGISTER", None, None, error=str(exc))

    async def _first_hop(self, flow: Flow) -> Target | None:
        try:
            targets, _ = await self.client.targets()
        except (NotFound, DnsError):
            return None
        taken = [f.target for f in self.flows if f is not flow and f.target is not None]
        return first_hop(targets, taken, self.client.is_down, flow.target)

    async def _retry_later(
        self,
        flow: Flow,
        stop: asyncio.Event,
        reason: str,
        outcome: Outcome | None = None,
        *,
        count: bool = True,
    ) -> None:
        """Wait the §4.5 backoff before forming the flow again (``count``: this is one
        more consecutive failure)."""
        flow.up = False
        flow.failures += 1 if count else 0
        others_up = any(f.up for f in self.flows if f is not flow)
        delay = backoff(flow.failures, not others_up, self.rng)
        await self._emit("lost", flow, f"{reason}; next try in {delay:.0f} s", outcome)
        await self.wait(delay, stop, self._plain)

    async def _maintain(self, flow: Flow, stop: asyncio.Event) -> str | None:
        """Keep-alives and refreshes on the flow until it fails (the reason) or the run ends
        (None)."""
        conn, target = flow.conn, flow.target
        if conn is None or target is None:
            return "the flow's connection is gone"
        loop = asyncio.get_running_loop()
        refresh_at = loop.time() + _refresh_in(flow.binding, self.expires)
        while True:
            interval = keepalive_interval(target.transport, flow.flow_timer, self.rng)
            wake = min(loop.time() + interval, refresh_at)
            await self.wait(wake - loop.time(), stop, self._plain, conn.lost)
            if stop.is_set() or self._plain.is_set():
                return None
            if conn.lost.is_set():
                return "the connection to the edge was lost"
            if loop.time() >= refresh_at:
                outcome = await self._register(flow, target)
                if not outcome.ok:
                    return f"refresh failed: {outcome.describe()}"
                flow.failures = 0
                refresh_at = loop.time() + _refresh_in(flow.binding, self.expires)
                await self._emit("refreshed", flow, outcome.describe(), outcome)
                continue
            try:
                mapped = await conn.keepalive(self.pong_wait)
            except TimeoutError:
                kind = "STUN answer" if target.transport == Transport.UDP else "pong"
                return f"no {kind} within {self.pong_wait:g} s"
            except (ConnectionError, OSError) as exc:
                return f"keep-alive not sent: {exc}"
            if mapped is not None and flow.mapped is not None and mapped != flow.mapped:
                return f"NAT binding changed from {flow.mapped} to {mapped} (§4.4.2)"
            flow.mapped = mapped or flow.mapped
            flow.keepalives += 1
            flow.failures = 0  # a working flow: the §4.5 count starts again

    async def _fall_back(
        self, flow: Flow, outcome: Outcome, stop: asyncio.Event, reason: str
    ) -> None:
        """No outbound on this path: one plain registration (RFC 3261, with the client's
        failover), made by this flow; the other flows remove their bindings and end."""
        if self._plain.is_set():  # another flow fell back first: this binding goes
            if outcome.ok:
                await self._remove(flow)
            return
        self.fallback = reason
        self._plain.set()
        await self._emit("fallback", flow, f"{reason}: plain registration instead", outcome)
        binding = flow.binding if outcome.ok else Binding()
        flow.up = False
        others = [f for f in self.flows if f is not flow and f.up]
        await asyncio.gather(*(self._remove(f) for f in others))
        plain = Registration(
            self.client, expires=self.expires, binding=binding, on_event=self._notify
        )
        await plain.run(stop)


def _refresh_in(binding: Binding, expires: int) -> float:
    granted = binding.granted or expires
    return max(1.0, granted / 2)


async def _wait(delay: float, *events: asyncio.Event) -> None:
    """Sleep ``delay`` seconds or until one of ``events`` is set."""
    if any(e.is_set() for e in events):
        return
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=max(0.0, delay), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
