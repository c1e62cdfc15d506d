"""Issue 9 part B, pure logic: local inputs, nameserver syntax, plan checks, ENUM loops, drain
records. Each test failed (traceback, hang, wrong text or wrong answer) before the fix."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone
import pytest
from hypothesis import given
from hypothesis import strategies as st

from siplocate.cli.zone import _wait
from siplocate.dns.live import parse_nameserver
from siplocate.dns.zonefile import ZoneSource
from siplocate.enum import enum_lookup
from siplocate.errors import BadInput, NotFound
from siplocate.localfile import read_bytes, read_text
from siplocate.zone.drain import Drain, DrainResult, check_name
from siplocate.zone.keys import load_key
from siplocate.zone.plan import load_plan, plan_from_dict
from siplocate.zone.render import render_bind, render_nsupdate

N = dns.name.from_text
PLAN = {
    "domain": "example.com",
    "transports": {"udp": 1},
    "server": [{"host": "sip1", "addresses": ["192.0.2.1"]}],
    "nameserver": [{"host": "ns1", "addresses": ["192.0.2.53"]}],
}


# --------------------------------------------------------------------------- nameservers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("127.0.0.1:5300", ("127.0.0.1", 5300)),
        ("127.0.0.1#5300", ("127.0.0.1", 5300)),  # dig / nsupdate
        ("[::1]:25353", ("::1", 25353)),
        ("[::1]#25353", ("::1", 25353)),
        ("::1", ("::1", 53)),
        ("::1#25353", ("::1", 25353)),
        ("localhost:5300", ("127.0.0.1", 5300)),
    ],
)
def test_nameserver_spellings(text: str, expected: tuple[str, int]) -> None:
    assert parse_nameserver(text) == expected


def test_nameserver_mistakes_suggest_the_right_spelling() -> None:
    with pytest.raises(BadInput, match=r"did you mean \[::1\]:25353"):
        parse_nameserver("::1:25353")
    with pytest.raises(BadInput, match=r"did you mean \[::1\]:5300\? \(or \[::1:5300\]"):
        parse_nameserver("::1:5300")  # also a valid address: ambiguous, so refused
    with pytest.raises(BadInput, match="out of range"):
        parse_nameserver("127.0.0.1:99999")
    with pytest.raises(BadInput, match="not a number"):
        parse_nameserver("127.0.0.1#x")
    for superscript in ("127.0.0.1:\u00b2", "[::1]:\u00b2", "::1:\u00b2"):
        with pytest.raises(BadInput, match="nameserver"):  # isdigit('²') but int('²') fails
            parse_nameserver(superscript)
    with pytest.raises(BadInput, match="ADDRESS#PORT"):
        parse_nameserver("bad..name")


@given(st.ip_addresses(), st.integers(1, 65535))
def test_every_address_and_port_round_trips(address: object, port: int) -> None:
    text = str(address)
    shown = f"[{text}]" if ":" in text else text
    assert parse_nameserver(f"{shown}:{port}") == (text, port)
    assert parse_nameserver(f"{text}#{port}") == (text, port)


# --------------------------------------------------------------------------- local files


def test_special_files_are_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(BadInput, match="FIFO"):
        read_text(fifo, "plan")
    with pytest.raises(BadInput, match="FIFO"):
        load_plan(fifo)
    with pytest.raises(BadInput, match="FIFO"):
        load_key(fifo)
    with pytest.raises(BadInput, match="directory"):
        read_bytes(tmp_path)
    with pytest.raises(BadInput, match="character device"):
        read_bytes("/dev/null")


def test_size_bound_and_decode_errors_name_the_file(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(BadInput, match=r"over the 1024-byte limit"):
        read_bytes(big, "key file", 1024)
    latin = tmp_path / "plan.toml"
    latin.write_bytes(b'domain = "a.test"\n# caf\xe9\n')
    with pytest.raises(BadInput, match=r"plan\.toml:2: byte 0xe9 is not UTF-8"):
        load_plan(latin)


def test_deeply_nested_plans_are_one_line(tmp_path: Path) -> None:
    for text in ("x = " + "[" * 100_000, "x = " + "{a = " * 100_000):
        plan = tmp_path / "deep.toml"
        plan.write_text(text)
        with pytest.raises(BadInput, match="plan"):
            load_plan(plan)


def test_many_servers_parse_in_linear_time(tmp_path: Path) -> None:
    """10,000 servers took 114 s (a list.count per server); the bench prints the time."""
    lines = ['domain = "big.test"', "[transports]", "udp = 1"]
    for i in range(3000):
        lines += ["[[server]]", f'host = "s{i}"', f'addresses = ["10.0.{i // 256}.{i % 256}"]']
    plan = tmp_path / "big.toml"
    plan.write_text("\n".join(lines))
    assert len(load_plan(plan).servers) == 3000
    lines += ["[[server]]", 'host = "s7"', 'addresses = ["10.9.9.9"]']
    plan.write_text("\n".join(lines))
    with pytest.raises(BadInput, match=r"listed twice: s7\.big\.test\."):
        load_plan(plan)


def test_repeated_key_clause_openings_are_refused(tmp_path: Path) -> None:
    key = tmp_path / "key.conf"
    key.write_text("key a {" * 50_000)
    key.chmod(0o600)
    with pytest.raises(BadInput, match="no key clause"):
        load_key(key)


# --------------------------------------------------------------------------- plans


def test_hostmaster_mailbox_escapes_the_dot_of_the_local_part() -> None:
    plan = plan_from_dict({**PLAN, "hostmaster": "john.doe@example.com"})
    assert "IN SOA ns1.example.com. john\\.doe.example.com. (" in render_bind(plan)
    plain = plan_from_dict({**PLAN, "hostmaster": "dns-admin.example.com."})
    assert " dns-admin.example.com. (" in render_bind(plain)
    for bad in ("john doe@example.com", "@example.com", "a@b@c", "x@bad..name"):
        with pytest.raises(BadInput, match="hostmaster"):
            plan_from_dict({**PLAN, "hostmaster": bad})


def test_servers_outside_the_domain_with_addresses_are_rejected() -> None:
    """render emitted NOTZONE-bound updates for them and apply silently dropped them."""
    outside = {"host": "sip.other.test.", "addresses": ["192.0.2.9"]}
    with pytest.raises(BadInput, match=r"outside example.com. but has addresses"):
        plan_from_dict({**PLAN, "server": [*PLAN["server"], outside]})  # type: ignore[list-item]
    servers = [*PLAN["server"], {"host": "sip.other.test."}]  # type: ignore[list-item]
    offsite = plan_from_dict({**PLAN, "server": servers})
    assert "update add sip.other.test." not in render_nsupdate(offsite)


# --------------------------------------------------------------------------- ENUM


def _zone(text: str) -> ZoneSource:
    """A zone source over ``text`` as the file e164.test.zone (read at once, then removed)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "e164.test.zone"
        path.write_text("$ORIGIN e164.test.\n" + text)
        return ZoneSource([path])


