"""Client profiles: how each kind of SIP client locates a domain's servers, and where we know
it from.

A profile is a description, not code that asks DNS: ``compare.plan`` applies it to what the
resolver's one walk saw (``Resolver.observe``). The facts come from ``shared/CLIENTS.md``
(vendor guides in ``shared/seeds/``), each project's source read at the code paths its
``sources`` name, vendor admin guides, and real clients run here (baresip, pjsua, Kamailio,
linphonec, sofia-sip's sip-options, sipsak: tests/integration/test_profiles_real.py), whose
corrections each profile's ``sources`` record; ``assumed`` says what a profile takes beyond
its sources, ``unknown`` what no source gives (the row shows it).
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
    LOCAL_TRANSPORT = "local-transport"  # ONE transport: its first local one (UDP) unless
    # another's first NAPTR has an order <= and a preference < it (sofia-sip nta); then that
    # transport's records of one order; any SIP NAPTR turns the SRV and A fallback off
    UNTIL_SIPS = "until-sips"  # in (order, preference), but once a SIPS+D2T record is used
    # only records of its order (Asterisk: only that service ends the search)
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
    """How one kind of client goes from a SIP domain to the server it tries first, and on.

    ``title`` names the client as its admin sees it, with the settings the profile assumes
    as the admin UI spells them. ``unknown`` lists what no source gives: the row shows it,
    and the fields model it the RFC 3263 way only so that the row can be drawn."""

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
    unknown: tuple[str, ...] = ()  # behaviours no source gives (shown in the row)
    naptr_flags: tuple[str, ...] = ("s", "a")  # NAPTR flags it follows ("s*": starting with s)
    empty_regexp_only: bool = False  # NAPTRs with a regexp skipped (OpenSIPS)
    a_first: bool = False  # the domain's A/AAAA first; SRV only when it has none (sipgo)
    priorities: bool = True  # False: SRV priority ignored, the answer's first record taken
    no_ipv6: str = ""  # why IPv6 addresses are not used (aaaa NO or FALLBACK)

    def follows_flags(self, flags: str) -> bool:
        """Whether it follows a NAPTR record with these flags."""
        f = flags.lower()
        return any(f == x or (x.endswith("*") and f.startswith(x[:-1])) for x in self.naptr_flags)

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
            "unknown": list(self.unknown),
            "naptr_flags": list(self.naptr_flags),
            "empty_regexp_only": self.empty_regexp_only,
            "a_first": self.a_first,
            "priorities": self.priorities,
            "no_ipv6": self.no_ipv6,
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
        no_ipv6="the guide names only A queries",
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
    no_ipv6="configured IPv4 addresses, no DNS",
)
YEALINK = Profile(
    key="yealink-dns-srv",
    title="Yealink (account Transport = DNS-NAPTR, server port 0)",
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
    no_ipv6="the guide and its captures show only A queries",
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
        "libre src/sip/request.c rr_naptr_handler: the service only, never the flags; "
        "measured here (tests/integration/test_profiles_real.py): on a NAPTR order with TCP "
        "flags 'se' preference 10 and UDP 's' 20 baresip registered over TCP (the profile "
        "had skipped the 'se' record and predicted UDP)",
    ),
    assumed="within a priority: highest ((lookup3(target) & 0xfff) ^ (lookup3(AOR) >> 5)) "
    "+ weight first (profiles/libre.py, from libre 1.1's source and checked against the real "
    "baresip), so one account always takes the same server and many accounts spread about "
    "evenly; when the first NAPTR's SRV name has no records, the domain's A/AAAA on that "
    "transport's default port (srv_handler); NAPTR ties in TLS, TCP, UDP order (libre keeps "
    "the answer's order); a host's addresses, also hash-ordered, shown IPv6 first",
    naptr_flags=("*",),
)
PJSUA = Profile(
    key="pjsua",
    title="PJSIP pjsua (registrar sip:DOMAIN, no ;transport)",
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
    no_ipv6="pjsua's default transport is UDP over IPv4, so AAAA is never asked",
)
KAMAILIO = Profile(
    key="kamailio",
    title="Kamailio (dns_try_naptr = 0, dns_srv_lb = 0, use_dns_failover = 0: the defaults)",
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
    no_ipv6="dns_try_ipv6: AAAA asked only for a host with no A record",
)
FREESWITCH = Profile(
    key="freeswitch",
    title="FreeSWITCH mod_sofia / sofia-sip nta (IPv4 SIP profile, UDP and TCP)",
    mode=DnsMode.NAPTR,
    transports=(UDP, TCP, TLS),
    naptrs=Naptrs.LOCAL_TRANSPORT,
    srv_order=(UDP, TCP, TLS),
    srv_all=True,
    a_fallback=True,
    a_after_srv=True,
    ordering=Ordering.ZERO_LAST,
    aaaa=Aaaa.NO,
    failover=True,
    fails_over_on="transport error, timeout (32 s) or 503; a failed target graylisted 600 s "
    "(its SRV priority raised in the cache: nta.c outgoing_graylist)",
    sources=(
        "shared/CLIENTS.md: sofia-sip / FreeSWITCH (source)",
        "freeswitch/sofia-sip libsofia-sip-ua/nta/nta.c: outgoing_resolve (no IPv6 "
        "transport: nta_res_ip4_only), outgoing_answer_naptr (flags by their first letter "
        "'s' or 'a'; any SIP NAPTR turns SRV and A off), outgoing_naptr_tport (the first "
        "local transport unless another's NAPTR has order <= and preference <), "
        "outgoing_make_srv_query, outgoing_answer_srv (weighted pick, weight 0 kept last), "
        "outgoing_try_another",
        "measured here with sofia-sip-bin 1.12.11 sip-options (nta), "
        "tests/integration/test_profiles_real.py: it corrected CLIENTS.md's reading (one "
        "transport: the first NAPTR's) three times: on a TLS-first NAPTR (TLS order 10, UDP "
        "20, both preference 0) and on TCP-first (TCP 10, UDP 20) it stays on UDP, its first "
        "transport ('tport not used' in its log); on a NAPTR order with TCP 'se' preference "
        "10 and UDP 's' 20 it goes TCP, 'se' read as 's'; it asks A only, no AAAA",
    ),
    assumed="local transports in UDP, TCP, TLS order (a SIP profile binds UDP then TCP); "
    "SRV per local transport in that order",
    naptr_flags=("s*", "a*"),
    no_ipv6="an IPv4 SIP profile has no IPv6 transport, so nta asks A only (nta_res_ip4_only)",
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
    no_ipv6="its resolver asks no AAAA at all",
)

ASTERISK_SOURCES = (
    "asterisk res/res_pjsip/pjsip_resolver.c: sip_resolve (NAPTR, _sips._tcp, _sip._tcp, "
    "_sip._udp, AAAA and A of the domain asked in parallel), sip_resolve_callback (SRV "
    "targets: AAAA then A; the domain's A/AAAA only without NAPTR/SRV), "
    "sip_resolve_handle_naptr (flag exactly 's', service sip+d2u/sip+d2t/sips+d2t, "
    "transport available)",
    "asterisk main/dns_srv.c dns_srv_sort (weight 0 at the head, then a running-sum draw), "
    "main/dns_naptr.c (NAPTRs sorted by order, preference)",
    "asterisk res/res_pjsip_outbound_registration.c (408 or 503: ast_sip_failover_request, "
    "res/res_pjsip.c: the next resolved address)",
    "asterisk#1927 (maintainer: registration, qualify and calls resolve and fail over "
    "independently; RFC 3263 with a preference for IPv6)",
)
ASTERISK_ASSUMED = (
    "in sip_resolve_callback the result of the sip+d2u and sip+d2t tests is overwritten by "
    "the sips+d2t test, so only a SIPS+D2T record limits it to one NAPTR order (Naptrs "
    "until-sips); dns_srv_sort's lowest-priority search skips priority 0 when other "
    "priorities follow it (`!cur_priority`), not modelled; at most PJSIP_MAX_RESOLVED_"
    "ADDRESSES addresses"
)
ASTERISK = Profile(
    key="asterisk",
    title="Asterisk res_pjsip (UDP, TCP and TLS transports configured)",
    mode=DnsMode.NAPTR,
    transports=(UDP, TCP, TLS),
    naptrs=Naptrs.UNTIL_SIPS,
    srv_order=(TLS, TCP, UDP),
    srv_all=True,
    a_fallback=True,
    a_after_srv=False,
    ordering=Ordering.RFC2782,
    aaaa=Aaaa.FIRST,
    failover=True,
    fails_over_on="408 (timeout) or 503: the next resolved address; each request resolves "
    "and fails over on its own, so registration, qualify and calls may use different "
    "servers (asterisk#1927)",
    sources=ASTERISK_SOURCES,
    assumed="every transport configured in pjsip.conf (a NAPTR or SRV name for a transport "
    "with no transport section is skipped); " + ASTERISK_ASSUMED,
    naptr_flags=("s",),
)
FREEPBX = Profile(
    key="freepbx",
    title="FreePBX (chan_pjsip trunk: SIP Server a host name, SIP Server Port left blank)",
    mode=DnsMode.NAPTR,
    transports=(UDP,),
    naptrs=Naptrs.UNTIL_SIPS,
    srv_order=(UDP,),
    srv_all=True,
    a_fallback=True,
    a_after_srv=False,
    ordering=Ordering.RFC2782,
    aaaa=Aaaa.FIRST,
    failover=True,
    fails_over_on=ASTERISK.fails_over_on,
    sources=(
        "shared/seeds/003 (SIP SRV glossary: FreePBX honours SRV only when the trunk is a "
        "host name with the port left blank)",
        *ASTERISK_SOURCES,
    ),
    assumed="FreePBX runs Asterisk's res_pjsip, so the asterisk profile applies; only the "
    "UDP transport enabled (a NAPTR or SRV for TCP/TLS is skipped as unavailable); with a "
    "port filled in: the host's A/AAAA only; " + ASTERISK_ASSUMED,
    naptr_flags=("s",),
)
OPENSIPS = Profile(
    key="opensips",
    title="OpenSIPS (dns_try_naptr = yes, dns_try_ipv6 = no, disable_dns_failover = no, "
    "disable_dns_blacklist = yes: the defaults)",
    mode=DnsMode.NAPTR,
    transports=(UDP, TCP, TLS),
    naptrs=Naptrs.ALL,
    srv_order=(UDP,),
    srv_all=False,
    a_fallback=True,
    a_after_srv=False,
    ordering=Ordering.RFC2782,
    aaaa=Aaaa.NO,
    failover=True,
    fails_over_on="503 or timeout: the next SRV target, then the next NAPTR (tm DNS "
    "failover); the DNS blacklist is off by default, so nothing remembers a dead target",
    sources=(
        "OpenSIPS resolve.c: dns_try_naptr=1, dns_try_ipv6=0, disable_dns_blacklist=1; "
        "filter_and_sort_naptr (flag exactly one 's', empty regexp, sip+d2u/t/s, sips+d2t/s, "
        "sorted by order and preference); sip_resolvehost (every NAPTR in turn; without "
        "NAPTR the SRV of the default transport, UDP for sip:, then A); sort_srvs "
        "(weight-0 records first, running-sum draw)",
        "OpenSIPS proxy.c disable_dns_failover=0; modules/tm/uac.c (DNS failover)",
        "OpenSIPS#925 (maintainer: full DNS-based failover on 503 and timeout)",
    ),
    assumed="UDP, TCP and TLS listeners (filter_and_sort_naptr does not check listeners); "
    "sort_srvs draws rand * sum truncated, so the first record of a priority gets one "
    "extra unit (w + 1)/S and the last one less: even over a rotating answer (shown as "
    "RFC 2782)",
    naptr_flags=("s",),
    empty_regexp_only=True,
    no_ipv6="dns_try_ipv6 is off by default: AAAA is never asked",
)
KAMAILIO_SRV_LB = Profile(
    key="kamailio-dns-srv-lb",
    title="Kamailio (dns_srv_lb = 1 on a stock build without DNS_SRV_LB, as Debian's 5.6)",
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
    fails_over_on=KAMAILIO.fails_over_on,
    sources=(
        "shared/CLIENTS.md: Kamailio (source)",
        "shared/seeds/003 (SIP SRV glossary: 'add dns_srv_lb = 1 for weighted balancing')",
        "kamailio src/core/dns_cache.c fix_dns_flags: dns_srv_lb sets DNS_SRV_RR_LB (SRV "
        "weight based load balancing) only when compiled with -DDNS_SRV_LB, otherwise it "
        "warns and ignores the setting",
        "measured here (tests/integration/test_profiles_real.py): Debian's kamailio 5.6.3 "
        "lists no DNS_SRV_LB among its compile flags (kamailio -I), and a proxy with "
        "dns_srv_lb = 1 relayed 24 of 24 requests on weights 1:3 to the weight-3 server: "
        "it corrected this profile's first reading (an RFC 2782 draw, the seed's claim)",
    ),
    assumed="the kamailio profile, as the setting is ignored; a build with -DDNS_SRV_LB "
    "would draw by weight (not measured here); " + KAMAILIO.assumed,
    no_ipv6=KAMAILIO.no_ipv6,
)
LINPHONE = Profile(
    key="linphone",
    title="Linphone / belle-sip (proxy sip:DOMAIN, transport UDP)",
    mode=DnsMode.SRV,
    transports=(UDP,),
    naptrs=Naptrs.NONE,
    srv_order=(UDP,),
    srv_all=True,
    a_fallback=True,
    a_after_srv=False,
    ordering=Ordering.RFC2782,
    aaaa=Aaaa.FIRST,
    failover=False,
    fails_over_on="the next address only on a connection error, which UDP never gives "
    "(linphone-desktop#300); over TCP/TLS a refused connection moves on "
    "(linphone-android#1344)",
    sources=(
        "belle-sip src/belle_sip_resolver.c: belle_sip_stack_resolve (SRV of the URI's "
        "transport and the domain's A/AAAA in parallel; A used only without SRV), "
        "srv_select_by_weight / srv_elect_one (weight 0 first, rand % sum), "
        "belle_sip_aaaa_timeout_after_a_received = 3000 ms, dual_resolver_context_notify "
        "(AAAA list then A list, not interleaved)",
        "belle-sip src/sipstack.c: ai_family_preference = AF_INET6 by default",
        "BelledonneCommunications/linphone-desktop#300, linphone-android#1344 (no failover "
        "over UDP)",
    ),
    assumed="no NAPTR (belle-sip asks none); srv_elect_one picks with rand % S and "
    "'<= running sum', so the first listed record gets one extra unit and the last one "
    "less: even over a rotating answer (shown as RFC 2782); a single-record priority "
    "after a multi-record one is dropped by srv_select_by_weight, not modelled",
)
POLYCOM = Profile(
    key="polycom",
    title="Polycom UC Software (reg.1.server.1.transport = DNSnaptr, port 0 or blank)",
    mode=DnsMode.NAPTR,
    transports=(UDP, TCP, TLS),
    naptrs=Naptrs.ALL,
    srv_order=(TLS, TCP, UDP),
    srv_all=True,
    a_fallback=True,
    a_after_srv=False,
    ordering=Ordering.RFC2782,
    aaaa=Aaaa.NO,
    failover=True,
    fails_over_on="the next server on a TCP connect or send failure, or a UDP timeout or "
    "ICMP error; INVITE tries every server in turn",
    sources=(
        "shared/seeds/003 (SIP SRV glossary: modern Polycom firmware honours SRV)",
        "Polycom SoundPoint IP / SoundStation IP Administrator Guide (SIP 2.x-3.x), "
        "'voIpProt.server.x.transport' (DNSnaptr: NAPTR then SRV as per RFC 3263; a port "
        "or an IP address: UDP, A only), 'DNS SIP Server Name Resolution' (A records when "
        "NAPTR and SRV give nothing, port 5060), 'Behavior When the Primary Server "
        "Connection Fails'",
    ),
    assumed="modelled as RFC 3263 where the guide says 'as per RFC 3263'",
    unknown=(
        "which SRV names it asks without NAPTR",
        "order within an SRV priority",
        "IPv6 (guide names only A records)",
    ),
    no_ipv6="IPv6 use unknown (the guide names only A records): shown as IPv4 only",
)
SNOM = Profile(
    key="snom",
    title="Snom (account: Registrar a host name, no port)",
    mode=DnsMode.SRV,
    transports=(UDP,),
    naptrs=Naptrs.NONE,
    srv_order=(UDP,),
    srv_all=True,
    a_fallback=True,
    a_after_srv=False,
    ordering=Ordering.RFC2782,
    aaaa=Aaaa.NO,
    failover=True,
    fails_over_on="unknown (no source says)",
    sources=("shared/seeds/003 (SIP SRV glossary: modern Snom firmware honours SRV)",),
    assumed="honours SRV for its transport, UDP by default; everything else modelled as "
    "RFC 3263/2782 only so that the row can be drawn",
    unknown=(
        "NAPTR use",
        "SRV names beyond _sip._udp",
        "order within an SRV priority",
        "A fallback",
        "IPv6",
        "failover triggers",
    ),
    no_ipv6="IPv6 use unknown (no source says): shown as IPv4 only",
)
CISCO_CUCM = Profile(
    key="cisco-cucm",
    title="Cisco CUCM (SIP trunk: Destination Address is an SRV = checked)",
    mode=DnsMode.SRV,
    transports=(TCP,),
    naptrs=Naptrs.NONE,
    srv_order=(TCP,),
    srv_all=True,
    a_fallback=False,
    a_after_srv=False,
    ordering=Ordering.RFC2782,
    aaaa=Aaaa.NO,
    failover=True,
    fails_over_on="unknown (no source says)",
    sources=(
        "shared/seeds/003 (SIP SRV glossary: CUCM needs SRV explicitly enabled on the SIP trunk)",
        "Cisco CUCM SIP Trunk Configuration, field 'Destination Address is an SRV' (Cisco "
        "HCS / VOSS SIP trunk field descriptions)",
    ),
    assumed="the trunk's SIP Trunk Security Profile sends over TCP (the default Non Secure "
    "SIP Trunk Profile's Outgoing Transport Type); unchecked, the Destination Address is "
    "an A record or an IP (not shown as a row)",
    unknown=(
        "order within an SRV priority",
        "A fallback",
        "IPv6 with Destination Address IPv6 set",
        "failover triggers",
    ),
    no_ipv6="IPv6 needs the separate 'Destination Address IPv6' field",
)
CISCO_TELEPRESENCE = Profile(
    key="cisco-telepresence",
    title='Cisco TelePresence EX60/EX90 (reads NAPTR flag "se" as SIP external)',
    mode=DnsMode.NAPTR,
    transports=(UDP, TCP, TLS),
    naptrs=Naptrs.ALL,
    srv_order=(TLS, TCP, UDP),
    srv_all=True,
    a_fallback=True,
    a_after_srv=False,
    ordering=Ordering.RFC2782,
    aaaa=Aaaa.NO,
    failover=True,
    fails_over_on="unknown (no source says)",
    sources=(
        "shared/seeds/004 (FreeSWITCH wiki, DNS records: EX60/EX90 read flag 's' as "
        "internal and 'se' as SIP external, setting the Contact connectivity flag)",
    ),
    assumed='follows "se" NAPTRs as it does "s" ones (the seed: the flag only sets the '
    "Contact's connectivity flag); otherwise RFC 3263",
    unknown=(
        "SRV names without NAPTR",
        "order within an SRV priority",
        "IPv6",
        "failover triggers",
    ),
    naptr_flags=("s", "se", "a"),
    no_ipv6="IPv6 use unknown (no source says): shown as IPv4 only",
)
TEAMS = Profile(
    key="teams-direct-routing",
    title="Microsoft Teams Direct Routing (Teams to SBC: the SBC FQDN and SIP port as configured)",
    mode=DnsMode.A,
    transports=(TLS,),
    naptrs=Naptrs.NONE,
    srv_order=(),
    srv_all=False,
    a_fallback=False,
    a_after_srv=False,
    ordering=Ordering.ANSWER,
    aaaa=Aaaa.NO,
    failover=False,
    fails_over_on="no DNS failover is documented: another SBC is tried by voice routing "
    "policy, not through DNS",
    sources=(
        "shared/seeds/003 (SIP SRV glossary: Teams Direct Routing hard-codes its SBC "
        "FQDN+port and does not consult SRV at the Teams-to-SBC hop)",
        "Microsoft Learn, 'Direct Routing - SIP protocol' (TLS to the SBC FQDN and port; "
        "SIPS URIs not supported)",
    ),
    assumed="the SBC FQDN is the domain compared, on TLS port 5061 (the port is whatever "
    "is configured); the carrier side of the SBC does its own SRV",
    unknown=("whether it tries a second A record", "IPv6"),
    no_ipv6="IPv6 use unknown (no source says): shown as IPv4 only",
)
THREECX = Profile(
    key="3cx",
    title="3CX (trunk: Auto Discovery on, port left blank, Transport Protocol 'Any')",
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
    fails_over_on="unknown (no source says)",
    sources=(
        "shared/seeds/003 (SIP SRV glossary: 3CX honours SRV only when the trunk is a host "
        "name with the port left blank)",
        "3CX docs, 'SIP Trunk DNS Record Resolution Mechanism': Auto Discovery off means a "
        "port and A/AAAA only; on, the port comes from SRV, 5060 when there is none; "
        "Transport Protocol 'Any' looks up NAPTR, a fixed transport skips NAPTR",
    ),
    assumed="NAPTR, then SRV, then A/AAAA as RFC 3263 describes it",
    unknown=(
        "SRV names asked without NAPTR",
        "order within an SRV priority",
        "IPv6 order (IP Mode setting)",
        "failover triggers",
    ),
)
AVAYA = Profile(
    key="avaya-aura",
    title="Avaya Aura Session Manager (SIP entity: an FQDN, SRV)",
    mode=DnsMode.SRV,
    transports=(UDP, TCP, TLS),
    naptrs=Naptrs.NONE,
    srv_order=(TLS, TCP, UDP),
    srv_all=True,
    a_fallback=True,
    a_after_srv=False,
    ordering=Ordering.RFC2782,
    aaaa=Aaaa.NO,
    failover=True,
    fails_over_on="unknown (no source says)",
    sources=("shared/seeds/003 (SIP SRV glossary: Avaya Aura supports SRV, rarely used)",),
    assumed="modelled as RFC 3263 SRV lookup only so that the row can be drawn",
    unknown=(
        "NAPTR use",
        "SRV names asked",
        "order within an SRV priority",
        "A fallback",
        "IPv6",
        "failover triggers",
    ),
    no_ipv6="IPv6 use unknown (no source says): shown as IPv4 only",
)
SIPGO = Profile(
    key="sipgo",
    title="sipgo (Go; LiveKit, Telegraf inputs.sip) with default options",
    mode=DnsMode.SRV,
    transports=(UDP,),
    naptrs=Naptrs.NONE,
    srv_order=(UDP,),
    srv_all=False,
    a_fallback=False,
    a_after_srv=False,
    ordering=Ordering.ZERO_LAST,
    aaaa=Aaaa.FALLBACK,
    failover=False,
    fails_over_on="one address only: the domain's first IPv4 address, or the first SRV "
    "record's first address; nothing else is tried",
    sources=(
        "emiago/sipgo sip/transport_layer.go: resolveAddr (A/AAAA first, SRV only when that "
        "fails, unless WithTransportLayerDNSLookupSRV), resolveAddrIP (dnsPreferIP = 1: "
        "IPv4 first), resolveAddrSRV (net.LookupSRV, then only addrs[0] and its ips[0])",
        "Go net.LookupSRV: sorted by priority, randomized by weight (weight 0 only after "
        "the weighted ones)",
    ),
    assumed="a sip: URI without ;transport goes over UDP (_sip._udp); Telegraf inputs.sip "
    "always gives a port, so it never asks SRV; an SRV target's ips[0] is taken as IPv4",
    a_first=True,
    no_ipv6="dnsPreferIP = 1: the first IPv4 address when there is one",
)
SIPSAK = Profile(
    key="sipsak",
    title="sipsak 0.9.8 (-s sip:user@DOMAIN, built with c-ares)",
    mode=DnsMode.SRV,
    transports=(UDP, TCP),
    naptrs=Naptrs.NONE,
    srv_order=(TCP, UDP),
    srv_all=False,
    a_fallback=True,
    a_after_srv=False,
    ordering=Ordering.ANSWER,
    aaaa=Aaaa.NO,
    failover=False,
    fails_over_on="one address: the first SRV record of the answer; nothing else is tried",
    sources=(
        "nils-ohlmeier/sipsak src/helper.c: getsrvadr (_sip._tls, then _sip._tcp, then "
        "_sip._udp; the first name with a record wins), srv_ares/cares_callback (the first "
        "SRV record of the answer, no sort by priority or weight; its A from the additional "
        "section or gethostbyname), getaddress (IPv4 only)",
        "measured here (Debian sipsak 0.9.8.1): the dead priority-10 and the live "
        "priority-20 target of one answer each taken first in turn",
    ),
    assumed="it first asks _sip._tls, a name RFC 3263 does not use (not looked at here); "
    "the domain's A record on port 5060 when no SRV name has records",
    priorities=False,
    no_ipv6="gethostbyname: IPv4 only",
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
    KAMAILIO_SRV_LB,
    FREESWITCH,
    SIPSIMPLE,
    ASTERISK,
    FREEPBX,
    OPENSIPS,
    LINPHONE,
    POLYCOM,
    SNOM,
    CISCO_CUCM,
    CISCO_TELEPRESENCE,
    TEAMS,
    THREECX,
    AVAYA,
    SIPGO,
    SIPSAK,
)

BY_KEY: dict[str, Profile] = {p.key: p for p in PROFILES}

#: Old keys still accepted by `compare -p` (the row shows the profile's own key).
ALIASES: dict[str, str] = {"sofia-sip": "freeswitch"}


def find(key: str) -> Profile | None:
    """The profile of ``key`` or of one of its old names, or None."""
    return BY_KEY.get(ALIASES.get(key, key))


def _uses_naptr(p: Profile) -> bool:
    return p.mode is DnsMode.NAPTR and p.naptrs is not Naptrs.NONE


def _reads_srv(p: Profile) -> bool:
    """Asks SRV at all: not the A Record and static modes (nor Teams' fixed FQDN)."""
    return p.mode in (DnsMode.SRV, DnsMode.NAPTR) and bool(p.srv_order or _uses_naptr(p))


#: `zone lint` codes whose harm depends on the kind of client -> which profiles it hits,
#: worked out from the profiles' own fields (so a profile added here is counted too). Only
#: profiles that read the records concerned are named.
LINT_AFFECTS: dict[str, Callable[[Profile], bool]] = {
    # A Record DNS mode: the domain's own A/AAAA is all it asks.
    "domain-no-address": lambda p: p.mode is DnsMode.A,
    # Clients that follow NAPTR find no server for that transport (baresip: none at all).
    "naptr-replacement-no-srv": _uses_naptr,
    # Clients that follow NAPTR only use the transports it lists.
    "srv-not-in-naptr": _uses_naptr,
    # Clients that follow NAPTR but not its empty-flag (non-terminal) records (CLIENTS.md).
    "naptr-non-terminal": lambda p: _uses_naptr(p) and p.key in ("baresip", "grandstream-naptr"),
    # Clients that follow NAPTR but discard flags like "se" (all but those that read them).
    "naptr-flag-extra": lambda p: _uses_naptr(p) and not p.follows_flags("se"),
    # Clients that read SRV but do not draw by weight always take the same server of an
    # all-zero tier.
    "srv-all-weights-zero": lambda p: (
        _reads_srv(p) and p.ordering in (Ordering.HASH, Ordering.ANSWER, Ordering.WEIGHT_DESC)
    ),
}


def affected(code: str) -> tuple[str, ...]:
    """The keys of the profiles a lint finding ``code`` matters to (empty: all alike)."""
    rule = LINT_AFFECTS.get(code)
    return tuple(p.key for p in PROFILES if rule(p)) if rule else ()
