"""The RFC 3263 walk as a pure machine, driven step by step with canned answers.

No event loop and no DNS source: ``start`` and ``receive`` return the questions the walk
needs (``Ask``) and what it drops, releases or asks in the background; the answers are built
by the same code that reads live replies (``answer_from``, through ``zone_handler``).
"""

from __future__ import annotations

import dns.message
import dns.name
import dns.rdatatype
import pytest

from siplocate.dns.live import answer_from
from siplocate.dns.source import Answer, Origin, name_key
from siplocate.errors import DnsError, NotFound
from siplocate.limits import Limits
from siplocate.resolver.rfc3263 import (
    Ask,
    AskLater,
    Drop,
    Effect,
    Question,
    Release,
    Rfc3263,
)
from siplocate.resolver.rules import DnsMode, static_target
from siplocate.target import SipUri, Transport, Via
from siplocate.trace import Note, Query
from tests.unit.fakes import zone_handler

ZONE = """
$TTL 300
example.test. IN NAPTR 10 0 "s" "SIP+D2U" "" _sip._udp.example.test.
example.test. IN NAPTR 20 0 "s" "SIP+D2T" "" _sip._tcp.example.test.
_sip._udp.example.test. IN SRV 1 0 5060 pbx1.example.test.
_sip._udp.example.test. IN SRV 2 0 5060 pbx2.example.test.
_sip._tcp.example.test. IN SRV 1 0 5060 pbx1.example.test.
_sips._tcp.srv.test. IN SRV 1 0 5061 tls.srv.test.
_sip._udp.srv.test. IN SRV 1 0 5060 udp.srv.test.
tls.srv.test. IN A 192.0.2.61
udp.srv.test. IN A 192.0.2.60
pbx1.example.test. IN A 192.0.2.1
pbx1.example.test. IN AAAA 2001:db8::1
pbx2.example.test. IN A 192.0.2.2
plain.test. IN A 192.0.2.9
"""
HANDLER = zone_handler(ZONE)
RdType = dns.rdatatype.RdataType


def bare(name: dns.name.Name, rdtype: RdType) -> Answer:
    """The zone's answer without an additional section (every question must be asked)."""
    query = dns.message.make_query(name, rdtype)
    reply = dns.message.make_response(query)
    HANDLER(query, reply)
    reply.additional = []
    return answer_from(name, rdtype, reply, "fake", 0.0)


def full(name: dns.name.Name, rdtype: RdType) -> Answer:
    """The zone's answer as BIND gives it (additional section filled)."""
    query = dns.message.make_query(name, rdtype)
    reply = dns.message.make_response(query)
    HANDLER(query, reply)
    return answer_from(name, rdtype, reply, "fake", 0.0)


def asked(effects: list[Effect]) -> list[str]:
    return [f"{q.name.to_text()} {dns.rdatatype.to_text(q.rdtype)}" for q in questions(effects)]


def questions(effects: list[Effect]) -> list[Question]:
    return [e.question for e in effects if isinstance(e, Ask)]


def notes(walk: Rfc3263) -> str:
    return " | ".join(e.message for e in walk.trace if isinstance(e, Note))


def run(walk: Rfc3263, reply: object = bare, limit: int = 100) -> list[str]:
    """Answer every question, first asked first, until the walk ends; the questions asked."""
    log: list[str] = []
    pending = questions(walk.start(0.0))
    for _ in range(limit):
        if walk.done:
            return log
        q = pending.pop(0)
        log.append(f"{q.name.to_text()} {dns.rdatatype.to_text(q.rdtype)}")
        effects = walk.receive(q, reply(q.name, q.rdtype))  # type: ignore[operator]
        dropped = [e.question for e in effects if isinstance(e, Drop)]
        pending = [p for p in pending if p not in dropped] + questions(effects)
    raise AssertionError("the walk did not end")


def machine(
    uri: str,
    transports: tuple[Transport, ...] = (Transport.UDP, Transport.TCP, Transport.TLS),
    **kw: object,
) -> Rfc3263:
    return Rfc3263(SipUri.parse(uri), transports, kw.pop("limits", Limits()), **kw)  # type: ignore[arg-type]


