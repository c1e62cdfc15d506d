"""The async SIP client: requests that walk the RFC 3263 target list and fail over.

``SipClient`` owns the connections, the transactions in flight and the failover memory
shared by all its requests. ``Registration`` keeps a binding alive (refresh, failover,
failback); ``health.HealthMonitor`` can feed it. Resolution always goes through
``siplocate.Resolver`` (or a ``static`` list of addresses, which needs no DNS).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sipmessage import URI, Address, Parameters, Request, Response

from .errors import BadInput, DnsError, NotFound, OperationFailed
from .failover import FAILOVER_ON, Failback, Failover, Failure, Policy, Steering
from .sip.auth import AuthError
from .sip.message import (
    RequestSpec,
    branch_of,
    build_cancel,
    build_request,
    cseq_method,
    header_expires,
    loose_key,
    new_call_id,
    new_tag,
    retry_after,
)
from .sip.server import Arm as ServerArm
from .sip.server import Effect as ServerEffect
from .sip.server import Reply, ServerTransaction, Unacked, build_response, decide
from .sip.server import Timer as ServerTimer
from .sip.transaction import (
    Arm as TxArm,
)
from .sip.transaction import (
    ClientTransaction,
    Final,
    Provisional,
    TimedOut,
    Timer,
    Timers,
    TransportError,
    new_transaction,
)
from .sip.transaction import (
    Effect as TxEffect,
)
from .sip.transaction import (
    Send as TxSend,
)
from .sip.transport import SUPPORTED, Connection, open_connection, tls_context
from .target import DEFAULT_TRANSPORTS, SipTarget, Target, Transport, Via, is_ip, parse_transports
from .walker import (
    INVITE_RING_LIMIT,
    Abandon,
    Attempt,
    Cancel,
    Credentials,
    Disarm,
    Done,
    MarkDown,
    MarkUp,
    Outcome,
    Rules,
    Walker,
)
from .walker import (
    Arm as WalkArm,
)
from .walker import (
    Effect as WalkEffect,
)
from .walker import (
    Send as WalkSend,
)
from .walker import (
    Timer as WalkTimer,
)

__all__ = [
    "INVITE_RING_LIMIT",
    "Attempt",
    "Binding",
    "Dialog",
    "Incoming",
    "Outcome",
    "RegEvent",
    "Registration",
    "SipClient",
    "Steering",
]


class ResolutionLike(Protocol):
    """What the client needs from a resolution: the ordered try list and when it expires."""

    @property
    def targets(self) -> Sequence[Target]: ...

    @property
    def expires(self) -> float | None: ...


class Locator(Protocol):
    """``siplocate.Resolver`` as the client sees it."""

    async def locate(self, target: str, *, key: object | None = None) -> ResolutionLike: ...


@dataclass
class StaticResolution:
    targets: list[Target]
    expires: float | None = None


class StaticLocator:
    """The ``static`` policy: a configured primary and backups, no DNS at all."""

    def __init__(self, servers: Sequence[str], transports: Sequence[Transport]) -> None:
        self.targets = [static_target(s, transports[0]) for s in servers]
        if not self.targets:
            raise BadInput("the static policy needs at least one server address")

    async def locate(self, target: str, *, key: object | None = None) -> StaticResolution:
        return StaticResolution(list(self.targets))


def static_target(text: str, transport: Transport) -> Target:
    """``ADDRESS[:PORT][;transport=T]`` (IP literal only: static means no DNS) -> Target."""
    parsed = SipTarget.parse(text)
    if not is_ip(parsed.host):
        raise BadInput(
            f"static server {text!r} must be an IP address (the static policy uses no DNS)"
        )
    t = parsed.transport or transport
    port = parsed.port or t.default_port
    return Target(t, parsed.host, port, parsed.host, via=Via.LITERAL)


class _Transactions:
    """Client transactions in flight, by (branch, method): where responses are matched."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], _Runner] = {}

    def add(self, runner: _Runner) -> None:
        self._by_key[runner.key] = runner

    def remove(self, runner: _Runner) -> None:
        if self._by_key.get(runner.key) is runner:
            del self._by_key[runner.key]

    def get(self, key: tuple[str, str]) -> _Runner | None:
        return self._by_key.get(key)

    def all(self) -> list[_Runner]:
        return list(self._by_key.values())


class TxListener(Protocol):
    """Who hears what a client transaction ended with (the walk driving it)."""

    def tx_provisional(self, runner: _Runner, response: Response) -> None: ...
    def tx_final(self, runner: _Runner, response: Response) -> None: ...
    def tx_failed(self, runner: _Runner, failure: Failure, reason: str) -> None: ...


