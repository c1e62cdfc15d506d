"""The async SIP client: requests that walk the RFC 3263 target list and fail over.

``SipClient`` owns the connections, the transactions in flight and the failover memory
shared by all its requests. ``Registration`` keeps a binding alive (refresh, failover,
failback); ``health.HealthMonitor`` can feed it. Resolution always goes through
``siplocate.Resolver`` (or a ``static`` list of addresses, which needs no DNS).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sipmessage import URI, Address, Parameters, Request, Response

from .errors import BadInput, DnsError, NotFound, OperationFailed
from .failover import Failback, Failover, Failure, Policy, is_failover_response
from .sip.auth import AuthError, digest_credentials, parse_challenges, pick_challenge
from .sip.message import (
    RequestSpec,
    branch_of,
    build_cancel,
    build_request,
    cseq_method,
    header_expires,
    new_call_id,
    new_tag,
    retry_after,
)
from .sip.transaction import (
    Arm,
    ClientTransaction,
    Effect,
    Final,
    Provisional,
    Send,
    TimedOut,
    Timer,
    Timers,
    TransportError,
    new_transaction,
)
from .sip.transport import SUPPORTED, Connection, open_connection, tls_context
from .target import DEFAULT_TRANSPORTS, SipTarget, Target, Transport, Via, is_ip, parse_transports

#: Longest an INVITE may ring before the client CANCELs it (a proxy's Timer C, RFC 3261 §16.6).
INVITE_RING_LIMIT = 180.0


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
            raise BadInput("the static policy needs at least one --server ADDRESS[:PORT]")

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


@dataclass
class Attempt:
    """One transaction against one target: what came back and how long it took."""

    target: Target
    status: int | None = None
    error: str | None = None
    ms: float = 0.0
    at: float = 0.0  # Unix time the attempt started

    def as_dict(self) -> dict[str, object]:
        return {
            "transport": self.target.transport.value,
            "host": self.target.host,
            "address": self.target.address,
            "port": self.target.port,
            "status": self.status,
            "error": self.error,
            "ms": round(self.ms, 1),
        }


@dataclass
class Outcome:
    """The result of a request after failover: the final response (if any) and every attempt."""

    method: str
    response: Response | None
    target: Target | None
    attempts: list[Attempt] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.response is not None and 200 <= self.response.code < 300

    def describe(self) -> str:
        if self.response is not None and self.target is not None:
            r, t = self.response, self.target
            return f"{self.method} {r.code} {r.phrase} from {t.transport}:{t.hostport}"
        return self.error or f"{self.method} failed"

    def raise_for_status(self) -> Outcome:
        if not self.ok:
            raise OperationFailed(self.describe())
        return self


@dataclass
class _TxResult:
    response: Response | None = None
    failure: Failure | None = None
    error: str | None = None


class _Runner:
    """The asyncio side of one client transaction: timers via call_later, effects applied."""

    def __init__(self, client: SipClient, conn: Connection, tx: ClientTransaction) -> None:
        self.client = client
        self.conn = conn
        self.tx = tx
        loop = asyncio.get_running_loop()
        self.heard = asyncio.Event()
        self.result: asyncio.Future[_TxResult] = loop.create_future()
        self.handles: dict[Timer, asyncio.TimerHandle] = {}
        self.provisional: list[Response] = []
        self.key = (branch_of(tx.request) or "", tx.request.method)

    def apply(self, effects: list[Effect]) -> None:
        loop = asyncio.get_running_loop()
        for effect in effects:
            if isinstance(effect, Send):
                try:
                    self.conn.send(bytes(effect.request))
                except OSError as exc:
                    self.apply(self.tx.transport_error(_reason(exc)))
            elif isinstance(effect, Arm):
                old = self.handles.pop(effect.timer, None)
                if old is not None:
                    old.cancel()
                self.handles[effect.timer] = loop.call_later(effect.delay, self.fire, effect.timer)
            elif isinstance(effect, Provisional):
                self.provisional.append(effect.response)
                self.heard.set()
            elif isinstance(effect, Final):
                self._finish(_TxResult(response=effect.response))
            elif isinstance(effect, TimedOut):
                self._finish(_TxResult(failure=Failure.TIMEOUT, error="timeout (Timer B/F)"))
            elif isinstance(effect, TransportError):
                self._finish(_TxResult(failure=Failure.TRANSPORT, error=effect.reason))
        if self.tx.done:
            self.close()

    def _finish(self, result: _TxResult) -> None:
        self.heard.set()
        if not self.result.done():
            self.result.set_result(result)

    def fire(self, timer: Timer) -> None:
        self.handles.pop(timer, None)
        self.apply(self.tx.fire(timer))

    def abort(self, reason: str) -> None:
        """Give up (failover budget): stop retransmitting and forget the transaction."""
        self._finish(_TxResult(failure=Failure.TIMEOUT, error=reason))
        self.close()

    def close(self) -> None:
        for handle in self.handles.values():
            handle.cancel()
        self.handles.clear()
        if self.client._runners.get(self.key) is self:
            del self.client._runners[self.key]


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


EventHandler = Callable[[Target, bool], None]


class SipClient:
    """A SIP user agent client for one address-of-record, with failover across the target list.

    ``failover_after`` is the failover budget: how long a target may stay silent before the
    request moves on (Timer B/F still bound the transaction; the budget is usually shorter).
    ``down_for`` is how long a failed target stays marked down (503 Retry-After overrides).
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
        if failover_after is not None and failover_after <= 0:
            raise BadInput("--failover-after must be positive")
        self.failover_after = failover_after
        self.timers = timers or Timers()
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
        self._runners: dict[tuple[str, str], _Runner] = {}
        self._reg_call_id = new_call_id()
        self._reg_cseq = 0
        self._reg_tag = new_tag()
        self.registered: Target | None = None
        self.granted: int | None = None
        self.last_targets: list[Target] = []
        self.listeners: list[EventHandler] = []  # (target, up) from health checks and requests
        self._auth_cache: dict[str, tuple[object, int]] = {}

    # -- resolution ------------------------------------------------------------------------

    @property
    def domain(self) -> str:
        return self.aor.host

    async def targets(self) -> tuple[list[Target], float | None]:
        """The current try list from the resolver (cached there), restricted to our transports."""
        # Keyed by our registration Call-ID: the same client always sees the same order
        # within a priority (RFC 3263 §4.4), so "higher-ranked" means the same thing each time.
        res = await self.resolver.locate(self.aor.text, key=self._reg_call_id)
        targets = [t for t in res.targets if t.transport in self.transports]
        if not targets:
            raise NotFound(f"no target for {self.aor} over {','.join(map(str, self.transports))}")
        self.last_targets = targets
        return targets, res.expires

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
        if not isinstance(msg, Response):
            return  # this client serves no requests (no UAS); servers retransmit or give up
        runner = self._runners.get((branch_of(msg) or "", cseq_method(msg) or ""))
        if runner is not None and runner.conn is conn:
            runner.apply(runner.tx.receive(msg))

    def _on_error(self, exc: Exception, conn: Connection) -> None:
        """A flow failed: fail its pending transactions; drop it unless it is a UDP socket
        that merely reported an ICMP error (it stays open, same port, same Contact)."""
        for runner in list(self._runners.values()):
            if runner.conn is conn:
                runner.apply(runner.tx.transport_error(_reason(exc)))
        if conn.reliable or conn.closed:
            k = (conn.target.transport.value, conn.target.address, conn.target.port)
            if self._connections.get(k) is conn:
                del self._connections[k]
            conn.close()

    async def close(self) -> None:
        """Abort transactions in flight and close every flow (the registration is not
        touched: ``unregister`` first if it should go)."""
        for pending in list(self._connecting.values()):
            pending.cancel()
        for runner in list(self._runners.values()):
            runner.abort("client closed")
        for conn in list(self._connections.values()):
            conn.close()
        self._connections.clear()
        await asyncio.sleep(0)

    async def __aenter__(self) -> SipClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- one transaction against one target ---------------------------------------------------

    async def _transaction(
        self,
        target: Target,
        spec: RequestSpec,
        budget: float | None,
        on_request: Callable[[Request, Connection], None] | None = None,
        cancel_after: float | None = None,
    ) -> _TxResult:
        try:
            conn = await self._connection(target, budget)
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            return _TxResult(failure=Failure.TRANSPORT, error=_reason(exc))
        request = build_request(spec, transport=target.transport, local=conn.local)
        tx = new_transaction(request, reliable=conn.reliable, timers=self.timers)
        runner = _Runner(self, conn, tx)
        self._runners[runner.key] = runner
        if on_request is not None:
            on_request(request, conn)
        runner.apply(tx.start())
        try:
            if budget is not None:
                await asyncio.wait_for(runner.heard.wait(), budget)
            if request.method == "INVITE" and not runner.result.done():
                # A ringing INVITE has no Timer B (RFC 3261 §17.1.1.2): bound it ourselves,
                # by default like a proxy's Timer C (3 min), then CANCEL and give the
                # callee 64*T1 to answer 487 (RFC 3261 §9.1).
                ring = cancel_after if cancel_after is not None else INVITE_RING_LIMIT
                try:
                    return await asyncio.wait_for(asyncio.shield(runner.result), ring)
                except TimeoutError:
                    await self._cancel(target, request, budget)
                try:
                    return await asyncio.wait_for(asyncio.shield(runner.result), self.timers.b)
                except TimeoutError:
                    runner.abort("no final response after CANCEL within 64*T1")
            return await runner.result
        except TimeoutError:
            runner.abort(f"no answer within {budget:g}s (failover budget)")
            return await runner.result
        except asyncio.CancelledError:
            runner.abort("cancelled")
            raise

    async def _cancel(self, target: Target, invite: Request, budget: float | None) -> None:
        """CANCEL a pending INVITE (RFC 3261 §9.1): its own non-INVITE transaction, same hop."""
        conn = await self._connection(target, budget)
        cancel = build_cancel(invite)
        tx = new_transaction(cancel, reliable=conn.reliable, timers=self.timers)
        runner = _Runner(self, conn, tx)
        self._runners[runner.key] = runner
        runner.apply(tx.start())
        await runner.result

    # -- a request with auth and failover -------------------------------------------------------

    async def request(
        self,
        method: str,
        *,
        uri: str | None = None,
        spec: RequestSpec | None = None,
        prefer: Target | None = None,
        only: Sequence[Target] | None = None,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
        cancel_after: float | None = None,
        on_request: Callable[[Request, Connection], None] | None = None,
        from_top: bool = False,
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
        if only is not None:
            candidates, expires = list(only), None
            order = list(only)
        else:
            candidates, expires = await self.targets()
            order = self.failover.order(candidates, time.time(), prefer, from_top)
        outcome = Outcome(method, None, None)
        for target in order:
            try:
                result = await self._authenticated(target, spec, outcome, cancel_after, on_request)
            except AuthError as exc:
                outcome.error = str(exc)
                exc.outcome = outcome
                raise
            now = time.time()
            if result.response is not None and not is_failover_response(result.response.code):
                outcome.response = result.response
                outcome.target = target
                self.failover.succeeded(target, now, expires)
                self._notify(target, True)
                return outcome
            failure = result.failure or Failure.UNAVAILABLE
            after = retry_after(result.response) if result.response is not None else None
            self.failover.failed(target, now, failure, after)
            self._notify(target, False)
        if outcome.attempts:
            detail = "; ".join(
                f"{a.target.transport}:{a.target.hostport} {a.status or a.error}"
                for a in outcome.attempts
            )
            outcome.error = f"no server answered {method} for {self.aor}: {detail}"
        else:
            outcome.error = f"no target to send {method} to"
        return outcome

    async def _authenticated(
        self,
        target: Target,
        spec: RequestSpec,
        outcome: Outcome,
        cancel_after: float | None,
        on_request: Callable[[Request, Connection], None] | None,
    ) -> _TxResult:
        """One target: the request, and at most one digest retry on 401/407."""
        spec.headers = [
            h for h in spec.headers if h[0] not in ("Authorization", "Proxy-Authorization")
        ]
        for round_ in range(2):
            attempt = Attempt(target, at=time.time())
            start = time.perf_counter()
            result = await self._transaction(
                target, spec, self.failover_after, on_request, cancel_after
            )
            attempt.ms = (time.perf_counter() - start) * 1000
            attempt.status = result.response.code if result.response is not None else None
            attempt.error = result.error
            outcome.attempts.append(attempt)
            response = result.response
            if response is None or response.code not in (401, 407):
                return result
            header = "WWW-Authenticate" if response.code == 401 else "Proxy-Authenticate"
            challenges = parse_challenges(response.headers.getlist(header))
            if self.password is None:
                raise AuthError(
                    f"{target.hostport} requires authentication ({response.code}): "
                    "give a password (--password-file)"
                )
            challenge = pick_challenge(challenges)
            if round_ == 1 and challenge.parameters.get("stale", "").lower() != "true":
                raise AuthError(
                    f"authentication failed for {self.username} at {target.hostport} "
                    f"({response.code} {response.phrase}): check the user name and password"
                )
            creds = digest_credentials(
                challenge,
                method=spec.method,
                uri=str(spec.uri),
                username=self.username,
                password=self.password,
            )
            name = "Authorization" if response.code == 401 else "Proxy-Authorization"
            spec.headers = [h for h in spec.headers if h[0] != name] + [(name, str(creds))]
            spec.cseq += 1
            if spec.method == "REGISTER":
                self._reg_cseq = spec.cseq
        return result

    def _notify(self, target: Target, up: bool) -> None:
        for listener in list(self.listeners):
            listener(target, up)

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
        attempt = Attempt(target, at=time.time())
        start = time.perf_counter()
        result = await self._transaction(
            target, spec, budget or self.failover_after or self.timers.f
        )
        attempt.ms = (time.perf_counter() - start) * 1000
        attempt.status = result.response.code if result.response is not None else None
        attempt.error = result.error
        if result.response is not None and result.response.code == 503:
            after = retry_after(result.response)
            attempt.error = "503 Retry-After " + (f"{after:g}s" if after is not None else "none")
        return attempt

    async def register(
        self,
        expires: int = 3600,
        *,
        prefer: Target | None = None,
        only: Sequence[Target] | None = None,
        from_top: bool = False,
    ) -> Outcome:
        """REGISTER our contact for ``expires`` seconds; sets ``registered`` and ``granted``.

        ``from_top`` walks the list from the top whatever the policy (failback at refresh).
        """
        if self.aor.user is None:
            raise BadInput(f"cannot register {self.aor}: it needs a user part (sip:USER@DOMAIN)")
        self._reg_cseq += 1
        spec = self.new_spec("REGISTER", call_id=self._reg_call_id)
        spec.from_addr = Address(uri=spec.from_addr.uri, parameters=_params(tag=self._reg_tag))
        spec.cseq = self._reg_cseq
        spec.contact_user = self.aor.user
        spec.expires = expires
        outcome = await self.request(
            "REGISTER", spec=spec, prefer=prefer, only=only, from_top=from_top
        )
        if outcome.ok and outcome.response is not None:
            self.registered = outcome.target if expires > 0 else None
            self.granted = header_expires(outcome.response, self.aor.user) if expires > 0 else 0
            if self.granted is None:
                self.granted = expires
        return outcome

    async def unregister(self, budget: float = 2.0) -> Outcome | None:
        """Remove our binding from the registrar that holds it (best effort, bounded)."""
        if self.registered is None:
            return None
        target = self.registered
        try:
            return await asyncio.wait_for(self.register(0, only=[target]), budget)
        except (TimeoutError, OperationFailed):
            return None
        finally:
            self.registered = None

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

        outcome = await self.request(
            "INVITE", spec=spec, cancel_after=cancel_after, on_request=remember
        )
        if not outcome.ok or outcome.response is None or outcome.target is None:
            return outcome
        dialog = Dialog.from_response(self, spec, outcome.response, outcome.target)
        request, conn = sent["last"]
        dialog.ack(conn, request)
        return dialog


def _uri_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _params(**values: str) -> Parameters:
    return Parameters(**values)


@dataclass
class Dialog:
    """An established INVITE dialog (RFC 3261 §12): in-dialog requests stay on its server."""

    client: SipClient
    target: Target
    call_id: str
    local: Address
    remote: Address
    remote_target: URI
    route: list[Address]
    cseq: int
    invite_cseq: int

    @classmethod
    def from_response(
        cls, client: SipClient, spec: RequestSpec, response: Response, target: Target
    ) -> Dialog:
        contacts = response.contact
        remote_target = contacts[0].uri if contacts else spec.uri
        route = list(reversed(response.record_route))
        return cls(
            client,
            target,
            spec.call_id,
            spec.from_addr,
            response.to_address,
            remote_target,
            route,
            spec.cseq,
            spec.cseq,
        )

    def ack(self, conn: Connection, invite: Request) -> None:
        """ACK for 2xx: a new request, no transaction (RFC 3261 §13.2.2.4), same flow."""
        spec = self._spec("ACK", self.invite_cseq)
        request = build_request(spec, transport=self.target.transport, local=conn.local)
        with contextlib.suppress(OSError):
            conn.send(bytes(request))

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
            method, spec=self._spec(method, self.cseq), prefer=self.target
        )
        if outcome.target is not None:
            self.target = outcome.target
        return outcome

    async def bye(self) -> Outcome:
        return await self.request("BYE")


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
    ) -> None:
        self.client = client
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
        prefer = self.current if never else None
        previous = self.current
        try:
            outcome = await self.client.register(self.expires, prefer=prefer, from_top=not never)
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
        granted = self.client.granted or self.expires
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
                await self.client.unregister()
            if self._health in self.client.listeners:
                self.client.listeners.remove(self._health)
