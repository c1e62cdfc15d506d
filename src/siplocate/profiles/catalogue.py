"""Client profiles: how each kind of SIP client locates a domain's servers, and where we know
it from.

A profile is a description, not code that asks DNS: ``compare.plan`` applies it to what the
resolver's one walk saw (``Resolver.observe``). The facts come from ``shared/CLIENTS.md``
(vendor guides in ``shared/seeds/``, each project's source, baresip measured here); where a
profile had to assume something CLIENTS.md does not say, ``assumed`` says what.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from ..target import Transport
from .modes import DnsMode

UDP, TCP, TLS = Transport.UDP, Transport.TCP, Transport.TLS


class Naptrs(StrEnum):
    """Which NAPTR records a client uses (when its DNS mode asks NAPTR at all)."""

    ALL = "all"  # every record it supports, in (order, preference): RFC 3263
    FIRST = "first"  # only the first record it supports, never the next one
    ONE_TRANSPORT = "one-transport"  # the first record's order and transport only
    NONE = "none"  # NAPTR never asked


class Ordering(StrEnum):
    """How a client orders SRV targets of equal priority."""

    RFC2782 = "rfc2782"  # weighted random draw, weight w first with probability w/S
    ZERO_LAST = "rfc2782-zero-last"  # RFC 2782 draw, but weight-0 records only after the rest
    ONE_DRAWN = "rfc2782-one"  # ONE record per priority, drawn as rand % (S+1) over the
    # answer's order (the first listed gets 1 extra); the rest of that priority dropped
    HASH = "hash"  # a fixed hash of the target and a per-client key: weights barely count
    ANSWER = "answer"  # as the DNS answer lists them (servers rotate RRsets)
    WEIGHT_DESC = "-weight"  # highest weight first, always: no load sharing at all


class Aaaa(StrEnum):
    """Whether and how a client uses a host's IPv6 addresses."""

    INTERLEAVE = "interleave"  # AAAA and A together, IPv6 first, alternating (RFC 8305)
    FIRST = "first"  # every AAAA address before the A addresses
    FALLBACK = "fallback"  # AAAA only when the host has no A record
    NO = "no"  # IPv4 only


@dataclass(frozen=True, slots=True)
class Profile:
    """How one kind of client goes from a SIP domain to the server it tries first, and on."""

    key: str  # the row name in `siplocate compare`
    title: str
    mode: DnsMode
    transports: tuple[Transport, ...]  # what it speaks; NAPTRs for others are skipped
    naptrs: Naptrs
    srv_order: tuple[Transport, ...]  # SRV names asked without NAPTR (or in srv mode), in order
    srv_all: bool  # uses every SRV name that has records (False: stops at the first)
    a_fallback: bool  # no SRV records at all -> the domain's A/AAAA on the default port
    a_after_srv: bool  # the domain's A/AAAA also tried after every SRV target failed
    ordering: Ordering
    aaaa: Aaaa  # how a host's IPv6 addresses are used
    failover: bool  # moves to the next target when one fails
    fails_over_on: str  # what makes it move on, and what it remembers
    sources: tuple[str, ...]
    assumed: str = ""  # what this profile assumes beyond its sources

    def as_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "title": self.title,
            "mode": self.mode.value,
            "transports": [t.value for t in self.transports],
            "naptrs": self.naptrs.value,
            "srv_order": [t.value for t in self.srv_order],
            "srv_all": self.srv_all,
            "a_fallback": self.a_fallback,
            "a_after_srv": self.a_after_srv,
            "ordering": self.ordering.value,
            "aaaa": self.aaaa.value,
            "failover": self.failover,
            "fails_over_on": self.fails_over_on,
            "sources": list(self.sources),
            "assumed": self.assumed,
        }


GRANDSTREAM_SOURCES = (
    "shared/CLIENTS.md: Grandstream",
    "shared/seeds/000 (Grandstream DNS-SRV guide: 'DNS Mode', 'DNS SRV Fail-over Mode')",
)

RFC3263 = Profile(
    key="rfc3263",
    title="RFC 3263 (siplocate)",
    mode=DnsMode.NAPTR,
    transports=(UDP, TCP, TLS),
    naptrs=Naptrs.ALL,
    srv_order=(TLS, TCP, UDP),
    srv_all=True,
    a_fallback=True,
    a_after_srv=False,
    ordering=Ordering.RFC2782,
    aaaa=Aaaa.INTERLEAVE,
    failover=True,
    fails_over_on="timeout, transport error or 503 (RFC 3263 §4.3); failed targets remembered",
    sources=("RFC 3263 §4.1/§4.2, RFC 2782", "src/siplocate/resolver/ (this project)"),
    assumed="non-terminal NAPTRs followed; NAPTR ties of order and preference go TLS, TCP, UDP",
)


