"""Answers from real DNS servers with dnspython's async I/O.

EDNS with a 1232-byte buffer (so BIND fills the additional section), TCP retry on
truncation, a per-try timeout, and the next nameserver on timeout, SERVFAIL or REFUSED.
"""

from __future__ import annotations

import time

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
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address -> (address, port)."""
    import ipaddress

    raw = text.strip()
    host, port = raw, 53
    if raw.startswith("["):
        end = raw.find("]")
        if end < 0:
            raise BadInput(f"nameserver {text!r}: unterminated [")
        host, rest = raw[1:end], raw[end + 1 :]
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise BadInput(f"nameserver {text!r}: expected [ADDRESS]:PORT")
            port = int(rest[1:])
    elif raw.count(":") == 1:
        host, _, port_text = raw.partition(":")
        if not port_text.isdigit():
            raise BadInput(f"nameserver {text!r}: port {port_text!r} is not a number")
        port = int(port_text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise BadInput(f"nameserver {text!r}: give an IP address, not a name") from None
    if not 0 < port < 65536:
        raise BadInput(f"nameserver {text!r}: port out of range")
    return host, port


def system_nameservers() -> list[tuple[str, int]]:
    """Nameservers from /etc/resolv.conf."""
    try:
        conf = dns.resolver.Resolver(configure=True)
    except dns.exception.DNSException as exc:
        raise DnsError(f"cannot read /etc/resolv.conf: {exc}") from None
    return [(str(ns), int(conf.port)) for ns in conf.nameservers]


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
                    reply = await dns.asyncquery.udp(
                        query, host, port=port, timeout=self.timeout, ignore_unexpected=True
                    )
                    if reply.flags & dns.flags.TC:
                        reply = await dns.asyncquery.tcp(
                            query, host, port=port, timeout=self.timeout
                        )
                except dns.exception.Timeout:
                    problems.append(f"{where} timed out")
                    continue
                except (OSError, dns.exception.DNSException) as exc:
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
