"""Answers from real DNS servers: dnspython messages over our own asyncio UDP sockets.

EDNS with a 1232-byte buffer (so BIND fills the additional section), TCP retry on
truncation, a per-try timeout, and the next nameserver on timeout, SERVFAIL or REFUSED.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import random
import socket
import time
from typing import Any

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver

from ..errors import BadInput, DnsError
from .source import Answer, Origin, negative_ttl, pick_answer

EDNS_PAYLOAD = 1232  # DNS flag day 2020: fits any path without fragmentation


def parse_nameserver(text: str) -> tuple[str, int]:
    """``addr``, ``addr:port``, ``[v6]:port``, ``addr#port`` (dig/nsupdate) or a host name
    (resolved once by the system resolver) -> (address, port); BadInput with the right spelling.
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
        glued = _is_ip(head) and tail.isdigit()  # ::1:5300 is an address AND ::1 port 5300
        if glued or not _is_ip(raw):
            hint = f"; did you mean [{head}]:{tail}?" if glued else ""
            also = f" (or [{raw}] for that address, port 53)" if glued and _is_ip(raw) else ""
            raise BadInput(f"nameserver {text!r}: ambiguous or not an IPv6 address{hint}{also}")
    port = 53
    if port_text or raw.endswith((":", "#")):
        if not port_text.isdigit():
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


#: Set by the resolver inside a speculative question's task: the reply is held as bytes and
#: parsed only once the gate opens, so a reply that another reply's additional section made
#: moot can be dropped without the cost of parsing it.
PARSE_GATE: contextvars.ContextVar[asyncio.Event | None] = contextvars.ContextVar(
    "siplocate_parse_gate", default=None
)
PER_SOCKET = 16  # questions in flight per UDP socket before another socket is opened


class _Channel(asyncio.DatagramProtocol):
    """A connected UDP socket to one nameserver, shared by the questions in flight on it.

    Replies are matched by ID and handed over as bytes (parsing happens in the asker's
    task). Being connected, it hears ICMP port unreachable at once (ECONNREFUSED).
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


class LiveSource:
    """A DnsSource asking real nameservers, in order, over UDP (TCP when truncated)."""

    def __init__(
        self,
        nameservers: list[str] | None = None,
        *,
        timeout: float = 1.5,
        attempts: int = 2,
        edns: bool = True,
    ) -> None:
        self.servers = (
            [parse_nameserver(ns) for ns in nameservers] if nameservers else system_nameservers()
        )
        if not self.servers:
            raise BadInput("no nameservers configured")
        self.timeout = timeout
        self.attempts = attempts
        self.edns = edns
        self._pools: dict[tuple[str, int], list[_Channel]] = {}
        self._opening: dict[tuple[str, int], asyncio.Future[_Channel]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ids = random.SystemRandom()

    async def answer(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> Answer:
        query = dns.message.make_query(
            name, rdtype, use_edns=0 if self.edns else False, payload=EDNS_PAYLOAD
        )
        problems: list[str] = []
        for _ in range(self.attempts):
            for host, port in self.servers:
                where = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
                start = time.perf_counter()
                try:
                    reply = await self._udp(query, host, port)
                    if reply.flags & dns.flags.TC:  # truncated: the whole answer over TCP
                        reply = await dns.asyncquery.tcp(
                            query, host, port=port, timeout=self.timeout
                        )
                        where += "/tcp"
                except dns.exception.Timeout:
                    problems.append(f"{where} timed out")
                    continue
                except OSError as exc:
                    problems.append(f"{where}: {exc.strerror or exc}")
                    continue
                except dns.exception.DNSException as exc:
                    problems.append(f"{where}: {exc}")
                    continue
                latency = time.perf_counter() - start
                rcode = reply.rcode()
                if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                    problems.append(f"{where} answered {dns.rcode.to_text(rcode)}")
                    continue
                rrset, chain = pick_answer(name, rdtype, list(reply.answer))
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
                )
        detail = "; ".join(dict.fromkeys(problems))
        raise DnsError(f"no answer for {name} {dns.rdatatype.to_text(rdtype)}: {detail}")

    async def _udp(self, query: dns.message.Message, host: str, port: int) -> dns.message.Message:
        """One question over UDP with a random ID; the reply must match the question."""
        channel = await self._channel(host, port)
        qid = self._ids.randrange(65536)
        while qid in channel.pending:
            qid = self._ids.randrange(65536)
        query.id = qid
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        channel.pending[qid] = future
        try:
            assert channel.transport is not None
            channel.transport.sendto(query.to_wire())
            wire = await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            raise dns.exception.Timeout() from None  # type: ignore[no-untyped-call]
        finally:
            channel.pending.pop(qid, None)
        gate = PARSE_GATE.get()
        if gate is not None:
            await gate.wait()
        reply = dns.message.from_wire(wire, ignore_trailing=True)
        if not query.is_response(reply):
            raise dns.exception.FormError(  # type: ignore[no-untyped-call]
                "reply does not match the question"
            )
        return reply

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