class _Runner:
    """The asyncio side of one client transaction: timers via call_later, effects applied."""

    def __init__(
        self,
        table: _Transactions,
        conn: Connection,
        tx: ClientTransaction,
        listener: TxListener | None = None,
    ) -> None:
        self.table = table
        self.conn = conn
        self.tx = tx
        self.listener = listener
        loop = asyncio.get_running_loop()
        self.result: asyncio.Future[Response | None] = loop.create_future()
        self.handles: dict[Timer, asyncio.TimerHandle] = {}
        self.key = (branch_of(tx.request) or "", tx.request.method)
        self.attempt = 0  # the walker's id for this try
        table.add(self)

    def apply(self, effects: list[TxEffect]) -> None:
        loop = asyncio.get_running_loop()
        for effect in effects:
            if isinstance(effect, TxSend):
                try:
                    self.conn.send(bytes(effect.request))
                except OSError as exc:
                    self.apply(self.tx.transport_error(_reason(exc)))
            elif isinstance(effect, TxArm):
                old = self.handles.pop(effect.timer, None)
                if old is not None:
                    old.cancel()
                self.handles[effect.timer] = loop.call_later(effect.delay, self.fire, effect.timer)
            elif isinstance(effect, Provisional):
                if self.listener is not None:
                    self.listener.tx_provisional(self, effect.response)
            elif isinstance(effect, Final):
                self._finish(effect.response)
                if self.listener is not None:
                    self.listener.tx_final(self, effect.response)
            elif isinstance(effect, TimedOut):
                self._finish(None)
                if self.listener is not None:
                    self.listener.tx_failed(self, Failure.TIMEOUT, "timeout (Timer B/F)")
            elif isinstance(effect, TransportError):
                self._finish(None)
                if self.listener is not None:
                    self.listener.tx_failed(self, Failure.TRANSPORT, effect.reason)
        if self.tx.done:
            self.close()

    def _finish(self, response: Response | None) -> None:
        if not self.result.done():
            self.result.set_result(response)

    def fire(self, timer: Timer) -> None:
        self.handles.pop(timer, None)
        self.apply(self.tx.fire(timer))

    def malformed(self, reason: str) -> None:
        """A response for this transaction could not be used: the target failed."""
        self._finish(None)
        if self.listener is not None:
            self.listener.tx_failed(self, Failure.MALFORMED, reason)
        self.close()

    def abort(self) -> None:
        """Stop retransmitting and forget the transaction; nobody is told (they moved on)."""
        self.listener = None
        self._finish(None)
        self.close()

    def close(self) -> None:
        for handle in self.handles.values():
            handle.cancel()
        self.handles.clear()
        self.table.remove(self)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate rejected: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc.reason or exc}"
    if isinstance(exc, TimeoutError):
        return "connect timeout"
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return text.lower() if text else type(exc).__name__


class _Walk:
    """The asyncio driver of one ``Walker``: carries its effects out, feeds it events."""

    def __init__(
        self,
        client: SipClient,
        walker: Walker,
        on_request: Callable[[Request, Connection], None] | None = None,
    ) -> None:
        self.client = client
        self.walker = walker
        self.on_request = on_request
        loop = asyncio.get_running_loop()
        self.done: asyncio.Future[Done] = loop.create_future()
        self.timers: dict[WalkTimer, asyncio.TimerHandle] = {}
        self.runners: dict[int, _Runner] = {}
        self.tasks: set[asyncio.Future[None]] = set()

    async def run(self) -> Done:
        self.apply(self.walker.start(time.time()))
        try:
            return await asyncio.shield(self.done)
        finally:
            self._stop()

    def apply(self, effects: list[WalkEffect]) -> None:
        loop = asyncio.get_running_loop()
        for effect in effects:
            if isinstance(effect, WalkSend):
                task = asyncio.ensure_future(self._send(effect))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            elif isinstance(effect, WalkArm):
                self._disarm(effect.timer)
                self.timers[effect.timer] = loop.call_later(effect.delay, self._fire, effect.timer)
            elif isinstance(effect, Disarm):
                self._disarm(effect.timer)
            elif isinstance(effect, Abandon):
                runner = self.runners.pop(effect.attempt, None)
                if runner is not None:
                    runner.abort()
            elif isinstance(effect, Cancel):
                runner = self.runners.get(effect.attempt)
                if runner is not None:
                    task = asyncio.ensure_future(self.client._cancel(runner))
                    self.tasks.add(task)
                    task.add_done_callback(self.tasks.discard)
            elif isinstance(effect, MarkDown):
                self.client.mark(
                    effect.target, False, failure=effect.failure, retry_after=effect.retry_after
                )
            elif isinstance(effect, MarkUp):
                self.client.mark(effect.target, True, expires=self.client.expires)
            elif isinstance(effect, Done) and not self.done.done():
                self.done.set_result(effect)

    def _disarm(self, timer: WalkTimer) -> None:
        handle = self.timers.pop(timer, None)
        if handle is not None:
            handle.cancel()

    def _fire(self, timer: WalkTimer) -> None:
        self.timers.pop(timer, None)
        self.apply(self.walker.timer(timer, time.time()))

    async def _send(self, send: WalkSend) -> None:
        client, walker = self.client, self.walker
        try:
            conn = await client._connection(send.target, walker.rules.budget)
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            self.apply(walker.transport_error(send.attempt, _reason(exc), time.time()))
            return
        if walker.attempt != send.attempt or walker.done:
            return  # the walk moved on while the flow opened
        request = build_request(send.spec, transport=send.target.transport, local=conn.local)
        tx = new_transaction(request, reliable=conn.reliable, timers=client.timers)
        runner = _Runner(client.transactions, conn, tx, self)
        runner.attempt = send.attempt
        self.runners[send.attempt] = runner
        if self.on_request is not None:
            self.on_request(request, conn)
        runner.apply(tx.start())

    def tx_provisional(self, runner: _Runner, response: Response) -> None:
        self.apply(self.walker.provisional(self._attempt(runner), time.time()))

    def tx_final(self, runner: _Runner, response: Response) -> None:
        self.apply(self.walker.final(self._attempt(runner), response, time.time()))

    def tx_failed(self, runner: _Runner, failure: Failure, reason: str) -> None:
        attempt, now = self._attempt(runner), time.time()
        if failure == Failure.TIMEOUT:
            self.apply(self.walker.timed_out(attempt, now))
        elif failure == Failure.MALFORMED:
            self.apply(self.walker.malformed(attempt, reason, now))
        else:
            self.apply(self.walker.transport_error(attempt, reason, now))

    @staticmethod
    def _attempt(runner: _Runner) -> int:
        return runner.attempt

    def _stop(self) -> None:
        for handle in self.timers.values():
            handle.cancel()
        self.timers.clear()
        if not self.done.done():  # cancelled from outside: abandon what is in flight
            for runner in self.runners.values():
                runner.abort()
            for task in self.tasks:
                task.cancel()
        self.runners.clear()


