"""Render a plan's records as a BIND zone file, nsupdate commands or JSON."""

from __future__ import annotations

from typing import Any

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype

from ..errors import BadInput
from .plan import Plan, RecordKey, RecordMap
from .plan import rname as hostmaster_name

FORMATS = ("bind", "nsupdate", "json")

# Types in the order a reader expects them: NAPTR first, then SRV, then addresses.
_TYPE_ORDER: dict[int, int] = {
    dns.rdatatype.SOA: 0,
    dns.rdatatype.NS: 1,
    dns.rdatatype.NAPTR: 2,
    dns.rdatatype.SRV: 3,
    dns.rdatatype.A: 4,
    dns.rdatatype.AAAA: 5,
}


def sorted_keys(records: RecordMap, domain: dns.name.Name) -> list[RecordKey]:
    """Keys with the domain's own RRsets first, then SRV names, then hosts, each stable."""

    def key(k: RecordKey) -> tuple[int, str, int]:
        name, rdtype = k
        if name == domain:
            return (0, "", _TYPE_ORDER.get(rdtype, 9))
        group = 1 if rdtype == dns.rdatatype.SRV else 2
        return (group, name.to_text().lower(), _TYPE_ORDER.get(rdtype, 9))

    return sorted(records, key=key)


def natural(text: str) -> list[tuple[int, int | str]]:
    """Sort key that orders numbers as numbers: NAPTR 50 before 100."""
    return [(0, int(t)) if t.isdigit() else (1, t) for t in text.split()]


def rdata_lines(records: RecordMap, domain: dns.name.Name) -> list[tuple[str, int, str, str]]:
    """(owner, ttl, type, rdata) with absolute names, in rendering order, rdata sorted."""
    out = []
    for name, rdtype in sorted_keys(records, domain):
        rds = records[(name, rdtype)]
        for text in sorted((r.to_text() for r in rds), key=natural):
            out.append((name.to_text(), rds.ttl, dns.rdatatype.to_text(rdtype), text))
    return out


def render_bind(plan: Plan) -> str:
    """A complete zone file (SOA, NS, then the plan's records) that passes named-checkzone."""
    if not plan.nameservers:
        raise BadInput(
            "the bind format writes a whole zone and needs its NS: add a [[nameserver]] table "
            '(host = "ns1", addresses = ["192.0.2.53"]), or use --format nsupdate'
        )
    domain = plan.domain
    mname = plan.nameservers[0].host
    rname = hostmaster_name(plan.hostmaster, domain)
    lines = [
        f"; SIP service {domain.to_text(omit_final_dot=True)}, rendered by siplocate from a plan",
        f"$ORIGIN {domain}",
        f"$TTL {plan.ttl}",
        f"@ {plan.ttl} IN SOA {mname} {rname} ( {plan.serial} 3600 600 1209600 {plan.ttl} )",
    ]
    lines += [f"@ {plan.ttl} IN NS {ns.host}" for ns in plan.nameservers]
    records = plan.records()
    for ns in plan.nameservers:
        for address in ns.addresses:
            kind = dns.rdatatype.A if ":" not in address else dns.rdatatype.AAAA
            empty = dns.rdataset.Rdataset(dns.rdataclass.IN, kind)
            rds = records.setdefault((ns.host, kind), empty)
            rds.add(dns.rdata.from_text(dns.rdataclass.IN, kind, address), plan.address_ttl)
    for owner, ttl, rdtype, text in rdata_lines(records, domain):
        name = dns.name.from_text(owner)
        rel = "@" if name == domain else name.relativize(domain).to_text()
        lines.append(f"{rel} {ttl} IN {rdtype} {text}")
    return "\n".join(lines) + "\n"


def render_nsupdate(plan: Plan) -> str:
    """nsupdate commands replacing every RRset the plan manages, sent as one update.

    Feed them to ``nsupdate -k KEYFILE`` after a ``server HOST PORT`` line; ``zone apply``
    does the same with a diff and prerequisites.
    """
    records = plan.records()
    lines = [f"zone {plan.domain}"]
    for name, rdtype in sorted(plan.managed_keys(), key=lambda k: (k[0].to_text(), k[1])):
        lines.append(f"update delete {name} {dns.rdatatype.to_text(rdtype)}")
    for owner, ttl, type_text, text in rdata_lines(records, plan.domain):
        lines.append(f"update add {owner} {ttl} IN {type_text} {text}")
    lines.append("send")
    return "\n".join(lines) + "\n"


def render_json(plan: Plan) -> list[dict[str, Any]]:
    """One object per record: name, type, ttl, data (absolute names)."""
    return [
        {"name": owner, "type": rdtype, "ttl": ttl, "data": text}
        for owner, ttl, rdtype, text in rdata_lines(plan.records(), plan.domain)
    ]