def test_naptr_and_the_fallback_srv_names_are_asked_together_srv_speculatively() -> None:
    walk = machine("sip:example.test")
    effects = walk.start(0.0)
    assert asked(effects) == [
        "example.test. NAPTR",
        "_sips._tcp.example.test. SRV",
        "_sip._tcp.example.test. SRV",
        "_sip._udp.example.test. SRV",
    ]
    assert [q.speculative for q in questions(effects)] == [False, True, True, True]
    assert not walk.done


def test_usable_naptr_drops_the_srv_questions_it_makes_moot_and_releases_the_rest() -> None:
    walk = machine("sip:example.test")
    first = questions(walk.start(0.0))
    naptr = next(q for q in first if q.rdtype == dns.rdatatype.NAPTR)
    effects = walk.receive(naptr, bare(naptr.name, naptr.rdtype))
    dropped = [e.question.name.to_text() for e in effects if isinstance(e, Drop)]
    assert dropped == ["_sips._tcp.example.test."]  # both NAPTR targets are still wanted
    assert any(isinstance(e, Release) for e in effects)
    assert asked(effects) == []  # the kept SRV questions are already asked: not asked again
    assert "parallel SRV questions dropped (_sips._tcp.example.test)" in notes(walk)


def test_naptr_walk_to_the_end_orders_branches_by_naptr_order() -> None:
    walk = machine("sip:example.test")
    log = run(walk)
    assert [b.transport for b in walk.branches] == [Transport.UDP, Transport.TCP]
    assert walk.branches[0].via is Via.NAPTR
    udp = walk.branches[0]
    assert [h.name for h in udp.hosts] == ["pbx1.example.test", "pbx2.example.test"]
    assert udp.hosts[0].addresses == ("2001:db8::1", "192.0.2.1")  # IPv6 first, interleaved
    assert log.count("pbx1.example.test. A") == 1  # one question per name and type
    assert walk.ttl == 60  # the shortest: pbx2's negative AAAA answer (RFC 2308)


def test_a_question_two_parts_wait_for_is_asked_once_and_the_second_sees_it_shared() -> None:
    walk = machine("sip:example.test")
    run(walk)
    pbx1 = [
        q.source
        for q in walk.trace
        if isinstance(q, Query)
        and q.qname.to_text() == "pbx1.example.test."
        and q.qtype == dns.rdatatype.A
    ]
    assert pbx1 == ["network", "cache"]


def test_without_naptr_the_srv_names_are_used_in_fallback_order() -> None:
    walk = machine("sip:srv.test")
    log = run(walk)
    assert "srv.test. NAPTR" in log
    assert [b.transport for b in walk.branches] == [Transport.TLS, Transport.UDP]
    assert all(b.via is Via.SRV for b in walk.branches)
    assert walk.branches[0].hosts[0].port == 5061


def test_without_naptr_or_srv_the_domain_address_on_the_default_port() -> None:
    walk = machine("sip:plain.test")
    run(walk)
    [branch] = walk.branches
    assert (branch.transport, branch.via, branch.hosts[0].port) == (Transport.UDP, Via.A, 5060)
    assert branch.hosts[0].addresses == ("192.0.2.9",)
    assert "no NAPTR or SRV records: A/AAAA for plain.test with udp port 5060" in notes(walk)


def test_an_unanswered_srv_question_is_no_reason_to_fall_back_to_the_address() -> None:
    walk = machine("sip:plain.test")
    pending = questions(walk.start(0.0))
    for _ in range(20):
        if walk.done:
            break
        q = pending.pop(0)
        got: Answer | DnsError = bare(q.name, q.rdtype)
        if q.name.to_text() == "_sip._udp.plain.test.":
            got = DnsError("no answer for _sip._udp.plain.test: timed out")
        pending += questions(walk.receive(q, got))
    assert walk.done and walk.branches == []
    assert "no A/AAAA fallback (RFC 3263 §4.2)" in notes(walk)
    assert walk.errors and dns.name.from_text("_sip._udp.plain.test") in walk.unanswered


def test_an_ip_address_needs_no_dns() -> None:
    walk = machine("sip:192.0.2.7;transport=tcp")
    assert walk.start(0.0) == [Release()]
    assert walk.done
    [branch] = walk.branches
    assert (branch.transport, branch.via, branch.hosts[0].port) == (
        Transport.TCP,
        Via.LITERAL,
        5060,
    )


def test_an_explicit_port_asks_only_the_addresses() -> None:
    walk = machine("sip:pbx1.example.test:5070")
    log = run(walk)
    assert sorted(log) == ["pbx1.example.test. A", "pbx1.example.test. AAAA"]
    assert walk.branches[0].hosts[0].port == 5070


