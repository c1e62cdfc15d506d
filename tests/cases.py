"""The RFC 3263 §4.1/§4.2 cases, shared by the zone-file and the live (BIND9) tests.

Each case: target, client transports, and either the exact target list expected
(transport, address, port, via) or the error class and a fragment of its message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from siplocate.errors import NotFound


@dataclass(frozen=True)
class Case:
    id: str
    target: str
    expect: tuple[tuple[str, str, int, str], ...] = ()
    transports: str = "udp,tcp,tls"
    error: type[Exception] | None = None
    error_text: str = ""
    notes: tuple[str, ...] = field(default=())  # fragments that must appear in trace notes


CASES = [
    Case(
        "numeric-ipv4",
        "sip:alice@192.0.2.1",
        (("udp", "192.0.2.1", 5060, "literal"),),
        notes=("no DNS",),
    ),
    Case(
        "numeric-ipv6-port-transport",
        "sip:[2001:db8::5]:5070;transport=tcp",
        (("tcp", "2001:db8::5", 5070, "literal"),),
    ),
    Case("numeric-sips", "sips:192.0.2.1", (("tls", "192.0.2.1", 5061, "literal"),)),
    Case(
        "explicit-port-a-only",
        "sip:srv.cases.test:5080",
        (("udp", "192.0.2.60", 5080, "a"),),
        notes=("explicit port",),
    ),
    Case(
        "transport-param-srv",
        "sip:srv.cases.test;transport=tcp",
        (("tcp", "192.0.2.62", 5060, "srv"),),
    ),
    Case(
        "transport-tls-uses-sips-srv",
        "sip:srv.cases.test;transport=tls",
        (("tls", "192.0.2.61", 5061, "srv"),),
    ),
    Case(
        "transport-param-no-srv-a",
        "sip:a-only.cases.test;transport=tcp",
        (("tcp", "2001:db8::70", 5060, "a"), ("tcp", "192.0.2.70", 5060, "a")),
    ),
    Case(
        "maddr-replaces-host",
        "sip:bob@elsewhere.invalid;maddr=a-only.cases.test",
        (("udp", "2001:db8::70", 5060, "a"), ("udp", "192.0.2.70", 5060, "a")),
        notes=("maddr",),
    ),
    Case(
        "naptr-s-all-transports",
        "sip:naptr.cases.test",
        (
            ("tls", "2001:db8::11", 5061, "naptr"),
            ("tls", "192.0.2.11", 5061, "naptr"),
            ("tcp", "2001:db8::11", 5060, "naptr"),
            ("tcp", "192.0.2.11", 5060, "naptr"),
            ("udp", "2001:db8::11", 5060, "naptr"),
            ("udp", "192.0.2.11", 5060, "naptr"),
            ("udp", "192.0.2.12", 5060, "naptr"),
        ),
    ),
    Case(
        "naptr-client-lacks-tls",
        "sip:naptr.cases.test",
        (
            ("tcp", "2001:db8::11", 5060, "naptr"),
            ("tcp", "192.0.2.11", 5060, "naptr"),
            ("udp", "2001:db8::11", 5060, "naptr"),
            ("udp", "192.0.2.11", 5060, "naptr"),
            ("udp", "192.0.2.12", 5060, "naptr"),
        ),
        transports="udp,tcp",
        notes=("does not support tls",),
    ),
    Case(
        "naptr-sips-uri-keeps-sips-only",
        "sips:naptr.cases.test",
        (("tls", "2001:db8::11", 5061, "naptr"), ("tls", "192.0.2.11", 5061, "naptr")),
        notes=("keeps only SIPS",),
    ),
    Case(
        "naptr-tie-goes-tcp-before-udp",
        "sip:tie.cases.test",
        (("tcp", "192.0.2.140", 5060, "naptr"), ("udp", "192.0.2.140", 5060, "naptr")),
    ),
    Case("naptr-a-flag", "sip:naptr-a.cases.test", (("tcp", "192.0.2.21", 5060, "naptr"),)),
    Case(
        "naptr-empty-flag-chain",
        "sip:naptr-chain.cases.test",
        (("udp", "192.0.2.31", 5070, "naptr"),),
        notes=("empty flag",),
    ),
    Case(
        "naptr-none-usable-falls-back-to-srv",
        "sip:unusable.cases.test",
        (("udp", "192.0.2.41", 5060, "srv"),),
        notes=("not a SIP service", "unknown SIP service", "unknown flags", "treated as no NAPTR"),
    ),
    Case(
        "naptr-only-unsupported-transport",
        "sip:tls-only.cases.test",
        (("udp", "192.0.2.51", 5060, "srv"),),
        transports="udp,tcp",
        notes=("treated as no NAPTR",),
    ),
    Case(
        "naptr-case-insensitive", "sip:tls-only.cases.test", (("tls", "192.0.2.51", 5061, "naptr"),)
    ),
    Case(
        "srv-fallback-order",
        "sip:srv.cases.test",
        (
            ("tls", "192.0.2.61", 5061, "srv"),
            ("tcp", "192.0.2.62", 5060, "srv"),
            ("udp", "192.0.2.63", 5060, "srv"),
        ),
    ),
    Case(
        "srv-fallback-supported-only",
        "sip:srv.cases.test",
        (("udp", "192.0.2.63", 5060, "srv"),),
        transports="udp",
    ),
    Case(
        "srv-sips-uri-only-sips-tcp", "sips:srv.cases.test", (("tls", "192.0.2.61", 5061, "srv"),)
    ),
    Case(
        "a-fallback-sip",
        "sip:a-only.cases.test",
        (("udp", "2001:db8::70", 5060, "a"), ("udp", "192.0.2.70", 5060, "a")),
    ),
    Case(
        "a-fallback-sips",
        "sips:a-only.cases.test",
        (("tls", "2001:db8::70", 5061, "a"), ("tls", "192.0.2.70", 5061, "a")),
    ),
    Case(
        "srv-dot-not-offered-no-a-fallback",
        "sip:dot.cases.test",
        error=NotFound,
        error_text="not offered",
        notes=("lone target",),
    ),
    Case(
        "srv-target-cname-followed",
        "sip:cname.cases.test",
        (("udp", "192.0.2.91", 5060, "srv"),),
        notes=("CNAME",),
    ),
    Case(
        "srv-target-without-address-skipped",
        "sip:noaddr.cases.test",
        (("udp", "192.0.2.101", 5060, "srv"),),
        notes=("no A or AAAA",),
    ),
    Case(
        "all-targets-without-address",
        "sip:allnoaddr.cases.test",
        error=NotFound,
        error_text="no address",
    ),
    Case("nxdomain", "sip:nope.cases.test", error=NotFound, error_text="NXDOMAIN"),
    Case(
        "dual-stack-interleaved",
        "sip:dual.cases.test",
        (
            ("udp", "2001:db8::d1", 5060, "srv"),
            ("udp", "192.0.2.111", 5060, "srv"),
            ("udp", "2001:db8::d2", 5060, "srv"),
        ),
    ),
    Case(
        "duplicates-keep-first-place",
        "sip:dup.cases.test",
        (("udp", "192.0.2.121", 5060, "naptr"), ("udp", "192.0.2.123", 5060, "naptr")),
    ),
    Case(
        "transport-param-unsupported",
        "sip:srv.cases.test;transport=tls",
        error=NotFound,
        error_text="does not support",
        transports="udp",
    ),
]
