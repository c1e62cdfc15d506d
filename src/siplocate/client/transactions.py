"""The client's transactions on asyncio: the runners of ``sip.transaction`` machines, the
table where responses find them, and the runner of one ``Walker`` (a request along the try
list). Decisions stay in the machines; this module carries their effects out through
``effects.EffectRunner``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Coroutine
from typing import Protocol

from sipmessage import Request, Response

from ..clock import Clock
from ..sip.auth import AuthError
from ..sip.message import (
    RequestSpec,
    branch_of,
    build_cancel,
    build_request,
    cseq_method,
    loose_key,
    retry_after,
)
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
from ..sip.transport import Connection
from ..target import Target
from .effects import EffectRunner, within
from .failover import Failure
from .flows import FlowPool
from .walker import (
    NO_ANSWER,
    Abandon,
    Attempt,
    Cancel,
    Disarm,
    Done,
    MarkDown,
    MarkUp,
    Outcome,
    Walker,
    failure_text,
)
from .walker import Arm as WalkArm
from .walker import Effect as WalkEffect
from .walker import Send as WalkSend
from .walker import Timer as WalkTimer


class Transactions:
    """Client transactions in flight, by (branch, method): where responses are matched."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], TransactionRunner] = {}

    def add(self, runner: TransactionRunner) -> None:
        self._by_key[runner.key] = runner

    def remove(self, runner: TransactionRunner) -> None:
        if self._by_key.get(runner.key) is runner:
            del self._by_key[runner.key]

    def get(self, key: tuple[str, str]) -> TransactionRunner | None:
        return self._by_key.get(key)

    def all(self) -> list[TransactionRunner]:
        return list(self._by_key.values())

    def response(self, msg: Response, conn: Connection) -> bool:
        """Hand ``msg`` to its transaction on ``conn``; False if none wants it (a stray)."""
        runner = self._by_key.get((branch_of(msg) or "", cseq_method(msg) or ""))
        if runner is None or runner.conn is not conn:
            return False
        runner.apply(runner.tx.receive(msg))
        return True

    def garbage(self, data: bytes, reason: str, conn: Connection) -> None:
        """Bytes that are not usable SIP: if they name a transaction of ours on this flow,
        that target failed now (rather than after the budget or Timer F)."""
        k = loose_key(data)
        runner = self._by_key.get(k) if k is not None else None
        if runner is not None and runner.conn is conn:
            runner.malformed(reason)

    def flow_failed(self, exc: BaseException, conn: Connection) -> None:
        """A flow failed: every transaction pending on it failed too."""
        for runner in self.all():
            if runner.conn is conn:
                runner.apply(runner.tx.transport_error(reason(exc)))

    def abort_all(self) -> None:
        for runner in self.all():
            runner.abort()


_TX_SLOT = {timer: i for i, timer in enumerate(Timer)}
_WALK_SLOT = {timer: i for i, timer in enumerate(WalkTimer)}


class TxListener(Protocol):
    """Who hears what a client transaction ended with (the walk driving it)."""

    def tx_provisional(self, runner: TransactionRunner, response: Response) -> None: ...
    def tx_final(self, runner: TransactionRunner, response: Response) -> None: ...
    def tx_failed(self, runner: TransactionRunner, failure: Failure, reason: str) -> None: ...


class TransactionRunner(EffectRunner[Timer, TxEffect]):
    """The asyncio side of one client transaction: its effects applied, its timers armed."""

    __slots__ = ("attempt", "conn", "failure", "key", "listener", "result", "table", "tx")

    def __init__(
        self,
        table: Transactions,
        conn: Connection,
        tx: ClientTransaction,
        clock: Clock,
        listener: TxListener | None = None,
    ) -> None:
        super().__init__(clock)
        self.table = table
        self.conn = conn
        self.tx = tx
        self.listener = listener
        loop = asyncio.get_running_loop()
        self.result: asyncio.Future[Response | None] = loop.create_future()
        self.failure = ""  # why it ended without a response, in the walker's words
        self.key = (branch_of(tx.request) or "", tx.request.method)
        self.attempt = 0  # the walker's id for this try
        table.add(self)

    def carry_out(self, effect: TxEffect) -> None:
        if isinstance(effect, TxSend):
            try:
                self.conn.send(bytes(effect.request))
            except OSError as exc:
                self.apply(self.tx.transport_error(reason(exc)))
        elif isinstance(effect, TxArm):
            self.arm(effect.timer, effect.delay)
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

    SLOTS = len(Timer)

    def slot(self, timer: Timer) -> int:
        return _TX_SLOT[timer]

    def on_timer(self, timer: Timer) -> list[TxEffect]:
        return self.tx.fire(timer)

    def settled(self) -> None:
        if self.tx.done:
            self.close()

    def _finish(self, response: Response | None, failure: str = "") -> None:
        if not self.result.done():
            self.failure = failure
            self.result.set_result(response)

    def malformed(self, why: str) -> None:
        """A response for this transaction could not be used: the target failed."""
        self._finish(None, failure_text(Failure.MALFORMED, why))
        if self.listener is not None:
            self.listener.tx_failed(self, Failure.MALFORMED, why)
        self.close()

    def abort(self) -> None:
        """Stop retransmitting and forget the transaction; nobody is told (they moved on)."""
        self.listener = None
        self._finish(None)
        self.close()

    def close(self) -> None:
        super().close()
        self.table.remove(self)


