"""Render a plan's records as a BIND zone file, nsupdate commands or JSON."""

from __future__ import annotations

from typing import Any

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype

from ..errors import BadInput
from .plan import Plan, TextMap
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


def sorted_keys(
    records: TextMap, domain: dns.name.Name
) -> list[tuple[str, dns.rdatatype.RdataType]]:
    """Keys with the domain's own RRsets first, then SRV names, then hosts, each stable."""
    apex = domain.to_text()

    def key(k: tuple[str, dns.rdatatype.RdataType]) -> tuple[int, str, int]:
        name, rdtype = k
        if name == apex:
            return (0, "", _TYPE_ORDER.get(rdtype, 9))
        group = 1 if rdtype == dns.rdatatype.SRV else 2
        return (group, name.lower(), _TYPE_ORDER.get(rdtype, 9))

    return sorted(records, key=key)


def natural(text: str) -> list[tuple[int, int | str]]:
    """Sort key that orders numbers as numbers: NAPTR 50 before 100."""
    return [(0, int(t)) if t.isascii() and t.isdigit() else (1, t) for t in text.split()]


def rdata_lines(records: TextMap, domain: dns.name.Name) -> list[tuple[str, int, str, str]]:
    """(owner, ttl, type, rdata) with absolute names, in rendering order, rdata sorted."""
    out = []
    kinds = {t: dns.rdatatype.to_text(dns.rdatatype.RdataType(t)) for t in _TYPE_ORDER}
    for owner, rdtype in sorted_keys(records, domain):
        ttl, texts = records[(owner, rdtype)]
        kind = kinds.get(rdtype) or dns.rdatatype.to_text(rdtype)
        for text in sorted(texts, key=natural):
            out.append((owner, ttl, kind, text))
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
    records = plan.record_texts()
    for ns in plan.nameservers:
        for address in ns.addresses:
            kind = dns.rdatatype.A if ":" not in address else dns.rdatatype.AAAA
            _, texts = records.setdefault((ns.host.to_text(), kind), (plan.address_ttl, {}))
            texts[address] = None
    apex = domain.to_text()
    suffix = "." + apex
    for owner, ttl, rdtype, text in rdata_lines(records, domain):
        rel = (
            "@"
            if owner == apex
            else owner.removesuffix(suffix)
            if owner.endswith(suffix)
            else owner
        )
        lines.append(f"{rel} {ttl} IN {rdtype} {text}")
    return "\n".join(lines) + "\n"


def render_nsupdate(plan: Plan) -> str:
    """nsupdate commands replacing every RRset the plan manages, sent as one update.

    Feed them to ``nsupdate -k KEYFILE`` after a ``server HOST PORT`` line; ``zone apply``
    does the same with a diff and prerequisites.
    """
    records = plan.record_texts()
    lines = [f"zone {plan.domain}"]
    for name, rdtype in plan.managed_key_texts():
        lines.append(f"update delete {name} {dns.rdatatype.to_text(rdtype)}")
    for owner, ttl, type_text, text in rdata_lines(records, plan.domain):
        lines.append(f"update add {owner} {ttl} IN {type_text} {text}")
    lines.append("send")
    return "\n".join(lines) + "\n"


def render_json(plan: Plan) -> list[dict[str, Any]]:
    """One object per record: name, type, ttl, data (absolute names)."""
    return [
        {"name": owner, "type": rdtype, "ttl": ttl, "data": text}
        for owner, ttl, rdtype, text in rdata_lines(plan.record_texts(), plan.domain)
    ]
