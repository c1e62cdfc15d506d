"""The async SIP client: requests that walk the RFC 3263 target list and fail over.

``SipClient`` owns the connections, the transactions in flight and the failover memory
shared by all its requests. ``Registration`` keeps a binding alive (refresh, failover,
failback); ``health.HealthMonitor`` can feed it. Resolution always goes through
``siplocate.Resolver`` (or a ``static`` list of addresses, which needs no DNS).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from sipmessage import Request

from ..clock import Clock, as_clock
from ..errors import BadInput, NotFound, OperationFailed
from ..sip.message import RequestSpec, new_call_id
from ..sip.server import AnswerLimits
from ..sip.transaction import Timers
from ..sip.transport import Connection, WireTap
from ..target import DEFAULT_TRANSPORTS, SipTarget, Target, Transport
from .answering import Answerer, Incoming, InviteHandler
from .config import Locator, ca_context, locator_for, realms_of, rules_for, transports_of
from .dialog import Dialog, DialogKey
from .effects import within
from .failover import FAILOVER_ON, Failover, Failure, Policy, Steering
from .flows import FlowPool, OutboundLike
from .registration import Binding
from .specs import FlowLike, new_spec, probe_uri, register_spec, registered
from .transactions import Transactions, probe_once, walk
from .walker import INVITE_RING_LIMIT, Attempt, Credentials, Outcome, Walker
from .wire import Wire

__all__ = ["INVITE_RING_LIMIT", "SipClient"]


class HealthSource(Protocol):
    """Feeds a client's down-memory from elsewhere (``shared_health.RedisHealth``)."""

    def attach(self, client: SipClient) -> object: ...


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
    challenge for another realm is not answered and that target fails. ``health``: a shared
    verdict source (``RedisHealth``); ``clock``: time for every timer and down-memory.
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
        clock: Clock | None = None,
    ) -> None:
        self.clock = as_clock(clock)
        self.aor = SipTarget.parse(aor)
        self.domain = self.aor.host  # the SIP domain: what the TLS certificate must name
        self.user = self.aor.user or "siplocate"  # From user for probes of a bare domain
        self.password = password
        self.username = username or self.user
        self.realms = realms_of(realms)
        self.transports = transports_of(transports)
        self.policy, self.resolver = locator_for(
            policy, static, resolver, nameservers, zones, self.transports
        )
        self.failover_after = failover_after
        self.timers = timers or Timers()
        self.rules = rules_for(failover_after, tries, failover_on, self.timers)
        self.failover = Failover(self.policy, down_for=down_for, clock=self.clock)
        self.ca_file = ca_file
        self.connected_udp = connected_udp
        self.wire = Wire(self, ca_context(ca_file))
        self.flows = FlowPool(self.wire.open)
        self.transactions = Transactions()
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
        self.outbound: OutboundLike | None = None
        # Sees every SIP message each flow opened from now on sends or receives (``-v``).
        self.on_wire: WireTap | None = None
        if health is not None:  # shared health (client/shared_health.py) feeds the down-memory
            health.attach(self)

    # -- what the client knows about targets -------------------------------------------------

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
        left = self.failover.resolved(targets)
        if left is not None:  # the registrar left the DNS answer: its keeper must move
            self._tell(left, False)
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
        behind it runs out, for sticky-ttl). Kept on the monotonic clock (``Failover.mark``).
        """
        self.failover.mark(
            target, up, failure=failure, retry_after=retry_after, until=until, expires=expires
        )
        self._tell(target, up)

    def observed(self, target: Target, up: bool, *, changed: bool = True) -> None:
        """A health probe's verdict: up (not made sticky) or down until seen up again;
        listeners hear of it when it ``changed``, and of every answer (a damped failback
        counts them)."""
        self.failover.observed(target, up)
        if changed or up:
            self._tell(target, up)

    def is_down(self, target: Target) -> bool:
        return self.failover.down_now(target)

    def _tell(self, target: Target, up: bool) -> None:
        for listener in list(self.listeners):
            listener(target, up)

    # -- the client's lifetime ------------------------------------------------------------

    async def close(self) -> None:
        """Abort transactions in flight and close every flow (the registration is not
        touched: ``unregister`` first if it should go)."""
        self.transactions.abort_all()
        self.answerer.close()
        self.flows.close()
        await asyncio.sleep(0)

    async def __aenter__(self) -> SipClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

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
        return await walk(self, walker, on_request)

    def new_spec(
        self, method: str, *, uri: str | None = None, call_id: str | None = None
    ) -> RequestSpec:
        """A fresh out-of-dialog request from our AOR (To = ``uri`` or our own AOR)."""
        return new_spec(self.aor, self.user, method, uri=uri, call_id=call_id)

    # -- the requests -----------------------------------------------------------------------

    async def options(self, uri: str | None = None) -> Outcome:
        """OPTIONS with failover (a ping that follows the same rules as every request)."""
        return await self.request("OPTIONS", uri=uri)

    async def probe(self, target: Target, budget: float | None = None) -> Attempt:
        """One OPTIONS to one target, no failover, no auth: is it answering at all?"""
        spec = self.new_spec("OPTIONS", uri=probe_uri(self.aor, target))
        return await probe_once(self, target, spec, budget or self.failover_after or self.timers.f)

    async def register(
        self,
        expires: int = 3600,
        *,
        binding: Binding | None = None,
        steering: Steering | None = None,
        flow: FlowLike | None = None,
    ) -> Outcome:
        """REGISTER our contact for ``expires`` seconds, keeping ``binding`` (default: the
        client's own) up to date: where it is held and for how long. ``flow``: register it
        as that RFC 5626 flow (reg-id and instance in the Contact, ``Supported: outbound``).
        """
        if self.aor.user is None:
            raise BadInput(f"cannot register {self.aor}: it needs a user part (sip:USER@DOMAIN)")
        b = binding if binding is not None else self.binding
        spec = register_spec(
            self.new_spec("REGISTER", call_id=b.call_id), b, self.aor.user, expires, flow
        )
        try:
            outcome = await self.request("REGISTER", spec=spec, steering=steering)
        finally:
            b.cseq = spec.cseq  # digest retries used CSeq numbers too
        if outcome.ok and outcome.response is not None:
            registered(b, outcome.response, outcome.target, self.aor.user, expires, flow)
            if flow is None:
                self.failover.registered(b.target)  # the affinity policy's first choice
        return outcome

    async def unregister(
        self, budget: float = 2.0, *, binding: Binding | None = None, flow: FlowLike | None = None
    ) -> Outcome | None:
        """Remove the binding (of ``flow``, if an RFC 5626 one) from the registrar that holds
        it (best effort, bounded)."""
        b = binding if binding is not None else self.binding
        if b.target is None:
            return None
        target = b.target
        try:
            return await within(
                self.clock,
                budget,
                self.register(0, binding=b, steering=Steering(only=[target]), flow=flow),
            )
        except (TimeoutError, OperationFailed):
            return None
        finally:
            self.failover.unregistered(b.target)
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
