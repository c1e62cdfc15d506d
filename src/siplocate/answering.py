"""The client's answering side (RFC 3261 UAS) on asyncio: requests that arrive on the client's
flows (relayed by its registrar, or in one of its dialogs) are matched to server
transactions and answered; the decisions are in ``sip.server`` and the application's
``on_invite``; this module only carries them out.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sipmessage import Address, Request, Response

from .dialog import Dialog, header_tag
from .sip.message import branch_of, cseq_method
from .sip.server import Arm as ServerArm
from .sip.server import Effect as ServerEffect
from .sip.server import Reply, ServerTransaction, Unacked, build_response, decide
from .sip.server import Timer as ServerTimer
from .sip.transport import Connection
from .target import Transport

if TYPE_CHECKING:
    from .client import SipClient


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

    def __init__(self, answerer: Answerer, conn: Connection, tx: ServerTransaction) -> None:
        self.answerer = answerer
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
                self.answerer.client.dialogs.pop(self.dialog.key, None)
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
        self.answerer.servers.pop(self.key, None)


class Answerer:
    """Server transactions in flight for one client, and the UA core's matching of requests
    to them and to the client's dialogs."""

    def __init__(self, client: SipClient) -> None:
        self.client = client
        self.servers: dict[tuple[str, str], _ServerRunner] = {}
        self.tasks: set[asyncio.Future[None]] = set()

    def serve(self, request: Request, conn: Connection) -> None:
        """A request sent to us (relayed by the registrar, or in one of our dialogs): matched
        to its server transaction (a retransmission, an ACK, a CANCEL) or answered anew."""
        method = request.method
        branch = branch_of(request) or ""
        existing = self.servers.get((branch, method))
        if existing is not None and method not in ("ACK", "CANCEL"):
            existing.apply(existing.tx.receive(request))  # a retransmission
            return
        problem = _unusable(request)
        if problem is not None:  # §8.2: answer 400 (never an ACK), and go no further
            if method != "ACK":
                runner = self._runner(request, conn)
                self._answer(runner, 400, [("Warning", f'399 siplocate "{problem}"')])
            return
        if method in ("ACK", "CANCEL"):
            invite = self.servers.get((branch, "INVITE"))
            if method == "ACK":
                self._ack(request, invite)
                return
            self._cancel_incoming(request, conn, invite)
            return
        runner = self._runner(request, conn)
        to_tag = header_tag(request, "To")
        if to_tag is not None:
            self._in_dialog(request, runner, to_tag)
        elif method == "INVITE":
            runner.respond(100)  # §17.2.1: stop the caller's retransmissions at once
            task = asyncio.ensure_future(self._incoming_call(runner))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        else:
            code, headers = decide(request)
            self._answer(runner, code, headers)

    def _runner(self, request: Request, conn: Connection) -> _ServerRunner:
        """A new server transaction for ``request`` on ``conn``, where retransmissions find it."""
        tx = ServerTransaction(request, reliable=conn.reliable, timers=self.client.timers)
        runner = _ServerRunner(self, conn, tx)
        self.servers[runner.key] = runner
        return runner

    def _answer(
        self,
        runner: _ServerRunner,
        code: int,
        headers: list[tuple[str, str]] | None = None,
        dialog: Dialog | None = None,
    ) -> None:
        runner.respond(code, headers)
        if self.client.on_incoming is not None:
            self.client.on_incoming(Incoming(runner.tx.request, code, dialog, time.time()))

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

    async def _incoming_call(self, runner: _ServerRunner) -> None:
        """Ask the application (default: 480, nobody here to take it); answer unless CANCELled."""
        request = runner.tx.request
        code = 480
        if self.client.on_invite is not None:
            try:
                answer = self.client.on_invite(request)
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

    def _ack(self, ack: Request, invite: _ServerRunner | None) -> None:
        """ACK: for a non-2xx final it has the INVITE's branch; for a 2xx it is a new request
        in the dialog (§13.3.1.4) matched by Call-ID and CSeq number. Never answered."""
        if invite is None:
            call_id, cseq = ack.headers.get("Call-ID"), _cseq_number(ack)
            invite = next(
                (
                    r
                    for r in list(self.servers.values())
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
        runner = self.servers.get((branch_of(cancel) or "", "CANCEL"))
        if runner is not None:
            runner.apply(runner.tx.receive(cancel))
            return
        runner = self._runner(cancel, conn)
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
