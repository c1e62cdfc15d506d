"""Answers from real DNS servers: dnspython messages over our own asyncio UDP sockets.

EDNS with a 1232-byte buffer (so BIND fills the additional section), TCP when truncated,
and retries with timers that measure the network: each server's round-trip time is tracked
(RFC 6298 style), the first try waits a few round trips, later ones twice as long each, and
a reply that is already in the socket is read before a timer is allowed to fire. Questions
on the wire at once are bounded (``Limits.inflight``); the wait for a turn is not counted
against a question's timer. A reply whose ID, source or question does not match is dropped
and the real one still awaited.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import BadInput, DnsError
from ..limits import DEFAULT_LIMITS, Limits
from .source import Answer, Origin, negative_ttl, pick_answer

EDNS_PAYLOAD = 1232  # DNS flag day 2020: fits any path without fragmentation
MIN_RTO = 0.1  # never retry sooner than this, however fast the server has been
MAX_MISMATCHED = 8  # non-matching datagrams tolerated per question before giving up on it


def parse_nameserver(text: str, default_port: int = 53) -> tuple[str, int]:
    """``addr``, ``addr:port``, ``[v6]:port``, ``addr#port`` (dig/nsupdate) or a host name
    (resolved once by the system resolver) -> (address, port); BadInput with the right spelling.
    ``default_port`` is the port when the text has none (dig's ``-p``).
    """
    import ipaddress

    raw = text.strip()
    host, port_text = raw, ""
    if raw.startswith("["):
        end = raw.find("]")
        if end < 0:
            raise BadInput(f"nameserver {text!r}: unterminated [ (write [ADDRESS]:PORT)")
        host, rest = raw[1:end], raw[end + 1 :]
        if rest:
            if rest[0] not in ":#":
                raise BadInput(f"nameserver {text!r}: expected [ADDRESS]:PORT")
            port_text = rest[1:]
    elif "#" in raw:
        host, _, port_text = raw.partition("#")
    elif raw.count(":") == 1:
        host, _, port_text = raw.partition(":")
    elif raw.count(":") > 1:  # IPv6: bare, or with a port glued on (ambiguous)
        head, _, tail = raw.rpartition(":")
        # ::1:5300 is an address AND ::1 port 5300; ASCII: '²' is a digit to isdigit only
        glued = _is_ip(head) and tail.isascii() and tail.isdigit()
        if glued or not _is_ip(raw):
            hint = f"; did you mean [{head}]:{tail}?" if glued else ""
            also = f" (or [{raw}] for that address, port 53)" if glued and _is_ip(raw) else ""
            raise BadInput(f"nameserver {text!r}: ambiguous or not an IPv6 address{hint}{also}")
    port = default_port
    if port_text or raw.endswith((":", "#")):
        if not (port_text.isascii() and port_text.isdigit()):
            raise BadInput(f"nameserver {text!r}: port {port_text!r} is not a number")
        if not 0 < int(port_text) < 65536:
            raise BadInput(f"nameserver {text!r}: port {port_text} out of range (1-65535)")
        port = int(port_text)
    if not host:
        raise BadInput(f"nameserver {text!r}: no address")
    if _is_ip(host):
        return str(ipaddress.ip_address(host)), port
    return _resolve_host(host, text), port


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _resolve_host(host: str, text: str) -> str:
    """A nameserver given by name: its first address from the system resolver (once)."""
    import dns.name as _name

    try:
        _name.from_text(host)
    except dns.exception.DNSException:
        raise BadInput(
            f"nameserver {text!r}: not an address or host name (write ADDRESS, ADDRESS:PORT, "
            "[IPV6]:PORT or ADDRESS#PORT)"
        ) from None
    if any(c in host for c in " /\\@"):
        raise BadInput(f"nameserver {text!r}: not an address or host name")
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except (OSError, UnicodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise BadInput(f"nameserver {text!r}: cannot resolve {host}: {why}") from None
    if not infos:
        raise BadInput(f"nameserver {text!r}: {host} has no address")
    return str(infos[0][4][0])


def system_nameservers() -> list[tuple[str, int]]:
    """Nameservers from /etc/resolv.conf."""
    try:
        conf = dns.resolver.Resolver(configure=True)
    except dns.exception.DNSException as exc:
        raise DnsError(f"cannot read /etc/resolv.conf: {exc}") from None
    return [(str(ns), int(conf.port)) for ns in conf.nameservers]


PER_SOCKET = 16  # questions in flight per UDP socket before another socket is opened


class _Channel(asyncio.DatagramProtocol):
    """A connected UDP socket to one nameserver, shared by the questions in flight on it.

    Replies are matched by ID and handed over as bytes (parsing happens in the asker's
    task). Being connected, the kernel drops datagrams from any other source, and ICMP
    port unreachable shows at once (ECONNREFUSED).
    """

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: dict[int, asyncio.Future[bytes]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if len(data) >= 12:
            future = self.pending.get(int.from_bytes(data[:2], "big"))
            if future is not None and not future.done():
                future.set_result(data)

    def error_received(self, exc: Exception) -> None:
        for future in self.pending.values():
            if not future.done():
                future.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.error_received(exc or ConnectionError("socket closed"))
        self.transport = None


@dataclass(slots=True)
class _Rtt:
    """Smoothed round-trip time of one server (RFC 6298 §2), for its retry timer."""

    srtt: float | None = None
    rttvar: float = 0.0

    def sample(self, rtt: float) -> None:
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt

    def timeout(self, initial: float, cap: float) -> float:
        if self.srtt is None:
            return min(initial, cap)
        return min(max(MIN_RTO, self.srtt + 4 * self.rttvar), cap)


def decode_reply(query: dns.message.Message, wire: bytes) -> dns.message.Message:
    """Parse a reply from the wire; it must answer ``query`` (ID, flags and question)."""
    reply = dns.message.from_wire(wire, ignore_trailing=True)
    if not query.is_response(reply):
        raise dns.exception.FormError("reply does not match the question")  # type: ignore[no-untyped-call]
    return reply


def answer_from(
    name: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
    reply: dns.message.Message,
    where: str,
    latency: float,
    limits: Limits = DEFAULT_LIMITS,
) -> Answer:
    """The ``Answer`` a server's reply gives to one question; DnsError when it gives none
    (SERVFAIL, REFUSED, ...), so the caller moves on to the next server. RRsets of a class
    other than IN are skipped with a note."""
    rcode = reply.rcode()
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        raise DnsError(f"{where} answered {dns.rcode.to_text(rcode)}")
    notes = tuple(
        f"{where}: {r.name} {dns.rdataclass.to_text(r.rdclass)} "
        f"{dns.rdatatype.to_text(r.rdtype)} skipped: not class IN"
        for r in reply.answer
        if r.rdclass != dns.rdataclass.IN
    )
    rrset, chain = pick_answer(name, rdtype, list(reply.answer), limits.cname_chain)
    ttl = rrset.ttl if rrset is not None else negative_ttl(list(reply.authority))
    if chain and rrset is None:
        ttl = min(r.ttl for r in reply.answer) if reply.answer else ttl
    return Answer(
        name,
        rdtype,
        rcode,
        rrset,
        int(ttl),
        Origin.NETWORK,
        latency,
        where,
        chain,
        tuple(reply.additional),
        notes,
    )


class LiveSource:
    """A DnsSource asking real nameservers, in turn, over UDP (TCP when truncated).

    ``timeout`` caps one try (the first try waits ``initial_timeout`` until the server's
    round-trip time is known); ``attempts`` is the number of tries in all, across servers.
    ``port`` is the port of the servers given without one (and of /etc/resolv.conf's);
    ``on_timeout`` hears, as it happens, each try that timed out (a line of text naming the
    server, the wait and the question), so a silent server is not silent for seconds.
    ``clock`` measures round trips and retry deadlines (a network round trip takes real
    time: the system clock unless a test says otherwise).
    """

    def __init__(
        self,
        nameservers: list[str] | None = None,
        *,
        timeout: float = 1.5,
        attempts: int = 5,
        initial_timeout: float = 0.5,
        edns: bool = True,
        limits: Limits = DEFAULT_LIMITS,
        port: int | None = None,
        on_timeout: Callable[[str], None] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.clock = clock
        #: True when the servers came from /etc/resolv.conf (no nameserver given).
        self.from_resolv_conf = not nameservers
        if nameservers:
            self.servers = [parse_nameserver(ns, port or 53) for ns in nameservers]
        else:
            self.servers = [(a, port or p) for a, p in system_nameservers()]
        if not self.servers:
            raise BadInput("no nameservers configured")
        self.on_timeout = on_timeout
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.initial_timeout = initial_timeout
        self.edns = edns
        self.limits = limits
        self._rtt = {server: _Rtt() for server in self.servers}
        self._pools: dict[tuple[str, int], list[_Channel]] = {}
        self._opening: dict[tuple[str, int], asyncio.Future[_Channel]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._turns: asyncio.Semaphore | None = None
        self._ids = random.SystemRandom()
        self.sockets_opened = 0

    async def answer(
        self,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        defer: asyncio.Event | None = None,
    ) -> Answer:
        query = dns.message.make_query(
            name, rdtype, use_edns=0 if self.edns else False, payload=EDNS_PAYLOAD
        )
        problems: list[str] = []
        backoff = 1.0
        for attempt in range(self.attempts):
            host, port = self.servers[attempt % len(self.servers)]
            if attempt and attempt % len(self.servers) == 0:
                backoff *= 2  # a new round over the servers: each waits twice as long
            where = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
            rtt = self._rtt[(host, port)]
            wait = min(rtt.timeout(self.initial_timeout, self.timeout) * backoff, self.timeout)
            try:
                reply, latency = await self._udp(query, host, port, wait, defer)
                rtt.sample(latency)
                if reply.flags & dns.flags.TC:  # truncated: the whole answer over TCP
                    reply = await self._tcp(query, host, port)
                    where += "/tcp"
            except dns.exception.Timeout:
                problems.append(f"{where} timed out")
                self._tell(f"{where} timed out after {wait:.2g} s", name, rdtype, attempt)
                continue
            except OSError as exc:
                problems.append(f"{where}: {_os_reason(exc)}")
                continue
            except dns.exception.DNSException as exc:
                problems.append(f"{where}: {exc}")
                continue
            except DnsError as exc:  # truncated even over TCP: asking again cannot help
                problems.append(f"{where}: {exc}")
                break
            try:
                return answer_from(name, rdtype, reply, where, latency, self.limits)
            except DnsError as exc:
                problems.append(str(exc))
                continue
        detail = "; ".join(dict.fromkeys(problems))
        raise DnsError(f"no answer for {name} {dns.rdatatype.to_text(rdtype)}: {detail}")

    def _tell(
        self, what: str, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, attempt: int
    ) -> None:
        """Report one timed-out try to ``on_timeout`` (as dig's ";; communications error")."""
        if self.on_timeout is not None:
            question = f"{name} {dns.rdatatype.to_text(rdtype)}"
            self.on_timeout(f"{what} ({question}, try {attempt + 1} of {self.attempts})")

    async def _tcp(self, query: dns.message.Message, host: str, port: int) -> dns.message.Message:
        reply = await dns.asyncquery.tcp(query, host, port=port, timeout=self.timeout)
        if reply.flags & dns.flags.TC:  # over 64 KB: there is no bigger channel to try
            raise DnsError("answer truncated even over TCP (RRset larger than 64 KB)")
        return reply

    async def _udp(
        self,
        query: dns.message.Message,
        host: str,
        port: int,
        wait: float,
        defer: asyncio.Event | None = None,
    ) -> tuple[dns.message.Message, float]:
        """One try over UDP with a fresh random ID: (the matching reply, its round trip).

        The timer starts when the datagram is sent (not while waiting for a turn), and a
        reply already received when it fires is still taken. A datagram that does not echo
        the question is dropped and the real reply still awaited. The turn is given back as
        soon as the reply is in: parsing it (held until ``defer`` is set, for speculative
        questions) happens outside, so a held reply never keeps another question waiting.
        """
        loop = asyncio.get_running_loop()
        if self._turns is None or loop is not self._loop:
            self._turns = asyncio.Semaphore(self.limits.inflight)
        async with self._turns:
            channel = await self._channel(host, port)
            qid = self._ids.randrange(65536)
            while qid in channel.pending:
                qid = self._ids.randrange(65536)
            query.id = qid
            wire = query.to_wire()
            qname = query.question[0].name.to_wire()
            assert qname is not None
            question = wire[12 : 16 + len(qname)].lower()
            assert channel.transport is not None
            channel.transport.sendto(wire)
            sent = self.clock.monotonic()
            deadline = sent + wait
            try:
                for _ in range(MAX_MISMATCHED):
                    future: asyncio.Future[bytes] = loop.create_future()
                    channel.pending[qid] = future
                    left = max(0.0, deadline - self.clock.monotonic())
                    timer = loop.call_later(left, _expire, future)
                    try:
                        data = await future
                    finally:
                        timer.cancel()
                    if _echoes(data, question):
                        break
                    # not the reply to this question (a spoofer's, a late one): keep waiting
                else:
                    raise dns.exception.Timeout()  # type: ignore[no-untyped-call]
            finally:
                channel.pending.pop(qid, None)
        latency = self.clock.monotonic() - sent
        if defer is not None:
            await defer.wait()
        return decode_reply(query, data), latency

    async def _channel(self, host: str, port: int) -> _Channel:
        """A socket to this server with room for another question (a new one if all are busy).

        Few questions per socket keep its receive buffer from overflowing in bulk use, and
        spread the questions over several source ports.
        """
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # another event loop (e.g. a new asyncio.run): new sockets
            self._pools = {}
            self._opening = {}
            self._loop = loop
        pool = self._pools.setdefault((host, port), [])
        for _ in range(8):  # bounded: wait for sockets others are opening, then open one
            pool[:] = [c for c in pool if c.transport is not None]
            for channel in pool:
                if len(channel.pending) < PER_SOCKET:
                    return channel
            opening = self._opening.get((host, port))
            if opening is None:
                break
            with contextlib.suppress(OSError):
                await asyncio.shield(opening)
        future: asyncio.Future[_Channel] = loop.create_future()
        self._opening[(host, port)] = future
        try:
            sock = socket.socket(
                socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM
            )
            try:
                sock.setblocking(False)
                sock.connect((host, port))  # UDP connect: no packet, just the peer address
            except OSError:
                sock.close()
                raise
            _, channel = await loop.create_datagram_endpoint(_Channel, sock=sock)
            self.sockets_opened += 1
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it themselves
            raise
        finally:
            if self._opening.get((host, port)) is future:
                del self._opening[(host, port)]
        pool.append(channel)
        future.set_result(channel)
        return channel

    def close(self) -> None:
        """Close the sockets (they are also replaced when the event loop changes)."""
        for pool in self._pools.values():
            for channel in pool:
                if channel.transport is not None:
                    channel.transport.close()
        self._pools = {}


def _echoes(data: bytes, question: bytes) -> bool:
    """A response (QR set) with one question, the one asked (case-insensitively): checked
    on the bytes, before the reply is parsed."""
    return (
        len(data) >= 12 + len(question)
        and data[2] & 0x80 != 0
        and data[4:6] == b"\x00\x01"
        and data[12 : 12 + len(question)].lower() == question
    )


def _expire(future: asyncio.Future[bytes]) -> None:
    """The retry timer: fires only if no reply has been handed over meanwhile."""
    if not future.done():
        future.set_exception(dns.exception.Timeout())  # type: ignore[no-untyped-call]


def _os_reason(exc: OSError) -> str:
    """'connection refused' rather than '[Errno 111] Connection refused'."""
    return (exc.strerror or str(exc)).lower()