def test_a_given_transport_asks_its_srv_name_only() -> None:
    walk = machine("sip:example.test;transport=tcp")
    log = run(walk)
    assert log[0] == "_sip._tcp.example.test. SRV"
    assert "example.test. NAPTR" not in log
    assert [b.transport for b in walk.branches] == [Transport.TCP]


def test_a_transport_the_client_lacks_is_not_found_at_once() -> None:
    walk = machine("sip:example.test;transport=tcp", (Transport.UDP,))
    with pytest.raises(NotFound, match="does not support"):
        walk.start(0.0)


def test_sips_keeps_only_secure_services() -> None:
    walk = machine("sips:example.test")
    effects = walk.start(0.0)
    assert asked(effects) == ["example.test. NAPTR", "_sips._tcp.example.test. SRV"]
    run_rest(walk, effects)
    assert "sips: URI keeps only SIPS services, ignored" in notes(walk)
    [branch] = walk.branches  # no SIPS NAPTR or SRV: the domain itself, over TLS
    assert (branch.transport, branch.via, branch.hosts[0].port) == (Transport.TLS, Via.A, 5061)
    assert "example.test has no A/AAAA records" in walk.reason()


def run_rest(walk: Rfc3263, effects: list[Effect]) -> None:
    pending = questions(effects)
    for _ in range(50):
        if walk.done:
            return
        q = pending.pop(0)
        pending += questions(walk.receive(q, bare(q.name, q.rdtype)))


def test_dns_modes_start_where_they_say() -> None:
    srv = machine("sip:example.test", mode=DnsMode.SRV)
    assert "example.test. NAPTR" not in run(srv)
    a = machine("sip:example.test", mode=DnsMode.A)
    assert sorted(run(a)) == ["example.test. A", "example.test. AAAA"]
    static = machine(
        "sip:example.test",
        mode=DnsMode.STATIC,
        static=(
            static_target("192.0.2.5", Transport.UDP),
            static_target("192.0.2.6:5080", Transport.UDP),
        ),
    )
    assert static.start(0.0) == [Release()] and static.done
    assert [b.hosts[0].port for b in static.branches] == [5060, 5080]


def test_additional_data_answers_without_asking_and_the_missing_family_is_asked_later() -> None:
    walk = machine("sip:example.test")
    first = questions(walk.start(0.0))
    naptr = next(q for q in first if q.rdtype == dns.rdatatype.NAPTR)
    effects = walk.receive(naptr, full(naptr.name, naptr.rdtype))
    # udp's SRV and its targets' addresses came as glue; pbx2 has A only: AAAA in the background
    later = [e.question for e in effects if isinstance(e, AskLater)]
    assert [(q.name.to_text(), q.rdtype) for q in later] == [
        ("pbx2.example.test.", dns.rdatatype.AAAA)
    ]
    assert "AAAA for pbx2.example.test not known yet: asked in the background" in notes(walk)
    assert walk.background == later
    sources = {q.source for q in walk.trace if isinstance(q, Query) and q.qname != naptr.name}
    assert sources == {"additional"}


def test_a_fold_asks_nothing_in_the_background() -> None:
    glue = {
        (name_key(dns.name.from_text("pbx2.example.test")), dns.rdatatype.AAAA): bare(
            dns.name.from_text("pbx2.example.test"), dns.rdatatype.AAAA
        )
    }
    walk = machine("sip:example.test", glue=glue)
    first = questions(walk.start(0.0))
    naptr = next(q for q in first if q.rdtype == dns.rdatatype.NAPTR)
    effects = walk.receive(naptr, full(naptr.name, naptr.rdtype))
    assert not any(isinstance(e, AskLater) for e in effects)


def test_known_answers_are_used_without_asking() -> None:
    cache = {(name_key(n), t): full(n, t) for n, t in [
        (dns.name.from_text("example.test"), dns.rdatatype.NAPTR),
        (dns.name.from_text("_sip._udp.example.test"), dns.rdatatype.SRV),
        (dns.name.from_text("_sip._tcp.example.test"), dns.rdatatype.SRV),
    ]}  # fmt: skip
    walk = machine("sip:example.test", known=lambda n, t: cache.get((name_key(n), t)))
    log = run(walk)
    assert not [q for q in log if "NAPTR" in q or "SRV" in q]
    assert [b.transport for b in walk.branches] == [Transport.UDP, Transport.TCP]


