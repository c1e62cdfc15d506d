"""Inputs the DNS fuzzer (fuzz/fuzz_dns.py) found, one test per root cause.

Each runs through the fuzz source, so the reply bytes take the path live replies take
(decode_reply, answer_from, CachingSource, Resolver.locate, and the lint traversal that
``check`` uses). Expected: nothing but SiplocateError escapes, and where one record of a
domain is bad the rest of the domain still resolves. Slow inputs are checked by the work
done (questions asked, trace size, targets kept), never by the clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzz.dns_world import FuzzSource, Runner, World, reply_for, world

from siplocate import Resolver
from siplocate.errors import SiplocateError

NAPTR_TWO = [
    'd.test 300 IN NAPTR 10 10 "s" "SIP+D2U" "" _sip._udp.d.test.',
    'd.test 300 IN NAPTR 20 10 "s" "SIP+D2T" "" _sip._tcp.d.test.',
]
GOOD_TCP = [
    reply_for("_sip._tcp.d.test", "SRV", ["_sip._tcp.d.test 300 IN SRV 0 0 5060 good.d.test."]),
    reply_for("good.d.test", "A", ["good.d.test 300 IN A 192.0.2.7"]),
]


@pytest.fixture
def runner() -> Iterator[Runner]:
    r = Runner()
    yield r
    r.loop.close()


def test_wrong_class_srv_is_skipped_and_the_rest_resolves(runner: Runner) -> None:
    """An SRV RRset of class CH (rdata dnspython cannot type) crashed the walk with
    AttributeError 'GenericRdata' has no 'target' (locate.py srv_branch, lint.py gather)."""
    data = world(
        ["sip:d.test", "+check"],
        reply_for("d.test", "NAPTR", NAPTR_TWO),
        reply_for("_sip._udp.d.test", "SRV", ["_sip._udp.d.test 300 CH SRV 0 0 5060 bad.d.test."]),
        *GOOD_TCP,
    )
    outcome = runner.reply(data)
    assert outcome[0] == "sip:d.test: tcp:192.0.2.7:5060"


def test_wrong_class_naptr_is_skipped(runner: Runner) -> None:
    """A NAPTR RRset of class CH crashed ``_naptr`` (AttributeError: no 'order')."""
    data = world(
        ["sip:d.test", "+check"],
        reply_for(
            "d.test", "NAPTR", ['d.test 300 CH NAPTR 10 10 "s" "SIP+D2T" "" _sip._tcp.d.test.']
        ),
        *GOOD_TCP,
    )
    outcome = runner.reply(data)
    assert outcome[0].startswith("sip:d.test: ")
    assert "Error" not in outcome[0] or "NotFound" in outcome[0]


def test_undecodable_naptr_text_skips_only_that_record(runner: Runner) -> None:
    """A NAPTR whose flags hold byte 0xff raised UnicodeDecodeError in locate.py ``_naptr``
    and failed the whole domain; the other NAPTR must still give its targets."""
    data = world(
        ["sip:d.test", "+check"],
        reply_for(
            "d.test",
            "NAPTR",
            [
                'd.test 300 IN NAPTR 10 10 "\\255" "SIP+D2U" "" _sip._udp.d.test.',
                'd.test 300 IN NAPTR 20 10 "s" "SIP+D2T" "" _sip._tcp.d.test.',
            ],
        ),
        *GOOD_TCP,
    )
    assert runner.reply(data)[0] == "sip:d.test: tcp:192.0.2.7:5060"


def test_name_overflowing_with_srv_prefix_falls_back_to_address(runner: Runner) -> None:
    """A valid 250-octet host has no NAPTR; ``_sip._udp.`` + host exceeds 255 octets and
    raised NameTooLong in locate.py ``srv_name``. The SRV names that cannot exist are
    skipped and the A record of the host itself is used."""
    host = ".".join(["a" * 60, "b" * 60, "c" * 60, "d" * 60]) + ".t"
    assert len(host) + 2 <= 255
    data = world(
        [f"sip:{host}", "+check"],
        reply_for(host + ".", "A", [f"{host}. 300 IN A 192.0.2.9"]),
    )
    assert runner.reply(data)[0].endswith(": udp:192.0.2.9:5060")


def test_non_utf8_zone_file_is_bad_input(runner: Runner) -> None:
    """A zone file with a byte that is not UTF-8 raised UnicodeDecodeError from
    ``load_zone`` (and lint's own read). BIND takes bytes: the zone loads, as it does for
    named-checkzone, and the domain resolves."""
    text = b"$TTL 300\n@ IN SOA ns hm 1 1 1 1 1\n; caf\xe9\n@ IN A 192.0.2.1\n"
    outcome = runner.zone(text)
    assert outcome == ["lint: []", "fuzz.test: 1 target(s)"]


def test_zone_with_only_an_origin_directive(runner: Runner) -> None:
    """``$ORIGIN e164.arpa.`` and nothing else: load_zone returned a zone whose origin is
    None and ZoneSource's sort raised TypeError (len(None))."""
    outcome = runner.zone(b"$ORIGIN e164.arpa.\n")
    assert outcome[0].startswith("load: BadInput") and "no SOA" in outcome[0]


def test_zone_with_soa_below_the_origin(runner: Runner) -> None:
    """An SOA owned by a name below the origin made dnspython raise ValueError ("add() has
    non-origin SOA"), which load_zone did not turn into BadInput. named-checkzone: "SOA
    record not at top of zone", the zone does not load."""
    text = b"$TTL 300\n@ IN SOA ns hm 1 1 1 1 1\nsub IN SOA ns hm 1 1 1 1 1\n@ IN A 192.0.2.1\n"
    outcome = runner.zone(text)
    assert outcome[0].startswith("load: BadInput")


@pytest.mark.parametrize("rdtype", ["A", "AAAA"])
def test_nul_byte_in_an_address_is_a_bad_line(runner: Runner, rdtype: str) -> None:
    """A NUL inside an A/AAAA address made inet_pton raise ValueError ("embedded null
    character") out of the zone reader (fuzz/findings/zone/crash-71926e510928)."""
    text = b"$TTL 300\n@ IN SOA ns hm 1 1 1 1 1\n@ IN " + rdtype.encode() + b" 192.0\x00.2.1\n"
    outcome = runner.zone(text)
    assert outcome[0].startswith("load: BadInput") and "bad" in outcome[0]


def test_naptr_fan_out_is_bounded() -> None:
    """30 empty-flag NAPTRs pointing back at their own owner: the walk grew ~N^3 (2.5 s,
    tens of thousands of trace entries). Work must stay bounded; no exception escapes."""
    records = [f'd.test 300 IN NAPTR {k} {k} "" "SIP+D2U" "" d.test.' for k in range(30)]
    w = World.decode(world(["sip:d.test"], reply_for("d.test", "NAPTR", records)))
    resolver = Resolver(source=FuzzSource(w))

    async def go() -> int:
        try:
            res = await resolver.locate("sip:d.test")
            return len(res.trace)
        except SiplocateError as exc:
            resolution = getattr(exc, "resolution", None)
            return len(resolution.trace) if resolution is not None else 0

    trace = asyncio.run(go())
    assert trace < 1000


def test_two_thousand_srv_targets_are_bounded() -> None:
    """An SRV RRset of 2,000 targets without addresses in the additional section made one
    locate ask 4,002 questions. Targets per resolution must be bounded."""
    srv = [f"_sip._udp.d.test 300 IN SRV 0 1 5060 t{k}.d.test." for k in range(2000)]
    replies = [reply_for("_sip._udp.d.test", "SRV", srv)]
    replies += [
        reply_for(f"t{k}.d.test", "A", [f"t{k}.d.test 300 IN A 10.0.{k >> 8}.{k & 255}"])
        for k in range(2000)
    ]
    w = World([b"sip:d.test"], replies)
    source = FuzzSource(w)

    res = asyncio.run(Resolver(source=source).locate("sip:d.test", seed=1))
    assert res.targets
    assert source.questions < 2 * 2000


def test_huge_address_rrset_is_bounded(runner: Runner) -> None:
    """A 2,000-record AAAA RRset for one host (the fuzzer's slow input: 1.2 s) became
    2,000 targets. Addresses per target must be bounded; the A record is still used."""
    aaaa = [f"a.test 300 IN AAAA 2001:db8::{k:x}" for k in range(2000)]
    data = world(
        ["sip:a.test"],
        reply_for("a.test", "AAAA", aaaa),
        reply_for("a.test", "A", ["a.test 300 IN A 192.0.2.70"]),
    )
    targets = runner.reply(data)[0].split(": ", 1)[1].split()
    assert "udp:192.0.2.70:5060" in targets
    assert len(targets) < 2000


def test_seed_corpus_runs_clean(runner: Runner) -> None:
    """Every seed (real BIND replies) goes through without an escaping exception."""
    corpus = sorted((Path(__file__).parents[2] / "fuzz" / "corpus" / "dns").glob("*.bin"))
    assert len(corpus) >= 30
    for path in corpus:
        assert runner.reply(path.read_bytes())


@pytest.mark.parametrize("field", ["SRV \u00b2 0 5060 ns", "SRV 0 0 \u00b9 ns"])
def test_a_superscript_digit_in_an_srv_number_is_a_bad_line(runner: Runner, field: str) -> None:
    """'²' is a digit to str.isdigit but not to int(): the reader let ValueError out
    (fuzz/findings/zone/crash-…, ValueError@zonefile.py:_check_rdata, 750 inputs)."""
    text = f"$TTL 300\n@ IN SOA ns hm 1 1 1 1 1\n_sip._udp IN {field}\n".encode()
    outcome = runner.zone(text)
    assert outcome[0].startswith("load: BadInput") and "not a valid number" in outcome[0]