def _grandstream(mode: DnsMode, title: str, naptrs: Naptrs, srv: bool, assumed: str) -> Profile:
    return Profile(
        key=f"grandstream-{mode.value}",
        title=title,
        mode=mode,
        transports=(UDP,),
        naptrs=naptrs,
        srv_order=(UDP,) if srv else (),
        srv_all=True,
        a_fallback=False,
        a_after_srv=False,
        ordering=Ordering.ANSWER,
        aaaa=Aaaa.NO,
        failover=mode is not DnsMode.A,
        fails_over_on="3 unanswered REGISTERs, then the next server; back to the primary at "
        "the next re-registration ('DNS SRV Fail-over Mode' Default); INVITE and BYE the same",
        sources=GRANDSTREAM_SOURCES,
        assumed="SIP transport UDP (the phone's default); "
        + assumed
        + "AAAA not used (the guide names only A queries)",
    )


GRANDSTREAM_A = _grandstream(
    DnsMode.A,
    "Grandstream, DNS Mode 'A Record' (default)",
    Naptrs.NONE,
    False,
    "the domain's first A record only, no failover in this mode; ",
)
GRANDSTREAM_SRV = _grandstream(
    DnsMode.SRV,
    "Grandstream, DNS Mode 'SRV'",
    Naptrs.NONE,
    True,
    "SRV asked for _sip._udp; no A fallback (the guide names none); within a priority "
    "answer order (the guide only says lowest priority number first); ",
)
GRANDSTREAM_NAPTR = _grandstream(
    DnsMode.NAPTR,
    "Grandstream, DNS Mode 'NAPTR/SRV'",
    Naptrs.ALL,
    True,
    "every UDP NAPTR in (order, preference), _sip._udp without NAPTR; within a priority "
    "answer order; ",
)
GRANDSTREAM_STATIC = Profile(
    key="grandstream-static",
    title="Grandstream, DNS Mode 'Use Configured IP'",
    mode=DnsMode.STATIC,
    transports=(UDP,),
    naptrs=Naptrs.NONE,
    srv_order=(),
    srv_all=False,
    a_fallback=False,
    a_after_srv=False,
    ordering=Ordering.ANSWER,
    aaaa=Aaaa.NO,
    failover=True,
    fails_over_on="3 tries without any response, then backup IP 1, then 2; back to the "
    "primary after 3 re-tries",
    sources=GRANDSTREAM_SOURCES,
    assumed="the configured IPs are not in DNS: this row only says DNS does not matter",
)
YEALINK = Profile(
    key="yealink-dns-srv",
    title="Yealink, transport 'DNS-SRV'",
    mode=DnsMode.NAPTR,
    transports=(UDP, TCP, TLS),
    naptrs=Naptrs.ALL,
    srv_order=(UDP,),
    srv_all=True,
    a_fallback=True,
    a_after_srv=False,
    ordering=Ordering.ANSWER,
    aaaa=Aaaa.NO,
    failover=True,
    fails_over_on="the next address on failure; REGISTER, INVITE and BYE all fail over",
    sources=("shared/CLIENTS.md: Yealink", "shared/seeds/002 (Yealink guide and packet captures)"),
    assumed="without NAPTR: _sip._udp, then the domain's A record; within a priority answer "
    "order (the guide: 'ordered by the priority'); NAPTR ties of order and preference in TLS, "
    "TCP, UDP order (the capture's answer listed D2T first); AAAA not used",
)
BARESIP = Profile(
    key="baresip",
    title="baresip 1.0 / libre",
    mode=DnsMode.NAPTR,
    transports=(UDP, TCP, TLS),
    naptrs=Naptrs.FIRST,
    srv_order=(TLS, TCP, UDP),
    srv_all=False,
    a_fallback=True,
    a_after_srv=False,
    ordering=Ordering.HASH,
    aaaa=Aaaa.INTERLEAVE,
    failover=True,
    fails_over_on="transport error, timeout (64*T1 = 32 s) or 503; no memory of failures: "
    "every refresh tries the dead primary first again (measured: backup after 56.9 s over UDP)",
    sources=(
        "shared/CLIENTS.md: baresip (measured here, and libre's source)",
        "libre 1.1 src/sip/request.c (naptr_handler, srv_handler), src/dns/rrlist.c (sidx), "
        "src/sip/dialog.c (sort key: hash of the From URI), src/hash/func.c (hash_fast)",
    ),
    assumed="within a priority: highest ((lookup3(target) & 0xfff) ^ (lookup3(AOR) >> 5)) "
    "+ weight first (profiles/libre.py, from libre 1.1's source and checked against the real "
    "baresip), so one account always takes the same server and many accounts spread about "
    "evenly; when the first NAPTR's SRV name has no records, the domain's A/AAAA on that "
    "transport's default port (srv_handler); NAPTR ties in TLS, TCP, UDP order (libre keeps "
    "the answer's order); a host's addresses, also hash-ordered, shown IPv6 first",
)
PJSUA = Profile(
    key="pjsua",
    title="PJSIP / pjsua",
    mode=DnsMode.SRV,
    transports=(UDP,),
    naptrs=Naptrs.NONE,
    srv_order=(UDP,),
    srv_all=True,
    a_fallback=True,
    a_after_srv=False,
    ordering=Ordering.ONE_DRAWN,
    aaaa=Aaaa.NO,
    failover=False,
    fails_over_on="the next address only on a transport send failure (TCP/TLS connect "
    "refused); a UDP timeout ends with 408 and no next target",
    sources=(
        "shared/CLIENTS.md: PJSIP (source)",
        "pjproject pjlib-util/src/pjlib-util/srv_resolver.c (one target elected per priority)",
    ),
    assumed="sip: URI with no transport: UDP only; AAAA not asked (IPv4 transport); the "
    "server rotates the SRV answer, so each record is listed first equally often (share "
    "(w + 1/n) / (S + 1)); at most 8 SRV targets and 8 addresses per host",
)
KAMAILIO = Profile(
    key="kamailio",
    title="Kamailio, default settings",
    mode=DnsMode.SRV,
    transports=(UDP, TCP, TLS),
    naptrs=Naptrs.NONE,
    srv_order=(UDP, TCP, TLS),
    srv_all=False,
    a_fallback=True,
    a_after_srv=False,
    ordering=Ordering.WEIGHT_DESC,
    aaaa=Aaaa.FALLBACK,
    failover=False,
    fails_over_on="use_dns_failover off: only the first target is ever used",
    sources=(
        "shared/CLIENTS.md: Kamailio (source: dns_try_naptr=0, dns_srv_lb=0, use_dns_failover=0)",
    ),
    assumed="equal weights keep the answer's order (shown as an even split); AAAA asked only "
    "when a host has no A record (dns_try_ipv6)",
)
SOFIA = Profile(
    key="sofia-sip",
    title="sofia-sip / FreeSWITCH",
    mode=DnsMode.NAPTR,
    transports=(UDP, TCP, TLS),
    naptrs=Naptrs.ONE_TRANSPORT,
    srv_order=(UDP, TCP, TLS),
    srv_all=True,
    a_fallback=True,
    a_after_srv=True,
    ordering=Ordering.ZERO_LAST,
    aaaa=Aaaa.FIRST,
    failover=True,
    fails_over_on="transport error, timeout (32 s) or 503; a failed target graylisted 600 s",
    sources=("shared/CLIENTS.md: sofia-sip / FreeSWITCH (source)",),
    assumed="SRV per local transport in UDP, TCP, TLS order (its transport list); a SIP NAPTR "
    "for an unsupported transport (which disables its SRV/A fallback) is not modelled",
)
SIPSIMPLE = Profile(
    key="sipsimple",
    title="python3-sipsimple",
    mode=DnsMode.NAPTR,
    transports=(TLS, TCP, UDP),
    naptrs=Naptrs.ALL,
    srv_order=(TLS, TCP, UDP),
    srv_all=True,
    a_fallback=True,
    a_after_srv=False,
    ordering=Ordering.WEIGHT_DESC,
    aaaa=Aaaa.NO,
    failover=True,
    fails_over_on="transport error moves on; on 408 it stops and retries in 15-40 s",
    sources=("shared/CLIENTS.md: python3-sipsimple (source)",),
    assumed="the caller's transport order taken as TLS, TCP, UDP; NAPTR ties in that order",
)