# -- bounds (siplocate.Limits) ----------------------------------------------------------------


def cname_loop(name: dns.name.Name, rdtype: RdType) -> Answer:
    """Every name is a CNAME for the next one, and the reply stops there."""
    query = dns.message.make_query(name, rdtype)
    reply = dns.message.make_response(query)
    target = dns.name.Name((b"x" + name.labels[0], *name.labels[1:]))
    reply.answer.append(dns.rrset.from_text(name, 60, "IN", "CNAME", target.to_text()))
    return answer_from(name, rdtype, reply, "fake", 0.0)


def test_cname_chain_is_bounded() -> None:
    walk = machine("sip:a.test:5060", limits=Limits(cname_chain=3))
    log = run(walk, cname_loop)
    assert len(log) <= 2 * 4  # A and AAAA, each at most cname_chain + 1 hops
    assert "CNAME chain from" in notes(walk) and "longer than 3" in notes(walk)


def test_records_per_rrset_and_addresses_per_target_are_bounded() -> None:
    many = "\n".join(f"_sip._udp.big.test. IN SRV 1 0 5060 h{i}.big.test." for i in range(8))
    hosts = "\n".join(f"h{i}.big.test. IN A 192.0.2.{i + 1}" for i in range(8))
    addrs = "\n".join(f"h0.big.test. IN AAAA 2001:db8::{i + 1}" for i in range(8))
    handler = zone_handler(f"$TTL 60\n{many}\n{hosts}\n{addrs}\n")

    def reply(name: dns.name.Name, rdtype: RdType) -> Answer:
        query = dns.message.make_query(name, rdtype)
        r = dns.message.make_response(query)
        handler(query, r)
        r.additional = []
        return answer_from(name, rdtype, r, "fake", 0.0)

    walk = machine("sip:big.test", limits=Limits(rrset_records=3, addresses_per_target=4))
    run(walk, reply)
    [branch] = walk.branches
    assert len(branch.hosts) == 3
    assert len(branch.hosts[0].addresses) == 4
    assert "has 8 records: the 3 most preferred used" in notes(walk)
    assert "the first 4 used" in notes(walk)


def test_naptr_depth_and_naptr_budget_are_bounded() -> None:
    chain = "\n".join(f'n{i}.test. IN NAPTR 10 0 "" "SIP+D2U" "" n{i + 1}.test.' for i in range(6))
    handler = zone_handler(f"$TTL 60\n{chain}\n")

    def reply(name: dns.name.Name, rdtype: RdType) -> Answer:
        query = dns.message.make_query(name, rdtype)
        r = dns.message.make_response(query)
        handler(query, r)
        return answer_from(name, rdtype, r, "fake", 0.0)

    walk = machine("sip:n0.test", limits=Limits(naptr_depth=3))
    log = run(walk, reply)
    assert [q for q in log if q.endswith("NAPTR")] == [
        "n0.test. NAPTR",
        "n1.test. NAPTR",
        "n2.test. NAPTR",
    ]
    assert "non-terminal NAPTR chain deeper than 3" in notes(walk)
    budget = machine("sip:n0.test", limits=Limits(naptr_records=2))
    run(budget, reply)
    assert "NAPTR record(s) at n2.test not used" in notes(budget)


def test_the_trace_has_every_answer_in_the_order_it_came_and_each_decision() -> None:
    walk = machine("sip:srv.test")
    log = run(walk)
    queried = [
        f"{q.qname.to_text()} {dns.rdatatype.to_text(q.qtype)}"
        for q in walk.trace
        if isinstance(q, Query)
    ]
    assert queried == log  # every question asked is in the trace, in the order answered
    assert all(q.source == Origin.NETWORK.value for q in walk.trace if isinstance(q, Query))
    assert len(walk.answers) == len(log)


def test_answers_for_dropped_questions_are_ignored() -> None:
    walk = machine("sip:example.test")
    first = questions(walk.start(0.0))
    naptr = next(q for q in first if q.rdtype == dns.rdatatype.NAPTR)
    walk.receive(naptr, bare(naptr.name, naptr.rdtype))
    tls = next(q for q in first if q.name.to_text() == "_sips._tcp.example.test.")
    assert walk.receive(tls, bare(tls.name, tls.rdtype)) == []
    assert tls not in walk.pending()
