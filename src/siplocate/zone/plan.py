"""A plan: the few facts that describe a SIP service, turned into its NAPTR/SRV/A/AAAA records.

The plan is TOML (read with tomllib). Every transport fact (NAPTR service, SRV prefix, default
port) comes from ``siplocate.target.TRANSPORTS``; the plan only says which transports, in which
order, and which servers with which priority and weight.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.exception
import dns.ipv6
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype

from ..errors import BadInput
from ..localfile import read_text
from ..target import TRANSPORTS, Transport

#: (owner, type) -> RRset data: the one record model the render, lint and apply code share.
RecordKey = tuple[dns.name.Name, dns.rdatatype.RdataType]
RecordMap = dict[RecordKey, dns.rdataset.Rdataset]
#: The same as text, keyed by (absolute owner text, type): (TTL, record texts in first-seen
#: order) per RRset. Renderers use it: no Name hashing or rdata building per record.
TextMap = dict[tuple[str, dns.rdatatype.RdataType], tuple[int, dict[str, None]]]

NAPTR = dns.rdatatype.NAPTR
SRV = dns.rdatatype.SRV
A = dns.rdatatype.A
AAAA = dns.rdatatype.AAAA


@dataclass(frozen=True, slots=True)
class Offer:
    """One transport the service offers and its NAPTR order/preference."""

    transport: Transport
    order: int
    preference: int = 0


@dataclass(frozen=True, slots=True)
class Server:
    """One SIP server: its name, addresses, SRV priority/weight and per-transport ports."""

    host: dns.name.Name
    addresses: tuple[str, ...] = ()
    priority: int = 0
    weight: int = 1
    ports: dict[Transport, int] = field(default_factory=dict)
    transports: tuple[Transport, ...] = ()  # empty: every transport the plan offers

    def port(self, transport: Transport) -> int:
        return self.ports.get(transport, transport.default_port)

    def offers(self, transport: Transport) -> bool:
        return not self.transports or transport in self.transports


@dataclass(frozen=True, slots=True)
class NameServer:
    """An NS of the zone (only used by the BIND rendering, which needs SOA and NS)."""

    host: dns.name.Name
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Plan:
    """A SIP service: domain, TTLs, offered transports and servers."""

    domain: dns.name.Name
    ttl: int
    offers: tuple[Offer, ...]
    servers: tuple[Server, ...]
    address_ttl: int
    naptr: bool = True
    addresses: tuple[str, ...] = ()  # A/AAAA at the domain itself, for "A Record" mode phones
    nameservers: tuple[NameServer, ...] = ()
    hostmaster: str = ""
    serial: int = 1

    @property
    def transports(self) -> tuple[Transport, ...]:
        return tuple(o.transport for o in self.offers)

    def srv_name(self, transport: Transport) -> dns.name.Name:
        return dns.name.from_text(TRANSPORTS[transport].srv_prefix, self.domain)

    def record_texts(self) -> TextMap:
        """The NAPTR, SRV, A and AAAA records the plan asks for, as (ttl, presentation texts)
        per RRset: built from strings only, so huge plans render in linear, small time."""
        out: TextMap = {}

        def add(name: str, rdtype: dns.rdatatype.RdataType, ttl: int, text: str) -> None:
            entry = out.get((name, rdtype))
            if entry is None:
                entry = out[(name, rdtype)] = (ttl, {})
            entry[1][text] = None  # a dict keeps first-seen order and drops duplicates

        domain = self.domain.to_text()
        host_texts = [s.host.to_text() for s in self.servers]  # once each, not per transport

        for offer in self.offers:
            info = TRANSPORTS[offer.transport]
            srv_name = self.srv_name(offer.transport).to_text()
            servers = [
                (s, text) for s, text in zip(self.servers, host_texts, strict=True)
                if s.offers(offer.transport)
            ]  # fmt: skip
            if not servers:
                continue
            if self.naptr:
                add(
                    domain,
                    NAPTR,
                    self.ttl,
                    f'{offer.order} {offer.preference} "s" "{info.naptr_service}" "" {srv_name}',
                )
            for s, text in servers:
                add(
                    srv_name,
                    SRV,
                    self.ttl,
                    f"{s.priority} {s.weight} {s.port(offer.transport)} {text}",
                )
        hosts: list[tuple[str, tuple[str, ...]]] = [(domain, self.addresses)]
        hosts += [(text, s.addresses) for s, text in zip(self.servers, host_texts, strict=True)]
        for host, addresses in hosts:
            for address in addresses:
                if ":" in address:  # as dnspython writes it (e.g. ::ffff:192.0.2.1)
                    add(
                        host,
                        AAAA,
                        self.address_ttl,
                        dns.ipv6.inet_ntoa(dns.ipv6.inet_aton(address)),
                    )
                else:
                    add(host, A, self.address_ttl, address)
        return out

    def records(self) -> RecordMap:
        """``record_texts()`` as RRsets (SOA, NS and the name servers' own addresses are
        the zone's business: only ``render_bind`` writes them)."""
        out: RecordMap = {}
        for (owner, rdtype), (ttl, texts) in self.record_texts().items():
            name = dns.name.from_text(owner)
            rds = out[(name, rdtype)] = dns.rdataset.Rdataset(dns.rdataclass.IN, rdtype)
            for text in texts:
                rds.add(dns.rdata.from_text(dns.rdataclass.IN, rdtype, text), ttl)
        return out

    def managed_key_texts(self) -> list[tuple[str, dns.rdatatype.RdataType]]:
        """``managed_keys()`` as sorted (owner text, type): what ``render_nsupdate`` deletes."""
        keys = [(self.srv_name(t).to_text(), SRV) for t in TRANSPORTS]
        if self.naptr:
            keys.append((self.domain.to_text(), NAPTR))
        suffix = "." + self.domain.to_text().lower()
        hosts = [
            text
            for text in (s.host.to_text() for s in self.servers)
            if text.lower().endswith(suffix)
        ]  # fmt: skip  (servers are in the domain or outside without addresses)
        if self.addresses:
            hosts.append(self.domain.to_text())
        keys += [(host, rdtype) for host in hosts for rdtype in (A, AAAA)]
        return sorted(keys)

    def managed_keys(self) -> set[RecordKey]:
        """Every RRset the plan owns: what ``apply`` may create, replace or delete.

        NAPTR at the domain, SRV for every known transport (so dropping a transport
        deletes its SRV), and A/AAAA of the domain (when the plan sets addresses) and of
        every in-domain server. Nothing else in the zone is touched.
        """
        keys: set[RecordKey] = {(self.domain, NAPTR)} if self.naptr else set()
        keys |= {(self.srv_name(t), SRV) for t in TRANSPORTS}
        hosts = [s.host for s in self.servers if s.host.is_subdomain(self.domain)]
        if self.addresses:
            hosts.append(self.domain)
        for host in hosts:
            keys |= {(host, A), (host, AAAA)}
        return keys


# --------------------------------------------------------------------------- loading

#: A plan is a few dozen lines; 4 MB leaves room for thousands of servers and no more.
MAX_PLAN_BYTES = 4 * 1024 * 1024


def load_plan(path: Path | str) -> Plan:
    """Read and check a plan file; BadInput naming the file and the problem."""
    path = Path(path)
    text = read_text(path, "plan", MAX_PLAN_BYTES)
    try:
        return plan_from_dict(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"plan {path}: {exc}") from None
    except RecursionError:  # tomllib recurses once per level of nested arrays/inline tables
        raise BadInput(f"plan {path}: arrays or tables nested too deeply") from None
    except BadInput as exc:
        raise BadInput(f"plan {path}: {exc}") from None


def plan_from_dict(data: dict[str, Any]) -> Plan:
    """Build a Plan from parsed TOML (a dict); BadInput on anything missing or malformed."""
    known = {
        "domain", "ttl", "address_ttl", "naptr", "addresses", "transports", "server",
        "nameserver", "hostmaster", "serial",
    }  # fmt: skip
    unknown = set(data) - known
    if unknown:
        raise BadInput(
            f"unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})"
        )
    domain_text = _get(data, "domain", str)
    if not domain_text:
        raise BadInput("'domain' is required, e.g. domain = \"example.com\"")
    domain = _name(domain_text, dns.name.root)
    ttl = _int(data.get("ttl", 300), "ttl", 0, 2**31 - 1)
    address_ttl = _int(data.get("address_ttl", ttl), "address_ttl", 0, 2**31 - 1)
    offers = _offers(data.get("transports"))
    servers_raw = data.get("server", [])
    if not isinstance(servers_raw, list) or not servers_raw:
        raise BadInput("at least one [[server]] table is required")
    servers = tuple(_server(s, domain, i) for i, s in enumerate(servers_raw, 1))
    dupes = {str(n) for n, count in Counter(s.host for s in servers).items() if count > 1}
    if dupes:
        raise BadInput(f"server(s) listed twice: {', '.join(sorted(dupes))}")
    offered = {o.transport for o in offers}
    for s in servers:
        extra = [t.value for t in s.transports if t not in offered]
        if extra:
            raise BadInput(f"server {s.host}: transport(s) {', '.join(extra)} not in [transports]")
    nameservers = tuple(
        NameServer(_name(_get(n, "host", str), domain), _addresses(n.get("addresses", []), "ns"))
        for n in _tables(data.get("nameserver", []), "nameserver")
    )
    for ns in nameservers:
        if ns.addresses and not ns.host.is_subdomain(domain):
            raise BadInput(
                f"nameserver {ns.host} is outside {domain} but has addresses: its A/AAAA "
                "belong to its own zone; drop them here"
            )
    return Plan(
        domain=domain,
        ttl=ttl,
        offers=offers,
        servers=servers,
        address_ttl=address_ttl,
        naptr=bool(data.get("naptr", True)),
        addresses=_addresses(data.get("addresses", []), "addresses"),
        nameservers=nameservers,
        hostmaster=rname(_get(data, "hostmaster", str), domain).to_text(),
        serial=_int(data.get("serial", 1), "serial", 0, 2**32 - 1),
    )


def _offers(raw: object) -> tuple[Offer, ...]:
    if raw is None:
        raise BadInput(
            "[transports] is required, e.g. tls = { order = 50 }, tcp = { order = 90 }, "
            "udp = { order = 100 }"
        )
    if not isinstance(raw, dict) or not raw:
        raise BadInput("[transports] must map transport names to { order = N, preference = N }")
    offers = []
    for name, spec in raw.items():
        transport = Transport.parse(name)
        if isinstance(spec, int) and not isinstance(spec, bool):
            spec = {"order": spec}
        if not isinstance(spec, dict):
            raise BadInput(f"transports.{name} must be {{ order = N, preference = N }}")
        offers.append(
            Offer(
                transport,
                _int(spec.get("order", 10), f"transports.{name}.order", 0, 65535),
                _int(spec.get("preference", 0), f"transports.{name}.preference", 0, 65535),
            )
        )
    offers.sort(key=lambda o: (o.order, o.preference))
    return tuple(offers)


def _server(raw: object, domain: dns.name.Name, index: int) -> Server:
    if not isinstance(raw, dict):
        raise BadInput(f"server #{index} must be a table")
    where = f"server #{index}"
    unknown = set(raw) - {"host", "addresses", "priority", "weight", "ports", "transports"}
    if unknown:
        raise BadInput(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    host = _name(_get(raw, "host", str) or "", domain, where)
    addresses = _addresses(raw.get("addresses", []), f"{where} addresses")
    if host.is_subdomain(domain) and not addresses:
        raise BadInput(
            f"{where} ({host}) is inside {domain} but has no addresses: SRV targets need A/AAAA"
        )
    if addresses and not host.is_subdomain(domain):
        raise BadInput(
            f"{where} ({host}) is outside {domain} but has addresses: an update of {domain} "
            "cannot write them (NOTZONE); publish them in that host's own zone and drop "
            "addresses here"
        )
    ports_raw = raw.get("ports", {})
    if not isinstance(ports_raw, dict):
        raise BadInput(f"{where}: ports must be a table, e.g. ports = {{ tls = 5061 }}")
    ports = {
        Transport.parse(k): _int(v, f"{where} ports.{k}", 1, 65535) for k, v in ports_raw.items()
    }
    transports_raw = raw.get("transports", [])
    if not isinstance(transports_raw, list):
        raise BadInput(f'{where}: transports must be a list, e.g. ["udp", "tcp"]')
    return Server(
        host=host,
        addresses=addresses,
        priority=_int(raw.get("priority", 0), f"{where} priority", 0, 65535),
        weight=_int(raw.get("weight", 1), f"{where} weight", 0, 65535),
        ports=ports,
        transports=tuple(Transport.parse(str(t)) for t in transports_raw),
    )


def _tables(raw: object, what: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
        raise BadInput(f"[[{what}]] must be an array of tables")
    return raw


def _get(data: dict[str, Any], key: str, kind: type[str]) -> str:
    value = data.get(key, "")
    if not isinstance(value, kind):
        raise BadInput(f"'{key}' must be a string")
    return value


def _int(value: object, what: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise BadInput(f"{what} must be an integer from {low} to {high}, not {_short(value)}")
    return value


def _short(value: object) -> str:
    """A value for an error message: scalars as repr, containers by type (never deep)."""
    if isinstance(value, (list, dict)):
        return f"a {'list' if isinstance(value, list) else 'table'}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def rname(text: str, domain: dns.name.Name) -> dns.name.Name:
    """The SOA RNAME for a hostmaster: ``john.doe@example.com`` -> ``john\\.doe.example.com.``.

    RFC 1035 §8: the mailbox's local part is ONE label, so its dots are escaped; without ``@``
    the text is a DNS name (relative to the domain unless it ends in a dot).
    """
    if not text:
        return dns.name.from_text("hostmaster", domain)
    local, at, mail_domain = text.rpartition("@")
    if not at:
        return _name(text, domain, "hostmaster")
    if not local or "@" in local or not all(33 <= ord(c) < 127 for c in local):
        raise BadInput(f"hostmaster {_short(text)}: not a mail address (local@domain)")
    if len(local) > 63:
        raise BadInput(f"hostmaster {_short(text)}: the part before @ is over 63 characters")
    host = _name(mail_domain.rstrip(".") + ".", dns.name.root, "hostmaster")
    try:
        return dns.name.Name((local.encode(), *host.labels))
    except dns.exception.DNSException as exc:
        raise BadInput(f"hostmaster {_short(text)}: {exc}") from None


def _name(text: str, origin: dns.name.Name, where: str = "domain") -> dns.name.Name:
    """A host name relative to ``origin`` unless it ends with a dot."""
    if not text:
        raise BadInput(f"{where}: missing host name")
    try:
        return dns.name.from_text(text, origin)
    except dns.exception.DNSException as exc:
        raise BadInput(f"{where}: invalid name {_short(text)}: {exc}") from None


def _addresses(raw: object, what: str) -> tuple[str, ...]:
    if not isinstance(raw, list):
        raise BadInput(f"{what} must be a list of IP addresses")
    out = []
    for item in raw:
        try:
            out.append(str(ipaddress.ip_address(str(item))))
        except ValueError:
            raise BadInput(f"{what}: {_short(item)} is not an IP address") from None
    return tuple(out)