def reason(exc: BaseException) -> str:
    """Why a flow or a send failed, in the words every command uses."""
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


class TxHost(Protocol):
    """What running a transaction needs from the client: its flows, table, timers, clock."""

    @property
    def flows(self) -> FlowPool: ...
    @property
    def transactions(self) -> Transactions: ...
    @property
    def timers(self) -> Timers: ...
    @property
    def clock(self) -> Clock: ...


class WalkHost(TxHost, Protocol):
    """What a walk needs beyond that: where its verdicts on targets go."""

    @property
    def expires(self) -> float | None: ...

    def mark(
        self,
        target: Target,
        up: bool,
        *,
        failure: Failure = ...,
        retry_after: float | None = None,
        until: float | None = None,
        expires: float | None = None,
    ) -> None: ...


def start_transaction(
    host: TxHost, conn: Connection, request: Request, listener: TxListener | None = None
) -> TransactionRunner:
    """A client transaction for ``request`` on ``conn``, started (its first send is out)."""
    tx = new_transaction(request, reliable=conn.reliable, timers=host.timers)
    runner = TransactionRunner(host.transactions, conn, tx, host.clock, listener)
    runner.apply(tx.start())
    return runner


async def one_transaction(
    host: TxHost, target: Target, spec: RequestSpec, budget: float
) -> tuple[Response | None, str]:
    """One transaction to one target, no failover, bounded by ``budget``: the response,
    or None and why not; raises OSError, ssl.SSLError or TimeoutError when the flow
    cannot be opened or nothing ended the transaction within ``budget``."""
    conn = await host.flows.get(target, budget)
    request = build_request(spec, transport=target.transport, local=conn.local)
    runner = start_transaction(host, conn, request)
    try:
        response = await within(host.clock, budget, asyncio.shield(runner.result))
        return response, runner.failure
    finally:
        runner.abort()


async def probe_once(host: TxHost, target: Target, spec: RequestSpec, budget: float) -> Attempt:
    """One request (an OPTIONS) to one target, bounded by ``budget``: what came back, when
    (wall time) and how long it took (monotonic); a 503 says its Retry-After."""
    attempt = Attempt(target, at=host.clock.wall())
    start = host.clock.monotonic()
    try:
        response, why = await one_transaction(host, target, spec, budget)
    except (OSError, ssl.SSLError) as exc:
        response, why = None, reason(exc)
    except TimeoutError:
        response, why = None, NO_ANSWER
    attempt.ms = (host.clock.monotonic() - start) * 1000
    if response is not None:
        attempt.status = response.code
        if response.code == 503:
            after = retry_after(response)
            attempt.error = "503 Retry-After " + (f"{after:g}s" if after is not None else "none")
    else:
        attempt.error = why or NO_ANSWER
    return attempt


async def send_cancel(host: TxHost, invite: TransactionRunner) -> None:
    """CANCEL a pending INVITE (RFC 3261 §9.1): its own non-INVITE transaction, same hop."""
    runner = start_transaction(host, invite.conn, build_cancel(invite.tx.request))
    await runner.result


async def walk(
    host: WalkHost,
    walker: Walker,
    on_request: Callable[[Request, Connection], None] | None = None,
) -> Outcome:
    """Run ``walker`` to its end: its outcome, or an ``AuthError`` carrying it when the
    credentials were refused (wrong everywhere: no failover)."""
    done = await WalkRunner(host, walker, on_request).run()
    if done.auth_error is not None:
        exc = AuthError(done.auth_error)
        exc.outcome = done.outcome
        raise exc
    return done.outcome


