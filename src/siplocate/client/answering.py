"""The client's answering side (RFC 3261 UAS) on asyncio: requests that arrive on the client's
flows (relayed by its registrar, or in one of its dialogs) are matched to server
transactions and answered; the decisions are in ``sip.server`` and the application's
``on_invite``; this module only carries them out.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from sipmessage import Address, Request, Response

from ..clock import Clock
from ..sip.message import branch_of, cseq_method
from ..sip.server import (
    AnswerLimits,
    Call,
    Key,
    Reply,
    ServerTable,
    ServerTransaction,
    Unacked,
    build_response,
    decide,
    refusal,
)
from ..sip.server import Arm as ServerArm
from ..sip.server import Effect as ServerEffect
from ..sip.server import Timer as ServerTimer
from ..sip.transaction import Timers
from ..sip.transport import Connection
from ..target import Transport
from .dialog import Dialog, DialogHost, header_tag
from .effects import EffectRunner


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


class AnsweringHost(DialogHost, Protocol):
    """What the answering side needs from the client (``SipClient``): the application's
    handlers, the user a 2xx's Contact names, the transaction timers and the clock."""

    @property
    def on_invite(self) -> InviteHandler | None: ...
    @property
    def on_incoming(self) -> Callable[[Incoming], None] | None: ...
    @property
    def user(self) -> str: ...
    @property
    def timers(self) -> Timers: ...
    @property
    def clock(self) -> Clock: ...


class _ServerRunner(EffectRunner[ServerTimer, ServerEffect]):
    """The asyncio side of one server transaction: replies on its flow, timers armed.

    It holds the request only until the final answer (the transaction repeats bytes after
    that), and two timer slots: Timer G, and whichever of H/I/J/L ends the transaction."""

    __slots__ = ("answerer", "call", "conn", "dialog", "key", "request", "tx")

    def __init__(
        self, answerer: Answerer, conn: Connection, request: Request, key: Key, call: Call | None
    ) -> None:
        super().__init__(answerer.clock)
        self.answerer = answerer
        self.conn = conn
        self.tx = ServerTransaction(request, reliable=conn.reliable, timers=answerer.client.timers)
        self.key = key
        self.call = call
        self.request: Request | None = request
        self.dialog: Dialog | None = None

    def carry_out(self, effect: ServerEffect) -> None:
        if isinstance(effect, Reply):
            with contextlib.suppress(OSError):
                self.conn.send(effect.data)
        elif isinstance(effect, ServerArm):
            self.arm(effect.timer, effect.delay)
        elif isinstance(effect, Unacked) and self.dialog is not None:
            # §13.3.1.4: a 2xx never ACKed ends the dialog (the caller is gone).
            self.answerer.client.dialogs.pop(self.dialog.key, None)
            self.dialog.ended = True

    def on_timer(self, timer: ServerTimer) -> list[ServerEffect]:
        return self.tx.fire(timer)

    SLOTS = 2  # Timer G, and the one timer (H, I, J or L) that ends the transaction

    def slot(self, timer: ServerTimer) -> int:
        return 0 if timer == ServerTimer.G else 1

    def settled(self) -> None:
        if self.tx.done:
            self.close()

    def respond(self, code: int, headers: list[tuple[str, str]] | None = None) -> Request:
        """Answer ``code``; returns the request (dropped here once the answer is final)."""
        request = self.request
        assert request is not None, "answered twice"
        response = build_response(request, code, to_tag=self.tx.to_tag, headers=headers)
        if code >= 200:
            self.request = None
        self.apply(self.tx.respond(response))
        return request

    def close(self) -> None:
        super().close()
        self.request = None
        self.answerer.servers.discard(self.key, self.call)