ENUM_HEAD = "$TTL 60\n@ SOA ns1 hm 1 1 1 1 1\n@ NS ns1\nns1 A 192.0.2.1\n"


def test_naptr_loop_is_reported_as_a_loop() -> None:
    zone = _zone(
        ENUM_HEAD + '0.0.1 NAPTR 10 10 "" "E2U+sip" "" 1.0.1\n'
        '1.0.1 NAPTR 10 10 "" "E2U+sip" "" 0.0.1\n'
    )
    with pytest.raises(NotFound, match=r"loop: 0\.0\.1\.e164\.test\. was already asked"):
        asyncio.run(enum_lookup(zone, "+100", suffix="e164.test"))


def test_skipped_records_come_out_in_a_stable_order() -> None:
    zone = _zone(
        ENUM_HEAD + '0.0.1 NAPTR 10 10 "u" "E2U+mailto" "!^.*$!mailto:a@b.test!" .\n'
        '0.0.1 NAPTR 10 5 "u" "E2U+tel" "!^.*$!tel:+100!" .\n'
        '0.0.1 NAPTR 20 10 "u" "E2U+sip" "!^.*$!sip:a@b.test!" .\n'
    )
    result = asyncio.run(enum_lookup(zone, "+100", suffix="e164.test"))
    assert result.uris == ["sip:a@b.test"]
    assert ["E2U+tel" in r for r, _ in result.skipped] == [True, False]


# --------------------------------------------------------------------------- drain records


def test_drain_records_round_trip_and_garbage_is_ignored() -> None:
    d = Drain(N("_sip._udp.x.test."), N("[bold].x.test."), 10, 20, 5060, 1700000000.0)
    assert Drain.parse(d.rdata()) == d
    garbage = (
        '"siplocate-drain/1" "a" "b"',
        '"other"',
        '"siplocate-drain/1" "_s.x." "h.x." "10 20 99999" "1"',
        '"siplocate-drain/1" "a..b" "h." "1 2 3" "4"',
    )
    for text in garbage:
        rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, text)
        assert Drain.parse(rdata) is None


def test_bad_domain_names_are_bad_input() -> None:
    with pytest.raises(BadInput, match="empty label"):
        check_name("x..test", "domain")
    with pytest.raises(BadInput, match="over 63"):
        check_name("a" * 64 + ".test", "domain")


def test_wait_reports_progress_with_injected_time(capsys: pytest.CaptureFixture[str]) -> None:
    now = [1000.0]
    result = DrainResult(N("x.test."), N("a.x.test."), [], 1000.0, 12)
    _wait(result, "done", clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    err = capsys.readouterr()
    assert "12 s left" in err.err and "7 s left" in err.err and "2 s left" in err.err
    assert "TTL passed" in err.out
