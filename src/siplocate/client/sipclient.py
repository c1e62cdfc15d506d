"""The async SIP client: requests that walk the RFC 3263 target list and fail over.

``SipClient`` owns the connections, the transactions in flight and the failover memory
shared by all its requests. ``Registration`` keeps a binding alive (refresh, failover,
failback); ``health.HealthMonitor`` can feed it. Resolution always goes through
``siplocate.Resolver`` (or a ``static`` list of addresses, which needs no DNS).
"""

from __future__ import annotations

import asyncio
import collections
import math
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sipmessage import URI, Address, Parameters, Request, Response

from ..errors import BadInput, NotFound, OperationFailed
from ..resolver.rules import static_target
from ..sip.auth import ANY_REALM, AuthError
from ..sip.message import (
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
from ..sip.server import AnswerLimits
from ..sip.transaction import Arm as TxArm
from ..sip.transaction import (
    ClientTransaction,
    Final,
    Provisional,
    TimedOut,
    Timer,
    Timers,
    TransportError,
    new_transaction,
)
from ..sip.transaction import Effect as TxEffect
from ..sip.transaction import Send as TxSend
from ..sip.transport import SUPPORTED, Connection, WireTap, open_connection, tls_context
from ..target import DEFAULT_TRANSPORTS, SipTarget, Target, Transport, parse_transports
from .answering import Answerer, Incoming, InviteHandler
from .dialog import Dialog, DialogKey
from .failover import FAILOVER_ON, Failover, Failure, Policy, Steering
from .flows import FlowPool
from .registration import Binding
from .walker import (
    INVITE_RING_LIMIT,
    NO_ANSWER,
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
    failure_text,
)
from .walker import Arm as WalkArm
from .walker import Effect as WalkEffect
from .walker import Send as WalkSend
from .walker import Timer as WalkTimer

if TYPE_CHECKING:
    from .outbound import FlowId, Outbound

__all__ = ["INVITE_RING_LIMIT", "SipClient", "StaticLocator", "StaticResolution"]


class HealthSource(Protocol):
    """Feeds a client's down-memory from elsewhere (``shared_health.RedisHealth``)."""

    def attach(self, client: SipClient) -> object: ...


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
        self.failure = ""  # why it ended without a response, in the walker's words
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
                self._finish(None, failure_text(Failure.TIMEOUT, ""))
                if self.listener is not None:
                    self.listener.tx_failed(self, Failure.TIMEOUT, "Timer B/F")
            elif isinstance(effect, TransportError):
                self._finish(None, effect.reason)
                if self.listener is not None:
                    self.listener.tx_failed(self, Failure.TRANSPORT, effect.reason)
        if self.tx.done:
            self.close()

    def _finish(self, response: Response | None, failure: str = "") -> None:
        if not self.result.done():
            self.failure = failure
            self.result.set_result(response)

    def fire(self, timer: Timer) -> None:
        self.handles.pop(timer, None)
        self.apply(self.tx.fire(timer))

    def malformed(self, reason: str) -> None:
        """A response for this transaction could not be used: the target failed."""
        self._finish(None, failure_text(Failure.MALFORMED, reason))
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
        return NO_ANSWER
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
        self.queue: collections.deque[WalkEffect] = collections.deque()
        self.busy = False

    async def run(self) -> Done:
        self.apply(self.walker.start(time.time()))
        try:
            return await asyncio.shield(self.done)
        finally:
            self._stop()

    def apply(self, effects: list[WalkEffect]) -> None:
        """Carry effects out in order; effects that arise meanwhile (a send that fails at
        once) queue behind them rather than running in the middle."""
        self.queue.extend(effects)
        if self.busy:
            return
        self.busy = True
        try:
            while self.queue:
                self._carry_out(self.queue.popleft())
        finally:
            self.busy = False

    def _carry_out(self, effect: WalkEffect) -> None:
        loop = asyncio.get_running_loop()
        if isinstance(effect, WalkSend):
            conn = self.client.flows.pooled(effect.target)
            if conn is not None:  # the flow is open: no task, no wait
                self._start(effect, conn)
            else:
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
            conn = await client.flows.get(send.target, walker.rules.budget or client.timers.f)
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            self.apply(walker.transport_error(send.attempt, _reason(exc), time.time()))
            return
        if walker.attempt != send.attempt or walker.done:
            return  # the walk moved on while the flow opened
        self._start(send, conn)

    def _start(self, send: WalkSend, conn: Connection) -> None:
        client = self.client
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


class SipClient:
    """A SIP user agent for one address-of-record, with failover across the target list.

    ``failover_after`` is the failover budget: how long a target may stay silent before the
    request moves on (Timer B/F still bound the transaction; the budget is usually shorter).
    ``down_for`` is how long a failed target stays marked down (503 Retry-After overrides).
    ``tries``: unanswered tries per target before moving on; ``failover_on``: the final
    responses that send a request to the next target (RFC 3263 §4.3: 503).
    ``connected_udp=False`` uses an unconnected UDP socket like most clients (ICMP errors
    then go unnoticed); it exists for comparisons. ``answering`` bounds what requests sent to
    the client can make it keep (``AnswerLimits``: beyond them, 503 + Retry-After).
    ``realms``: the digest realms the password is for (``*`` = any, the default); a
    challenge for another realm is not answered and that target fails.
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
        answering: AnswerLimits | None = None,
        realms: Sequence[str] | None = None,
        health: HealthSource | None = None,
    ) -> None:
        self.aor = SipTarget.parse(aor)
        self.user = self.aor.user or "siplocate"  # From user for probes of a bare domain
        self.password = password
        self.username = username or self.user
        self.realms = frozenset(realms) if realms else frozenset({ANY_REALM})
        if "" in self.realms:
            raise BadInput("a realm the password is for cannot be empty ('*' means any)")
        self.transports = parse_transports(
            tuple(transports) if not isinstance(transports, str) else transports
        )
        unsupported = [t for t in self.transports if t not in SUPPORTED]
        if unsupported:
            raise BadInput(
                f"this client speaks udp, tcp and tls only, not {', '.join(map(str, unsupported))}"
            )
        self.policy = Policy.parse(policy) if isinstance(policy, str) else policy
        if static and not self.policy.configured:
            self.policy = Policy.STATIC
        if self.policy is Policy.CONFIGURED_IP and len(static or []) > 3:
            raise BadInput("configured-ip takes a primary and at most two backups")
        if self.policy.configured:
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
        self.flows = FlowPool(self._open_flow)
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
        self.answerer = Answerer(self, answering)
        # RFC 5626: while an Outbound runs, new requests go over one of its healthy flows.
        self.outbound: Outbound | None = None
        # Sees every SIP message each flow opened from now on sends or receives (``-v``).
        self.on_wire: WireTap | None = None
        if health is not None:  # shared health (client/shared_health.py) feeds the down-memory
            health.attach(self)

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
        held = self.failover.registrar
        if held is not None and held not in targets:
            # The registrar left the DNS answer: whoever keeps the registration must move.
            self.failover.registrar = None
            self._tell(held, False)
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
        listeners hear of it when it ``changed``, and of every answer (a damped failback
        counts them)."""
        if up:
            self.failover.observed_up(target)
        else:
            self.failover.failed(target, time.time(), Failure.TIMEOUT, until=math.inf)
        if changed or up:
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

    async def _open_flow(self, target: Target) -> Connection:
        """A new flow to ``target`` with this client's callbacks (the pool shares it)."""
        return await open_connection(
            target,
            self._on_message,
            self._on_error,
            ssl_context=self._ssl_context() if target.transport == Transport.TLS else None,
            server_name=self.domain,  # RFC 5922: the certificate must name the SIP domain
            connected_udp=self.connected_udp,
            on_garbage=self._on_garbage,
            on_wire=self.on_wire,
        )

    def _on_message(self, msg: Request | Response, conn: Connection) -> None:
        if isinstance(msg, Request):
            self.answerer.serve(msg, conn)
            return
        runner = self.transactions.get((branch_of(msg) or "", cseq_method(msg) or ""))
        if runner is not None and runner.conn is conn:
            runner.apply(runner.tx.receive(msg))
        else:
            self.answerer.stray(msg, conn)

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
            self.flows.drop(conn)

    async def close(self) -> None:
        """Abort transactions in flight and close every flow (the registration is not
        touched: ``unregister`` first if it should go)."""
        for runner in self.transactions.all():
            runner.abort()
        self.answerer.close()
        self.flows.close()
        await asyncio.sleep(0)

    async def __aenter__(self) -> SipClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- transactions ------------------------------------------------------------------------

    async def _transaction(
        self, target: Target, spec: RequestSpec, budget: float
    ) -> tuple[Response | None, str]:
        """One transaction to one target, no failover, bounded by ``budget``: the response,
        or None and why not; raises OSError, ssl.SSLError or TimeoutError when the flow
        cannot be opened or nothing ended the transaction within ``budget``."""
        conn = await self.flows.get(target, budget)
        request = build_request(spec, transport=target.transport, local=conn.local)
        runner = _Runner(
            self.transactions,
            conn,
            new_transaction(request, reliable=conn.reliable, timers=self.timers),
        )
        runner.apply(runner.tx.start())
        try:
            response = await asyncio.wait_for(asyncio.shield(runner.result), budget)
            return response, runner.failure
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
        A challenge for a realm outside ``realms``, or a 4th stale nonce, fails that target.
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
        if steering is None and self.outbound is not None and self.outbound.live():
            steering = Steering(only=self.outbound.live())
        steer = steering or Steering()
        candidates = list(steer.only) if steer.only is not None else (await self.targets())[0]
        walker = Walker(
            spec,
            candidates,
            failover=self.failover,
            steering=steer,
            rules=self.rules,
            credentials=Credentials(self.username, self.password, self.realms),
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
            response, why = await self._transaction(target, spec, limit)
        except (OSError, ssl.SSLError) as exc:
            response, why = None, _reason(exc)
        except TimeoutError:
            response, why = None, NO_ANSWER
        attempt.ms = (time.perf_counter() - start) * 1000
        if response is not None:
            attempt.status = response.code
            if response.code == 503:
                after = retry_after(response)
                attempt.error = "503 Retry-After " + (
                    f"{after:g}s" if after is not None else "none"
                )
        else:
            attempt.error = why or NO_ANSWER
        return attempt

    async def register(
        self,
        expires: int = 3600,
        *,
        binding: Binding | None = None,
        steering: Steering | None = None,
        flow: FlowId | None = None,
    ) -> Outcome:
        """REGISTER our contact for ``expires`` seconds, keeping ``binding`` (default: the
        client's own) up to date: where it is held and for how long. ``flow``: register it
        as that RFC 5626 flow (reg-id and instance in the Contact, ``Supported: outbound``).
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
        # RFC 3327: Path is what edge proxies add; registrars reject it (420) when the UA
        # did not say it supports it, and supporting it costs a UA nothing.
        supported = "path"
        if flow is not None:
            spec.contact_params = flow.contact_params()
            supported = "path, outbound"
        spec.headers.append(("Supported", supported))
        try:
            outcome = await self.request("REGISTER", spec=spec, steering=steering)
        finally:
            b.cseq = spec.cseq  # digest retries used CSeq numbers too
        if outcome.ok and outcome.response is not None:
            b.target = outcome.target if expires > 0 else None
            reg_id = flow.reg_id if flow is not None else None
            granted = header_expires(outcome.response, self.aor.user, reg_id) if expires else 0
            b.granted = expires if granted is None else granted
            if flow is None:
                self.failover.registrar = b.target  # the affinity policy's first choice
        return outcome

    async def unregister(
        self, budget: float = 2.0, *, binding: Binding | None = None, flow: FlowId | None = None
    ) -> Outcome | None:
        """Remove the binding (of ``flow``, if an RFC 5626 one) from the registrar that holds
        it (best effort, bounded)."""
        b = binding if binding is not None else self.binding
        if b.target is None:
            return None
        target = b.target
        try:
            return await asyncio.wait_for(
                self.register(0, binding=b, steering=Steering(only=[target]), flow=flow), budget
            )
        except (TimeoutError, OperationFailed):
            return None
        finally:
            if self.failover.registrar == b.target:
                self.failover.registrar = None
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


def _uri_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _params(**values: str) -> Parameters:
    return Parameters(**values)


def _default_resolver(
    nameservers: Sequence[str] | None, zones: Sequence[Path] | None, transports: Sequence[Transport]
) -> Locator:
    from ..resolver import Resolver

    return Resolver(
        nameservers=list(nameservers) if nameservers else None,
        zones=list(zones) if zones else None,
        transports=tuple(t.value for t in transports),
    )