EventHandler = Callable[[Target, bool], None]
DialogKey = tuple[str, str, str]  # Call-ID, local tag, remote tag (RFC 3261 §12)


@dataclass
class Incoming:
    """A request the client answered, as the application hears of it (``on_incoming``).

    ``dialog``: the dialog it set up (a 2xx to INVITE) or ended (BYE), if any.
    """

    request: Request
    status: int
    dialog: Dialog | None = None
    at: float = 0.0

    @property
    def method(self) -> str:
        return self.request.method


#: The application's answer to an incoming INVITE: a status code (2xx accepts the call).
InviteHandler = Callable[[Request], "Awaitable[int] | int"]


class _ServerRunner:
    """The asyncio side of one server transaction: replies on its flow, timers by call_later."""

    def __init__(self, client: SipClient, conn: Connection, tx: ServerTransaction) -> None:
        self.client = client
        self.conn = conn
        self.tx = tx
        self.key = (branch_of(tx.request) or "", tx.request.method)
        self.handles: dict[ServerTimer, asyncio.TimerHandle] = {}
        self.dialog: Dialog | None = None

    def apply(self, effects: list[ServerEffect]) -> None:
        loop = asyncio.get_running_loop()
        for effect in effects:
            if isinstance(effect, Reply):
                with contextlib.suppress(OSError):
                    self.conn.send(bytes(effect.response))
            elif isinstance(effect, ServerArm):
                old = self.handles.pop(effect.timer, None)
                if old is not None:
                    old.cancel()
                self.handles[effect.timer] = loop.call_later(effect.delay, self.fire, effect.timer)
            elif isinstance(effect, Unacked) and self.dialog is not None:
                # §13.3.1.4: a 2xx never ACKed ends the dialog (the caller is gone).
                self.client.dialogs.pop(self.dialog.key, None)
                self.dialog.ended = True
        if self.tx.done:
            self.close()

    def respond(self, code: int, headers: list[tuple[str, str]] | None = None) -> None:
        response = build_response(self.tx.request, code, to_tag=self.tx.to_tag, headers=headers)
        self.apply(self.tx.respond(response))

    def fire(self, timer: ServerTimer) -> None:
        self.handles.pop(timer, None)
        self.apply(self.tx.fire(timer))

    def close(self) -> None:
        for handle in self.handles.values():
            handle.cancel()
        self.handles.clear()
        self.client._servers.pop(self.key, None)


@dataclass
class Binding:
    """The state of one registration (RFC 3261 §10.2): its Call-ID and From tag stay the same
    across refreshes, the CSeq grows; ``target`` holds it, for ``granted`` seconds."""

    call_id: str = field(default_factory=new_call_id)
    tag: str = field(default_factory=new_tag)
    cseq: int = 0
    target: Target | None = None
    granted: int | None = None