#: Every profile, in the order `siplocate compare` shows them.
PROFILES: tuple[Profile, ...] = (
    RFC3263,
    GRANDSTREAM_A,
    GRANDSTREAM_SRV,
    GRANDSTREAM_NAPTR,
    GRANDSTREAM_STATIC,
    YEALINK,
    BARESIP,
    PJSUA,
    KAMAILIO,
    SOFIA,
    SIPSIMPLE,
)

BY_KEY: dict[str, Profile] = {p.key: p for p in PROFILES}


def _uses_naptr(p: Profile) -> bool:
    return p.mode is DnsMode.NAPTR and p.naptrs is not Naptrs.NONE


#: `zone lint` codes whose harm depends on the kind of client -> which profiles it hits,
#: worked out from the profiles' own fields (so a profile added here is counted too).
LINT_AFFECTS: dict[str, Callable[[Profile], bool]] = {
    # A Record DNS mode: the domain's own A/AAAA is all it asks.
    "domain-no-address": lambda p: p.mode is DnsMode.A,
    # Clients that follow NAPTR find no server for that transport (baresip: none at all).
    "naptr-replacement-no-srv": _uses_naptr,
    # Clients that follow NAPTR only use the transports it lists.
    "srv-not-in-naptr": _uses_naptr,
    # Clients that follow NAPTR but not its empty-flag (non-terminal) records (CLIENTS.md).
    "naptr-non-terminal": lambda p: _uses_naptr(p) and p.key in ("baresip", "grandstream-naptr"),
    # Clients that do not draw by weight always take the same server of an all-zero tier.
    "srv-all-weights-zero": lambda p: (
        p.ordering in (Ordering.HASH, Ordering.ANSWER, Ordering.WEIGHT_DESC)
    ),
}


def affected(code: str) -> tuple[str, ...]:
    """The keys of the profiles a lint finding ``code`` matters to (empty: all alike)."""
    rule = LINT_AFFECTS.get(code)
    return tuple(p.key for p in PROFILES if rule(p)) if rule else ()