class Answerer:
    """Server transactions in flight for one client, and the UA core's matching of requests
    to them and to the client's dialogs, within the client's ``AnswerLimits``: a request
    beyond them is refused at once (503 + Retry-After) and leaves nothing behind."""

    def __init__(self, client: AnsweringHost, limits: AnswerLimits | None = None) -> None:
        self.client = client
        self.clock = client.clock
        self.limits = limits or AnswerLimits()
        self.servers: ServerTable[_ServerRunner] = ServerTable(self.limits.server_transactions)
        self.tasks: set[asyncio.Future[None]] = set()
        self.deciding = 0  # incoming calls the application is still deciding
        self.refused = 0  # requests answered 503 because a bound was reached

    def serve(self, request: Request, conn: Connection) -> None:
        """A request sent to us (relayed by the registrar, or in one of our dialogs): matched
        to its server transaction (a retransmission, an ACK, a CANCEL) or answered anew."""
        method = request.method
        branch = branch_of(request) or ""
        existing = self.servers.get((branch, method))
        if existing is not None and method != "ACK":
            existing.apply(existing.tx.receive(request))  # a retransmission
            return
        if method == "ACK":
            self._ack(request, branch)  # never answered, never kept
            return
        to_tag = header_tag(request, "To")
        reserve = self._reserve(request, branch, to_tag)
        if reserve is None or not self.servers.has_room(reserve):
            self._refuse(request, conn)
            return
        problem = _unusable(request)
        if problem is not None:  # §8.2: answer 400, and go no further
            runner = self._runner(request, conn, branch)
            self._answer(runner, 400, [("Warning", f'399 siplocate "{problem}"')])
            return
        if method == "CANCEL":
            self._cancel_incoming(request, conn, self.servers.get((branch, "INVITE")))
            return
        runner = self._runner(request, conn, branch)
        if to_tag is not None:
            self._in_dialog(request, runner, to_tag)
        elif method == "INVITE":
            self._incoming_call(runner, request)
        else:
            code, headers = decide(request)
            self._answer(runner, code, headers)

    def _reserve(self, request: Request, branch: str, to_tag: str | None) -> int | None:
        """How far past the transaction bound ``request`` may go, or None: refuse it. A new
        call needs room for a dialog. A request in one of our dialogs (the BYE that ends a
        call) or a CANCEL of a live INVITE may use a reserve of ``dialogs`` transactions, so
        that a flood cannot keep a call from ending; everything else has none."""
        if to_tag is not None:
            key = (request.headers.get("Call-ID") or "", to_tag, header_tag(request, "From") or "")
            return self.limits.dialogs if key in self.client.dialogs else 0
        if request.method == "CANCEL":
            return self.limits.dialogs if self.servers.get((branch, "INVITE")) else 0
        calls = len(self.client.dialogs) + self.deciding
        return None if request.method == "INVITE" and calls >= self.limits.dialogs else 0

    def _refuse(self, request: Request, conn: Connection) -> None:
        """Beyond a bound: 503 + Retry-After, stateless (a retransmission is refused again)."""
        self.refused += 1
        with contextlib.suppress(OSError):
            conn.send(bytes(refusal(request, self.limits.retry_after)))

    def _runner(self, request: Request, conn: Connection, branch: str) -> _ServerRunner:
        """A new server transaction for ``request`` on ``conn``, where retransmissions find it
        (the caller checked that the table has room)."""
        call = None
        if request.method == "INVITE":
            call = (request.headers.get("Call-ID") or "", _cseq_number(request) or 0)
        runner = _ServerRunner(self, conn, request, (branch, request.method), call)
        self.servers.add(runner.key, runner, call, reserve=self.limits.dialogs)
        return runner

    def _answer(
        self,
        runner: _ServerRunner,
        code: int,
        headers: list[tuple[str, str]] | None = None,
        dialog: Dialog | None = None,
    ) -> None:
        request = runner.respond(code, headers)
        if self.client.on_incoming is not None:
            self.client.on_incoming(Incoming(request, code, dialog, self.clock.wall()))

    def _in_dialog(self, request: Request, runner: _ServerRunner, to_tag: str) -> None:
        """BYE ends one of our dialogs; a re-INVITE is declined (the session stays as it is)."""
        key = (request.headers.get("Call-ID") or "", to_tag, header_tag(request, "From") or "")
        dialog = self.client.dialogs.get(key)
        if request.method == "BYE" and dialog is not None:
            del self.client.dialogs[key]
            dialog.ended = True
            self._answer(runner, 200, dialog=dialog)
        elif request.method == "INVITE":
            self._answer(runner, 488 if dialog is not None else 481, dialog=dialog)
        else:
            code, headers = decide(request)
            self._answer(runner, code, headers, dialog)

    def _incoming_call(self, runner: _ServerRunner, request: Request) -> None:
        """100 Trying at once (§17.2.1; Kamailio's outbound edges turned an immediate final
        without it into 430 Flow Failed), then the application's answer (default: 480,
        nobody here to take it): at once if it gives one, else when its coroutine ends."""
        runner.respond(100)
        if self.client.on_invite is None:
            self._call_answered(runner, request, 480)
            return
        try:
            answer = self.client.on_invite(request)
        except Exception:  # the application failed: the caller gets a clear 500
            answer = 500
        if not inspect.isawaitable(answer):
            self._call_answered(runner, request, answer)
            return
        self.deciding += 1
        task = asyncio.ensure_future(self._later(runner, request, answer))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _later(self, runner: _ServerRunner, request: Request, answer: Awaitable[int]) -> None:
        try:
            code = await answer
        except Exception:
            code = 500
        finally:
            self.deciding -= 1
        if not runner.tx.final:  # else CANCELled meanwhile: 487 already sent
            self._call_answered(runner, request, code)

    def _call_answered(self, runner: _ServerRunner, request: Request, code: object) -> None:
        """The application's answer, sent: a 2xx sets up a dialog (if the bound allows)."""
        if not isinstance(code, int) or not 200 <= code <= 699:
            code = 500
        dialog = None
        headers: list[tuple[str, str]] = []
        if code < 300 and len(self.client.dialogs) >= self.limits.dialogs:
            self.refused += 1
            code, headers = 503, [("Retry-After", str(self.limits.retry_after))]
        elif code < 300:
            dialog = Dialog.from_request(self.client, request, runner.tx.to_tag, runner.conn.target)
            runner.dialog = dialog
            self.client.dialogs[dialog.key] = dialog
            local = runner.conn.local
            host = f"[{local[0]}]" if ":" in local[0] else local[0]
            params = (
                ""
                if runner.conn.target.transport == Transport.UDP
                else (f";transport={runner.conn.target.transport.value}")
            )
            headers = [("Contact", f"<sip:{self.client.user}@{host}:{local[1]}{params}>")]
        self._answer(runner, code, headers, dialog)

    def _ack(self, ack: Request, branch: str) -> None:
        """ACK: for a non-2xx final it has the INVITE's branch; for a 2xx it is a new request
        in the dialog (§13.3.1.4) matched by Call-ID and CSeq number. Never answered; an ACK
        that matches nothing (e.g. for a 503 refusal) is dropped."""
        invite = self.servers.get((branch, "INVITE"))
        if invite is None:
            cseq = _cseq_number(ack)
            if cseq is None:
                return
            invite = self.servers.by_call((ack.headers.get("Call-ID") or "", cseq))
        if invite is not None:
            invite.apply(invite.tx.ack())

    def _cancel_incoming(
        self, cancel: Request, conn: Connection, invite: _ServerRunner | None
    ) -> None:
        """CANCEL (§9.2): 200 to the CANCEL, and 487 to the INVITE if still unanswered."""
        runner = self._runner(cancel, conn, branch_of(cancel) or "")
        if invite is None or invite.tx.final:
            self._answer(runner, 481)
            return
        self._answer(runner, 200)
        self._answer(invite, 487)

    def stray(self, response: Response, conn: Connection) -> None:
        """A response no transaction wants: a retransmitted 2xx to our INVITE means our ACK
        was lost, so the dialog ACKs again (RFC 3261 §13.2.2.4)."""
        if cseq_method(response) != "INVITE" or not 200 <= response.code < 300:
            return
        key = (
            response.headers.get("Call-ID") or "",
            header_tag(response, "From") or "",
            header_tag(response, "To") or "",
        )
        dialog = self.client.dialogs.get(key)
        if dialog is not None:
            dialog.ack(conn)

    def close(self) -> None:
        for server in list(self.servers.values()):
            server.close()
        for task in list(self.tasks):
            task.cancel()


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