class SipClient:
    """A SIP user agent for one address-of-record, with failover across the target list.

    ``failover_after`` is the failover budget: how long a target may stay silent before the
    request moves on (Timer B/F still bound the transaction; the budget is usually shorter).
    ``down_for`` is how long a failed target stays marked down (503 Retry-After overrides).
    ``tries``: unanswered tries per target before moving on; ``failover_on``: the final
    responses that send a request to the next target (RFC 3263 §4.3: 503).
    ``connected_udp=False`` uses an unconnected UDP socket like most clients (ICMP errors
    then go unnoticed); it exists for comparisons.
    """

    def __init__(
        self,
        aor: str,
        *,
        password: str | None = None,
        username: str | None = None,
        resolver: Locator | None = None,
        nameservers: Sequence[str] | None = None,
        zones: Sequence[Path] | None = None,
        transports: Sequence[str | Transport] | str = DEFAULT_TRANSPORTS,
        policy: Policy | str = Policy.DEFAULT,
        static: Sequence[str] | None = None,
        failover_after: float | None = None,
        timers: Timers | None = None,
        down_for: float = 30.0,
        tries: int = 1,
        failover_on: frozenset[int] = FAILOVER_ON,
        ca_file: Path | None = None,
        connected_udp: bool = True,
    ) -> None:
        self.aor = SipTarget.parse(aor)
        self.user = self.aor.user or "siplocate"  # From user for probes of a bare domain
        self.password = password
        self.username = username or self.user
        self.transports = parse_transports(
            tuple(transports) if not isinstance(transports, str) else transports
        )
        unsupported = [t for t in self.transports if t not in SUPPORTED]
        if unsupported:
            raise BadInput(
                f"this client speaks udp, tcp and tls only, not {', '.join(map(str, unsupported))}"
            )
        self.policy = Policy.parse(policy) if isinstance(policy, str) else policy
        if static and self.policy != Policy.STATIC:
            self.policy = Policy.STATIC
        if self.policy == Policy.STATIC:
            self.resolver: Locator = StaticLocator(static or [], self.transports)
        elif resolver is not None:
            self.resolver = resolver
        else:
            self.resolver = _default_resolver(nameservers, zones, self.transports)
        if failover_after is not None and not failover_after > 0:
            raise BadInput(f"the failover budget must be positive, not {failover_after}")
        if tries < 1:
            raise BadInput(f"tries per target must be at least 1, not {tries}")
        self.failover_after = failover_after
        self.timers = timers or Timers()
        self.rules = Rules(
            budget=failover_after,
            tries=tries,
            failover_on=frozenset(failover_on),
            cancel_wait=self.timers.b,
        )
        self.failover = Failover(self.policy, down_for=down_for)
        self.ca_file = ca_file
        self.connected_udp = connected_udp
        self._ssl: ssl.SSLContext | None = None
        if ca_file is not None:
            try:
                self._ssl = tls_context(ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise BadInput(
                    f"CA file {ca_file}: {getattr(exc, 'strerror', None) or exc}"
                ) from None
        self._connections: dict[tuple[str, str, int], Connection] = {}
        self._connecting: dict[tuple[str, str, int], asyncio.Future[Connection]] = {}
        self.transactions = _Transactions()
        self.binding = Binding()  # what ``register()`` keeps when no Registration is used
        self._order_key = new_call_id()
        self.expires: float | None = None  # when the last resolution runs out (Unix time)
        self.last_targets: list[Target] = []
        self.listeners: list[EventHandler] = []  # (target, up) from health checks and requests
        # Answering: the application decides INVITEs (default: 480) and hears of every
        # request answered; dialogs are matched by (Call-ID, local tag, remote tag).
        self.on_invite: InviteHandler | None = None
        self.on_incoming: Callable[[Incoming], None] | None = None
        self.dialogs: dict[DialogKey, Dialog] = {}
        self._servers: dict[tuple[str, str], _ServerRunner] = {}
        self._tasks: set[asyncio.Future[None]] = set()

    # -- what the client knows about targets -------------------------------------------------

    @property
    def domain(self) -> str:
        return self.aor.host

    @property
    def registered(self) -> Target | None:
        """Where ``register()`` (without a Registration of its own) holds the binding."""
        return self.binding.target

    @property
    def granted(self) -> int | None:
        return self.binding.granted

    async def targets(self) -> tuple[list[Target], float | None]:
        """The current try list from the resolver (cached there), restricted to our transports."""
        # Keyed per client: the same client always sees the same order within a priority
        # (RFC 3263 §4.4), so "higher-ranked" means the same thing each time.
        res = await self.resolver.locate(self.aor.text, key=self._order_key)
        targets = [t for t in res.targets if t.transport in self.transports]
        if not targets:
            raise NotFound(f"no target for {self.aor} over {','.join(map(str, self.transports))}")
        self.last_targets = targets
        self.expires = res.expires
        return targets, res.expires

    def mark(
        self,
        target: Target,
        up: bool,
        *,
        failure: Failure = Failure.TIMEOUT,
        retry_after: float | None = None,
        until: float | None = None,
        expires: float | None = None,
    ) -> None:
        """A request learned that ``target`` answered (``up``) or failed; listeners are told.

        Down: until ``until`` (Unix time; ``math.inf`` = until seen up), else Retry-After,
        else ``down_for``. Up makes it the sticky target (``expires``: when the DNS answer
        behind it runs out, for sticky-ttl).
        """
        now = time.time()
        if up:
            self.failover.succeeded(target, now, expires)
        else:
            self.failover.failed(target, now, failure, retry_after, until)
        self._tell(target, up)

    def observed(self, target: Target, up: bool, *, changed: bool = True) -> None:
        """A health probe's verdict: up (not made sticky) or down until seen up again;
        listeners hear of it when it ``changed``."""
        if up:
            self.failover.observed_up(target)
        else:
            self.failover.failed(target, time.time(), Failure.TIMEOUT, until=math.inf)
        if changed:
            self._tell(target, up)

    def is_down(self, target: Target) -> bool:
        return self.failover.is_down(target, time.time())

    def _tell(self, target: Target, up: bool) -> None:
        for listener in list(self.listeners):
            listener(target, up)

    # -- connections -----------------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = tls_context(self.ca_file)
        return self._ssl

    async def _connection(self, target: Target, budget: float | None) -> Connection:
        """The pooled flow to ``target``, opening it (once, shared by concurrent callers)
        within the failover budget; raises OSError/ssl.SSLError/TimeoutError.
        """
        k = (target.transport.value, target.address, target.port)
        conn = self._connections.get(k)
        if conn is not None and not conn.closed:
            return conn
        pending = self._connecting.get(k)
        if pending is None:
            pending = asyncio.ensure_future(self._open(k, target, budget or self.timers.f))
            self._connecting[k] = pending
            pending.add_done_callback(lambda f: self._opened(k, f))
        return await asyncio.shield(pending)

    async def _open(self, k: tuple[str, str, int], target: Target, timeout: float) -> Connection:
        conn = await asyncio.wait_for(
            open_connection(
                target,
                self._on_message,
                self._on_error,
                ssl_context=self._ssl_context() if target.transport == Transport.TLS else None,
                server_name=self.domain,  # RFC 5922: the certificate must name the SIP domain
                connected_udp=self.connected_udp,
                on_garbage=self._on_garbage,
            ),
            timeout,
        )
        self._connections[k] = conn  # pooled even if every caller gave up meanwhile
        return conn

    def _opened(self, k: tuple[str, str, int], fut: asyncio.Future[Connection]) -> None:
        if self._connecting.get(k) is fut:
            del self._connecting[k]
        if not fut.cancelled():
            fut.exception()  # retrieved: callers that gave up must not leave a warning

    def _on_message(self, msg: Request | Response, conn: Connection) -> None:
        if isinstance(msg, Request):
            self._serve(msg, conn)
            return
        runner = self.transactions.get((branch_of(msg) or "", cseq_method(msg) or ""))
        if runner is not None and runner.conn is conn:
            runner.apply(runner.tx.receive(msg))
        else:
            self._stray(msg, conn)

    def _on_garbage(self, data: bytes, reason: str, conn: Connection) -> None:
        """Bytes that are not usable SIP: if they name a transaction of ours on this flow,
        that target failed now (rather than after the budget or Timer F)."""
        key = loose_key(data)
        runner = self.transactions.get(key) if key is not None else None
        if runner is not None and runner.conn is conn:
            runner.malformed(reason)

    def _on_error(self, exc: Exception, conn: Connection) -> None:
        """A flow failed: fail its pending transactions; drop it unless it is a UDP socket
        that merely reported an ICMP error (it stays open, same port, same Contact)."""
        for runner in self.transactions.all():
            if runner.conn is conn:
                runner.apply(runner.tx.transport_error(_reason(exc)))
        if conn.reliable or conn.closed:
            k = (conn.target.transport.value, conn.target.address, conn.target.port)
            if self._connections.get(k) is conn:
                del self._connections[k]
            conn.close()

    # -- answering (UAS) ---------------------------------------------------------------------

    def _serve(self, request: Request, conn: Connection) -> None:
        """A request sent to us (relayed by the registrar, or in one of our dialogs): matched
        to its server transaction (a retransmission, an ACK, a CANCEL) or answered anew."""
        method = request.method
        branch = branch_of(request) or ""
        problem = _unusable(request)
        if problem is not None:  # §8.2: answer 400 (never an ACK), and go no further
            if method != "ACK":
                runner = _ServerRunner(self, conn, ServerTransaction(
                    request, reliable=conn.reliable, timers=self.timers
                ))  # fmt: skip
                self._servers.setdefault(runner.key, runner)
                self._answer(runner, 400, [("Warning", f'399 siplocate "{problem}"')])
            return
        if method in ("ACK", "CANCEL"):
            invite = self._servers.get((branch, "INVITE"))
            if method == "ACK":
                self._ack(request, invite)
                return
            self._cancel_incoming(request, conn, invite)
            return
        existing = self._servers.get((branch, method))
        if existing is not None:
            existing.apply(existing.tx.receive(request))  # a retransmission
            return
        runner = _ServerRunner(self, conn, ServerTransaction(
            request, reliable=conn.reliable, timers=self.timers
        ))  # fmt: skip
        self._servers[runner.key] = runner
        to_tag = _header_tag(request, "To")
        if to_tag is not None:
            self._in_dialog(request, runner, to_tag)
        elif method == "INVITE":
            runner.respond(100)  # §17.2.1: stop the caller's retransmissions at once
            task = asyncio.ensure_future(self._incoming_call(runner))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            code, headers = decide(request)
            self._answer(runner, code, headers)

    def _answer(
        self,
        runner: _ServerRunner,
        code: int,
        headers: list[tuple[str, str]] | None = None,
        dialog: Dialog | None = None,
    ) -> None:
        runner.respond(code, headers)
        if self.on_incoming is not None:
            self.on_incoming(Incoming(runner.tx.request, code, dialog, time.time()))

    def _in_dialog(self, request: Request, runner: _ServerRunner, to_tag: str) -> None:
        """BYE ends one of our dialogs; a re-INVITE is declined (the session stays as it is)."""
        key = (request.headers.get("Call-ID") or "", to_tag, _header_tag(request, "From") or "")
        dialog = self.dialogs.get(key)
        if request.method == "BYE" and dialog is not None:
            del self.dialogs[key]
            dialog.ended = True
            self._answer(runner, 200, dialog=dialog)
        elif request.method == "INVITE":
            self._answer(runner, 488 if dialog is not None else 481, dialog=dialog)
        else:
            code, headers = decide(request)
            self._answer(runner, code, headers, dialog)

    async def _incoming_call(self, runner: _ServerRunner) -> None:
        """Ask the application (default: 480, nobody here to take it); answer unless CANCELled."""
        request = runner.tx.request
        code = 480
        if self.on_invite is not None:
            try:
                answer = self.on_invite(request)
                code = await answer if inspect.isawaitable(answer) else answer
            except Exception:  # the application failed: the caller gets a clear 500
                code = 500
            if not 200 <= code <= 699:
                code = 500
        if runner.tx.final:
            return  # CANCELled meanwhile: 487 already sent
        dialog = None
        headers: list[tuple[str, str]] = []
        if code < 300:
            dialog = Dialog.from_request(self, request, runner.tx.to_tag, runner.conn.target)
            runner.dialog = dialog
            self.dialogs[dialog.key] = dialog
            local = runner.conn.local
            host = f"[{local[0]}]" if ":" in local[0] else local[0]
            params = (
                ""
                if runner.conn.target.transport == Transport.UDP
                else (f";transport={runner.conn.target.transport.value}")
            )
            headers = [("Contact", f"<sip:{self.user}@{host}:{local[1]}{params}>")]
        self._answer(runner, code, headers, dialog)

    def _ack(self, ack: Request, invite: _ServerRunner | None) -> None:
        """ACK: for a non-2xx final it has the INVITE's branch; for a 2xx it is a new request
        in the dialog (§13.3.1.4) matched by Call-ID and CSeq number. Never answered."""
        if invite is None:
            call_id, cseq = ack.headers.get("Call-ID"), _cseq_number(ack)
            invite = next(
                (
                    r
                    for r in list(self._servers.values())
                    if r.tx.invite
                    and r.tx.request.headers.get("Call-ID") == call_id
                    and _cseq_number(r.tx.request) == cseq
                ),
                None,
            )
        if invite is not None:
            invite.apply(invite.tx.ack())

    def _cancel_incoming(
        self, cancel: Request, conn: Connection, invite: _ServerRunner | None
    ) -> None:
        """CANCEL (§9.2): 200 to the CANCEL, and 487 to the INVITE if still unanswered."""
        runner = self._servers.get((branch_of(cancel) or "", "CANCEL"))
        if runner is not None:
            runner.apply(runner.tx.receive(cancel))
            return
        runner = _ServerRunner(self, conn, ServerTransaction(
            cancel, reliable=conn.reliable, timers=self.timers
        ))  # fmt: skip
        self._servers[runner.key] = runner
        if invite is None or invite.tx.final:
            self._answer(runner, 481)
            return
        self._answer(runner, 200)
        self._answer(invite, 487)

    def _stray(self, response: Response, conn: Connection) -> None:
        """A response no transaction wants: a retransmitted 2xx to our INVITE means our ACK
        was lost, so the dialog ACKs again (RFC 3261 §13.2.2.4)."""
        if cseq_method(response) != "INVITE" or not 200 <= response.code < 300:
            return
        key = (
            response.headers.get("Call-ID") or "",
            _header_tag(response, "From") or "",
            _header_tag(response, "To") or "",
        )
        dialog = self.dialogs.get(key)
        if dialog is not None:
            dialog.ack(conn)

    async def close(self) -> None:
        """Abort transactions in flight and close every flow (the registration is not
        touched: ``unregister`` first if it should go)."""
        for pending in list(self._connecting.values()):
            pending.cancel()
        for runner in self.transactions.all():
            runner.abort()
        for server in list(self._servers.values()):
            server.close()
        for task in list(self._tasks):
            task.cancel()
        for conn in list(self._connections.values()):
            conn.close()
        self._connections.clear()
        await asyncio.sleep(0)

    async def __aenter__(self) -> SipClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- transactions ------------------------------------------------------------------------

    async def _transaction(
        self, target: Target, spec: RequestSpec, budget: float
    ) -> Response | None:
        """One transaction to one target, no failover, bounded by ``budget``; raises OSError,
        ssl.SSLError or TimeoutError when the flow cannot be opened."""
        conn = await self._connection(target, budget)
        request = build_request(spec, transport=target.transport, local=conn.local)
        runner = _Runner(
            self.transactions,
            conn,
            new_transaction(request, reliable=conn.reliable, timers=self.timers),
        )
        runner.apply(runner.tx.start())
        try:
            return await asyncio.wait_for(asyncio.shield(runner.result), budget)
        finally:
            runner.abort()

    async def _cancel(self, invite: _Runner) -> None:
        """CANCEL a pending INVITE (RFC 3261 §9.1): its own non-INVITE transaction, same hop."""
        cancel = build_cancel(invite.tx.request)
        runner = _Runner(
            self.transactions,
            invite.conn,
            new_transaction(cancel, reliable=invite.conn.reliable, timers=self.timers),
        )
        runner.apply(runner.tx.start())
        await runner.result

    # -- a request with auth and failover -------------------------------------------------------

    async def request(
        self,
        method: str,
        *,
        uri: str | None = None,
        spec: RequestSpec | None = None,
        steering: Steering | None = None,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Outcome:
        """Send ``method`` along the try list; fail over on timeout, transport error or 503.

        401/407 are answered once per target with digest credentials; a second rejection is
        an ``AuthError`` (wrong password is wrong everywhere: no failover, no retry storm).
        """
        if spec is None:
            spec = self.new_spec(method, uri=uri)
            spec.headers = list(headers)
            spec.body = body
            spec.content_type = content_type
        return await self._walk(spec, steering)

    async def _walk(
        self,
        spec: RequestSpec,
        steering: Steering | None,
        *,
        cancel_after: float | None = None,
        on_request: Callable[[Request, Connection], None] | None = None,
    ) -> Outcome:
        steer = steering or Steering()
        candidates = list(steer.only) if steer.only is not None else (await self.targets())[0]
        walker = Walker(
            spec,
            candidates,
            failover=self.failover,
            steering=steer,
            rules=self.rules,
            credentials=Credentials(self.username, self.password),
            cancel_after=cancel_after,
            aor=str(self.aor),
        )
        done = await _Walk(self, walker, on_request).run()
        if done.auth_error is not None:
            exc = AuthError(done.auth_error)
            exc.outcome = done.outcome
            raise exc
        return done.outcome

    def new_spec(
        self, method: str, *, uri: str | None = None, call_id: str | None = None
    ) -> RequestSpec:
        """A fresh out-of-dialog request from our AOR (To = ``uri`` or our own AOR)."""
        scheme = self.aor.scheme
        ruri = URI.parse(uri) if uri else URI(scheme=scheme, host=_uri_host(self.domain))
        me = URI(scheme=scheme, host=_uri_host(self.domain), user=self.user)
        to = Address(uri=ruri if uri else me)
        return RequestSpec(
            method=method,
            uri=ruri,
            from_addr=Address(uri=me, parameters=_params(tag=new_tag())),
            to_addr=to,
            call_id=call_id or new_call_id(),
            cseq=1,
        )

    # -- the requests -----------------------------------------------------------------------

    async def options(self, uri: str | None = None) -> Outcome:
        """OPTIONS with failover (a ping that follows the same rules as every request)."""
        return await self.request("OPTIONS", uri=uri)

    async def probe(self, target: Target, budget: float | None = None) -> Attempt:
        """One OPTIONS to one target, no failover, no auth: is it answering at all?"""
        spec = self.new_spec(
            "OPTIONS", uri=f"{self.aor.scheme}:{_uri_host(target.address)}:{target.port}"
        )
        limit = budget or self.failover_after or self.timers.f
        attempt = Attempt(target, at=time.time())
        start = time.perf_counter()
        try:
            response = await self._transaction(target, spec, limit)
        except (OSError, ssl.SSLError) as exc:
            response, attempt.error = None, _reason(exc)
        except TimeoutError:
            response, attempt.error = None, f"no answer within {limit:g}s"
        attempt.ms = (time.perf_counter() - start) * 1000
        if response is not None:
            attempt.status = response.code
            if response.code == 503:
                after = retry_after(response)
                attempt.error = "503 Retry-After " + (
                    f"{after:g}s" if after is not None else "none"
                )
        elif attempt.error is None:
            attempt.error = "no usable answer"
        return attempt

    async def register(
        self,
        expires: int = 3600,
        *,
        binding: Binding | None = None,
        steering: Steering | None = None,
    ) -> Outcome:
        """REGISTER our contact for ``expires`` seconds, keeping ``binding`` (default: the
        client's own) up to date: where it is held and for how long.
        """
        if self.aor.user is None:
            raise BadInput(f"cannot register {self.aor}: it needs a user part (sip:USER@DOMAIN)")
        b = binding if binding is not None else self.binding
        b.cseq += 1
        spec = self.new_spec("REGISTER", call_id=b.call_id)
        spec.from_addr = Address(uri=spec.from_addr.uri, parameters=_params(tag=b.tag))
        spec.cseq = b.cseq
        spec.contact_user = self.aor.user
        spec.expires = expires
        try:
            outcome = await self.request("REGISTER", spec=spec, steering=steering)
        finally:
            b.cseq = spec.cseq  # digest retries used CSeq numbers too
        if outcome.ok and outcome.response is not None:
            b.target = outcome.target if expires > 0 else None
            granted = header_expires(outcome.response, self.aor.user) if expires > 0 else 0
            b.granted = expires if granted is None else granted
        return outcome

    async def unregister(
        self, budget: float = 2.0, *, binding: Binding | None = None
    ) -> Outcome | None:
        """Remove the binding from the registrar that holds it (best effort, bounded)."""
        b = binding if binding is not None else self.binding
        if b.target is None:
            return None
        target = b.target
        try:
            return await asyncio.wait_for(
                self.register(0, binding=b, steering=Steering(only=[target])), budget
            )
        except (TimeoutError, OperationFailed):
            return None
        finally:
            b.target = None

    async def invite(
        self,
        uri: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        cancel_after: float | None = None,
    ) -> Dialog | Outcome:
        """INVITE ``uri`` through our domain's servers: a ``Dialog`` on 2xx, else the Outcome.

        ``cancel_after``: if the callee is still ringing after that long, send CANCEL.
        """
        spec = self.new_spec("INVITE", uri=uri)
        spec.contact_user = self.user
        spec.body, spec.content_type = body, content_type
        sent: dict[str, tuple[Request, Connection]] = {}

        def remember(request: Request, conn: Connection) -> None:
            sent["last"] = (request, conn)

        outcome = await self._walk(spec, None, cancel_after=cancel_after, on_request=remember)
        if not outcome.ok or outcome.response is None or outcome.target is None:
            return outcome
        dialog = Dialog.from_response(self, spec, outcome.response, outcome.target)
        _, conn = sent["last"]
        dialog.ack(conn)
        self.dialogs[dialog.key] = dialog
        return dialog


def _unusable(request: Request) -> str | None:
    """Why a request cannot be answered properly (its From, To or CSeq do not parse), or None."""
    for name in ("From", "To"):
        try:
            Address.parse(request.headers[name])
        except (ValueError, IndexError, KeyError):
            return f"malformed {name} header"
    if _cseq_number(request) is None:
        return "malformed CSeq header"
    return None


def _cseq_number(message: Request | Response) -> int | None:
    try:
        return message.cseq.sequence
    except (KeyError, ValueError):
        return None


def _uri_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _params(**values: str) -> Parameters:
    return Parameters(**values)


@dataclass
class Dialog:
    """An INVITE dialog (RFC 3261 §12), ours (we called) or theirs (we answered): in-dialog
    requests stay on its server; ``ended`` once either side sent BYE."""

    client: SipClient
    target: Target
    call_id: str
    local: Address
    remote: Address
    remote_target: URI
    route: list[Address]
    cseq: int
    invite_cseq: int
    ended: bool = False
    _ack: bytes | None = None

    @property
    def key(self) -> DialogKey:
        return (self.call_id, _tag(self.local) or "", _tag(self.remote) or "")

    @classmethod
    def from_response(
        cls, client: SipClient, spec: RequestSpec, response: Response, target: Target
    ) -> Dialog:
        """The dialog a 2xx to our INVITE set up (a malformed Contact or Record-Route in it
        is ignored: the request URI and no route serve instead)."""
        try:
            contacts = response.contact
            remote_target = contacts[0].uri if contacts else spec.uri
        except (ValueError, IndexError, KeyError):
            remote_target = spec.uri
        try:
            route = list(reversed(response.record_route))
        except (ValueError, IndexError, KeyError):
            route = []
        try:
            remote = response.to_address
        except (ValueError, IndexError, KeyError):
            remote = spec.to_addr
        return cls(
            client, target, spec.call_id, spec.from_addr, remote, remote_target, route,
            spec.cseq, spec.cseq,
        )  # fmt: skip

    @classmethod
    def from_request(
        cls, client: SipClient, request: Request, to_tag: str, target: Target
    ) -> Dialog:
        """The dialog our 2xx to an incoming INVITE sets up (RFC 3261 §12.1.1)."""
        to = Address.parse(request.headers["To"])
        local = Address(uri=to.uri, parameters=_params(tag=to_tag))
        try:
            contacts = request.contact
            remote_target = contacts[0].uri if contacts else request.uri
        except (ValueError, IndexError, KeyError):
            remote_target = request.uri
        try:
            route = list(request.record_route)
        except (ValueError, IndexError, KeyError):
            route = []
        cseq = request.cseq.sequence
        return cls(
            client, target, request.headers["Call-ID"], local,
            Address.parse(request.headers["From"]), remote_target, route, 0, cseq,
        )  # fmt: skip

    def ack(self, conn: Connection) -> None:
        """ACK for 2xx: a new request, no transaction (RFC 3261 §13.2.2.4), same flow; kept,
        so a retransmitted 2xx gets the same ACK again."""
        if self._ack is None:
            spec = self._spec("ACK", self.invite_cseq)
            self._ack = bytes(
                build_request(spec, transport=self.target.transport, local=conn.local)
            )
        with contextlib.suppress(OSError):
            conn.send(self._ack)

    def _spec(self, method: str, cseq: int) -> RequestSpec:
        return RequestSpec(
            method=method,
            uri=self.remote_target,
            from_addr=self.local,
            to_addr=self.remote,
            call_id=self.call_id,
            cseq=cseq,
            route=list(self.route),
        )

    async def request(self, method: str) -> Outcome:
        """An in-dialog request: to the dialog's server first, then the usual failover."""
        self.cseq += 1
        outcome = await self.client.request(
            method, spec=self._spec(method, self.cseq), steering=Steering(prefer=self.target)
        )
        if outcome.target is not None:
            self.target = outcome.target
        return outcome

    async def bye(self) -> Outcome:
        """End the dialog from our side."""
        self.ended = True
        self.client.dialogs.pop(self.key, None)
        return await self.request("BYE")


def _tag(address: Address) -> str | None:
    tag = address.parameters.get("tag")
    return tag if isinstance(tag, str) else None


def _header_tag(message: Request | Response, name: str) -> str | None:
    try:
        return _tag(Address.parse(message.headers[name]))
    except (ValueError, IndexError, KeyError):
        return None


def _default_resolver(
    nameservers: Sequence[str] | None, zones: Sequence[Path] | None, transports: Sequence[Transport]
) -> Locator:
    from .locate import Resolver

    return Resolver(
        nameservers=list(nameservers) if nameservers else None,
        zones=list(zones) if zones else None,
        transports=tuple(t.value for t in transports),
    )


# -- keeping a registration alive -------------------------------------------------------------


@dataclass
class RegEvent:
    """One change in a kept-alive registration, as ``register --follow --json`` prints it."""

    event: str  # registered | refreshed | failover | failback | lost
    target: Target | None
    at: float
    detail: str = ""
    attempts: list[Attempt] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        t = self.target
        return {
            "event": self.event,
            "transport": t.transport.value if t else None,
            "host": t.host if t else None,
            "address": t.address if t else None,
            "port": t.port if t else None,
            "at": round(self.at, 3),
            "attempts": [a.as_dict() for a in self.attempts],
        }


class Registration:
    """Stay registered: refresh before expiry, fail over at once when the registrar fails (as
    soon as a request or the health monitor notices), fail back per ``failback``.
    """

    def __init__(
        self,
        client: SipClient,
        *,
        expires: int = 3600,
        failback: str | Failback = "refresh",
        on_event: Callable[[RegEvent], Awaitable[None] | None] | None = None,
        retry_interval: float = 5.0,
        binding: Binding | None = None,
    ) -> None:
        self.client = client
        self.binding = binding if binding is not None else Binding()
        self.expires = expires
        self.failback = failback if isinstance(failback, Failback) else Failback.parse(failback)
        self.on_event = on_event
        self.retry_interval = retry_interval
        self.current: Target | None = None
        self.events: list[RegEvent] = []
        self._wake = asyncio.Event()
        self._reason = ""
        client.listeners.append(self._health)

    def _health(self, target: Target, up: bool) -> None:
        """A health check or another request learned something about a target."""
        if self.current is None:
            return
        if not up and target == self.current:
            self._reason = "current registrar down"
            self._wake.set()
        elif up and self.failback == Failback.PROBE and self._ranks_higher(target):
            self._reason = "higher-ranked target up"
            self._wake.set()

    def _ranks_higher(self, target: Target) -> bool:
        targets = self.client.last_targets
        if self.current not in targets or target not in targets:
            return False
        return targets.index(target) < targets.index(self.current)

    async def _emit(self, event: RegEvent) -> None:
        self.events.append(event)
        if self.on_event is not None:
            result = self.on_event(event)
            if result is not None:
                await result

    async def once(self) -> RegEvent:
        """One REGISTER (initial or refresh) and the event it produced."""
        never = self.failback == Failback.NEVER
        steering = Steering(prefer=self.current) if never else Steering(from_top=True)
        previous = self.current
        try:
            outcome = await self.client.register(
                self.expires, binding=self.binding, steering=steering
            )
        except (NotFound, DnsError) as exc:  # DNS trouble is a lost round, not the end
            outcome = Outcome("REGISTER", None, None, error=str(exc))
        now = time.time()
        if not outcome.ok:
            self.current = None
            event = RegEvent("lost", previous, now, outcome.describe(), outcome.attempts)
        else:
            self.current = outcome.target
            if previous is None:
                kind = "registered"
            elif previous == self.current:
                kind = "refreshed"
            elif self._rank(self.current) < self._rank(previous):
                kind = "failback"
            else:
                kind = "failover"
            event = RegEvent(kind, self.current, now, outcome.describe(), outcome.attempts)
        await self._emit(event)
        return event

    def _rank(self, target: Target | None) -> float:
        targets = self.client.last_targets
        return targets.index(target) if target in targets else math.inf

    def refresh_in(self) -> float:
        """Refresh at half the granted lifetime (never below 1 s), well before it lapses."""
        granted = self.binding.granted or self.expires
        return max(1.0, granted / 2)

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set: register, refresh, fail over, fail back; then unregister."""
        try:
            while not stop.is_set():
                event = await self.once()
                self._wake.clear()  # what once() itself reported is already handled
                delay = self.retry_interval if event.event == "lost" else self.refresh_in()
                waiters = [
                    asyncio.ensure_future(stop.wait()),
                    asyncio.ensure_future(self._wake.wait()),
                ]
                try:
                    await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for w in waiters:
                        w.cancel()
        finally:
            with contextlib.suppress(Exception):
                await self.client.unregister(binding=self.binding)
            if self._health in self.client.listeners:
                self.client.listeners.remove(self._health)