class WalkRunner(EffectRunner[WalkTimer, WalkEffect]):
    """The asyncio driver of one ``Walker``: carries its effects out, feeds it events."""

    def __init__(
        self,
        host: WalkHost,
        walker: Walker,
        on_request: Callable[[Request, Connection], None] | None = None,
    ) -> None:
        super().__init__(host.clock)
        self.host = host
        self.walker = walker
        self.on_request = on_request
        loop = asyncio.get_running_loop()
        self.done: asyncio.Future[Done] = loop.create_future()
        self.runners: dict[int, TransactionRunner] = {}
        self.tasks: set[asyncio.Future[None]] = set()

    def now(self) -> float:
        """Event time for the walker: monotonic (down-memory and budgets run on it)."""
        return self.clock.monotonic()

    async def run(self) -> Done:
        self.apply(self.walker.start(self.now(), wall=self.clock.wall()))
        try:
            return await asyncio.shield(self.done)
        finally:
            self._stop()

    def carry_out(self, effect: WalkEffect) -> None:
        if isinstance(effect, WalkSend):
            conn = self.host.flows.pooled(effect.target)
            if conn is not None:  # the flow is open: no task, no wait
                self._start(effect, conn)
            else:
                self._spawn(self._send(effect))
        elif isinstance(effect, WalkArm):
            self.arm(effect.timer, effect.delay)
        elif isinstance(effect, Disarm):
            self.disarm(effect.timer)
        elif isinstance(effect, Abandon):
            runner = self.runners.pop(effect.attempt, None)
            if runner is not None:
                runner.abort()
        elif isinstance(effect, Cancel):
            runner = self.runners.get(effect.attempt)
            if runner is not None:
                self._spawn(send_cancel(self.host, runner))
        elif isinstance(effect, MarkDown):
            self.host.mark(
                effect.target, False, failure=effect.failure, retry_after=effect.retry_after
            )
        elif isinstance(effect, MarkUp):
            self.host.mark(effect.target, True, expires=self.host.expires)
        elif isinstance(effect, Done) and not self.done.done():
            self.done.set_result(effect)

    SLOTS = len(WalkTimer)

    def slot(self, timer: WalkTimer) -> int:
        return _WALK_SLOT[timer]

    def on_timer(self, timer: WalkTimer) -> list[WalkEffect]:
        return self.walker.timer(timer, self.now())

    def _spawn(self, work: Coroutine[object, object, None]) -> None:
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _send(self, send: WalkSend) -> None:
        host, walker = self.host, self.walker
        try:
            conn = await host.flows.get(send.target, walker.rules.budget or host.timers.f)
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            self.apply(walker.transport_error(send.attempt, reason(exc), self.now()))
            return
        if walker.attempt != send.attempt or walker.done:
            return  # the walk moved on while the flow opened
        self._start(send, conn)

    def _start(self, send: WalkSend, conn: Connection) -> None:
        request = build_request(send.spec, transport=send.target.transport, local=conn.local)
        tx = new_transaction(request, reliable=conn.reliable, timers=self.host.timers)
        runner = TransactionRunner(self.host.transactions, conn, tx, self.clock, self)
        runner.attempt = send.attempt
        self.runners[send.attempt] = runner
        if self.on_request is not None:
            self.on_request(request, conn)
        runner.apply(tx.start())

    def tx_provisional(self, runner: TransactionRunner, response: Response) -> None:
        self.apply(self.walker.provisional(runner.attempt, self.now()))

    def tx_final(self, runner: TransactionRunner, response: Response) -> None:
        self.apply(self.walker.final(runner.attempt, response, self.now()))

    def tx_failed(self, runner: TransactionRunner, failure: Failure, why: str) -> None:
        attempt, now = runner.attempt, self.now()
        if failure == Failure.TIMEOUT:
            self.apply(self.walker.timed_out(attempt, now))
        elif failure == Failure.MALFORMED:
            self.apply(self.walker.malformed(attempt, why, now))
        else:
            self.apply(self.walker.transport_error(attempt, why, now))

    def _stop(self) -> None:
        self.close()
        if not self.done.done():  # cancelled from outside: abandon what is in flight
            for runner in self.runners.values():
                runner.abort()
            for task in self.tasks:
                task.cancel()
        self.runners.clear()
