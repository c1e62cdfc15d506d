"""`zone lint` over files as BIND reads them: origin, encodings, directives, lines, new rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dns.name
import dns.rcode
import dns.rdatatype
import pytest
from typer.testing import CliRunner

from siplocate.cli import app
from siplocate.dns.zonefile import MAX_PROBLEMS, ZoneSource, load_zone
from siplocate.errors import BadInput
from siplocate.zone.lint import Finding, has_errors, lint_zone_files
from tests.conftest import EXAMPLE_ZONES

runner = CliRunner()
N = dns.name.from_text

BODY = """$TTL 300
@ IN SOA ns1 hostmaster 1 3600 600 604800 300
  IN NS ns1
ns1 IN A 192.0.2.53
@ IN A 192.0.2.10
@ IN NAPTR 10 0 "s" "SIP+D2U" "" _sip._udp
_sip._udp IN SRV 0 10 5060 a
_sip._udp IN SRV 0 10 5060 b
a IN A 192.0.2.11
b IN A 192.0.2.12
"""
GOOD = "$ORIGIN t.test.\n" + BODY
AXFR = """; <<>> DiG 9.18 <<>> AXFR airties.test @127.0.0.1
;; global options: +cmd
airties.test.		300	IN	SOA	ns1.airties.test. h.airties.test. 1 3600 600 604800 300
airties.test.		300	IN	NS	ns1.airties.test.
airties.test.		300	IN	NAPTR	10 0 "s" "SIP+D2U" "" _sip._udp.airties.test.
_sip._udp.airties.test.	300	IN	SRV	0 10 5060 gone.airties.test.
_sip._udp.airties.test.	300	IN	SRV	0 10 5060 b.airties.test.
b.airties.test.		300	IN	A	192.0.2.12
ns1.airties.test.	300	IN	A	192.0.2.53
airties.test.		300	IN	SOA	ns1.airties.test. h.airties.test. 1 3600 600 604800 300
;; Query time: 1 msec
"""


def lint(path: Path, origin: str | None = None) -> list[Finding]:
    findings, _ = lint_zone_files([path], origin)
    return findings


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


# --------------------------------------------------------------------------- origin


@pytest.mark.parametrize("name", ["axfr-airties.txt", "db.example.com", "airties.test.zone"])
def test_origin_comes_from_the_soa_never_the_file_name(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(AXFR)
    assert load_zone(path).origin == N("airties.test.")
    findings = lint(path)
    # gone.airties.test has no address: judged only because the records are in the zone.
    assert "srv-target-no-address" in codes(findings)
    assert "zone-out-of-zone" not in codes(findings)


def test_origin_option_for_a_file_with_relative_owners_and_no_origin(tmp_path: Path) -> None:
    path = tmp_path / "db.t"
    path.write_text(BODY)
    assert "zone-syntax" in codes(lint(path))  # "@" with no origin: told, not guessed
    assert lint(path, "t.test.") == []
    result = runner.invoke(app, ["zone", "lint", str(path), "--origin", "t.test"])
    assert result.exit_code == 0, result.output


def test_records_outside_the_origin_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "t.zone"
    path.write_text(GOOD + "x.other.test. IN A 192.0.2.9\n")
    outside = [f for f in lint(path) if f.code == "zone-out-of-zone"]
    assert len(outside) == 1 and outside[0].line == GOOD.count("\n") + 1


@pytest.mark.parametrize("text", ["", "; only a comment\n", "$ORIGIN t.test.\n$TTL 300\n"])
def test_nothing_in_zone_fails(tmp_path: Path, text: str) -> None:
    path = tmp_path / "empty.zone"
    path.write_text(text)
    findings = lint(path)
    assert codes(findings) == ["zone-no-soa"] and has_errors(findings)
    result = runner.invoke(app, ["zone", "lint", str(path)])
    assert result.exit_code == 1 and "zone-no-soa" in result.output


def test_dev_null_and_no_soa_fail(tmp_path: Path) -> None:
    result = runner.invoke(app, ["zone", "lint", "/dev/null"])
    assert result.exit_code == 1 and "/dev/null: error zone-no-soa" in result.output
    path = tmp_path / "nosoa.zone"
    path.write_text("$ORIGIN t.test.\n$TTL 300\n@ IN NS ns1\nns1 IN A 192.0.2.1\n")
    assert "zone-no-soa" in codes(lint(path))


# --------------------------------------------------------------------------- what BIND accepts


def test_latin1_bytes_in_comments_and_data(tmp_path: Path) -> None:
    path = tmp_path / "t.zone"
    path.write_bytes(GOOD.encode() + b'; r\xe9seau\nnote IN TXT "caf\xe9"\n')
    assert lint(path) == []


def test_include_relative_to_the_file(tmp_path: Path) -> None:
    sub = tmp_path / "zones"
    sub.mkdir()
    (sub / "servers.inc").write_text("a IN A 192.0.2.11\nb IN A 192.0.2.12\n")
    main = sub / "t.zone"
    hosts = "a IN A 192.0.2.11\nb IN A 192.0.2.12\n"
    main.write_text(GOOD.replace(hosts, "$INCLUDE servers.inc\n"))
    assert lint(main) == []
    missing = sub / "u.zone"
    missing.write_text(GOOD + "$INCLUDE absent.inc\n")
    bad = [f for f in lint(missing) if f.code == "zone-syntax"]
    assert bad and bad[0].line == GOOD.count("\n") + 1


def test_generate(tmp_path: Path) -> None:
    path = tmp_path / "t.zone"
    path.write_text(GOOD + "$GENERATE 1-20 host$ A 192.0.2.${100}\n")
    zone = load_zone(path)
    assert zone.problems == []
    rds = zone.get_rdataset(N("host7.t.test."), dns.rdatatype.A)
    assert rds is not None and [r.to_text() for r in rds] == ["192.0.2.107"]


def test_generate_modifiers_we_do_not_support_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "t.zone"
    path.write_text(GOOD + "$GENERATE 1-2 h${0,3,n} A 192.0.2.$\n")
    assert [p.line for p in load_zone(path).problems] == [GOOD.count("\n") + 1]


def test_problems_past_the_cap_are_counted_in_a_last_line(tmp_path: Path) -> None:
    path = tmp_path / "t.zone"
    path.write_text(GOOD + "bad IN A not-an-address\n" * (MAX_PROBLEMS + 5))
    problems = load_zone(path).problems
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[0].line == GOOD.count("\n") + 1
    assert problems[-1].line is None and problems[-1].message == "5 more problems not shown"


def test_special_files_are_refused_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.zone"
    os.mkfifo(fifo)
    result = runner.invoke(app, ["zone", "lint", str(fifo)])
    assert result.exit_code == 2 and "not a regular file" in result.output
    result = runner.invoke(app, ["zone", "lint", str(tmp_path)])
    assert result.exit_code == 2


def test_multiline_records_escapes_and_ttl_units(tmp_path: Path) -> None:
    path = tmp_path / "t.zone"
    path.write_text(
        GOOD
        + 'x 1h IN TXT ( "a;b" ; comment\n  "c" )\nweird\\.label IN A 192.0.2.3\n'
        + "$TTL 1d\ny A 192.0.2.4\n"
    )
    zone = load_zone(path)
    assert zone.problems == []
    txt = zone.get_rdataset(N("x.t.test."), dns.rdatatype.TXT)
    assert txt is not None and txt.ttl == 3600
    assert zone.get_rdataset(N("weird\\.label.t.test."), dns.rdatatype.A) is not None
    y = zone.get_rdataset(N("y.t.test."), dns.rdatatype.A)
    assert y is not None and y.ttl == 86400


# --------------------------------------------------------------------------- lines


def test_trailing_junk_does_not_swallow_the_next_line(tmp_path: Path) -> None:
    path = tmp_path / "t.zone"
    path.write_text(GOOD + "c IN A 192.0.2.1 junk\nd IN A 1.2.3\n")
    n = GOOD.count("\n")
    syntax = [f for f in lint(path) if f.code == "zone-syntax"]
    assert [f.line for f in syntax] == [n + 1, n + 2]
    assert "extra input" in syntax[0].message and "dotted quad" in syntax[1].message


def test_an_soa_below_the_origin_is_refused_on_its_line(tmp_path: Path) -> None:
    """named-checkzone: "SOA record not at top of zone"; the fuzzer found dnspython raising
    ValueError for it. The zone does not load, and the line is named."""
    path = tmp_path / "t.zone"
    path.write_text(GOOD + "sub IN SOA ns1 hostmaster 1 3600 600 604800 300\n")
    found = [f for f in lint(path) if f.code == "zone-soa-not-at-top"]
    assert [f.line for f in found] == [GOOD.count("\n") + 1] and has_errors(found)
    with pytest.raises(BadInput, match="not at top of zone"):
        ZoneSource([path])


def test_findings_come_in_line_order_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "t.zone"
    path.write_text(GOOD + "_sip._tcp IN SRV 0 10 5060 nowhere\nz IN A 1.2.3\n")
    findings = lint(path)
    assert all(f.file == str(path) and f.line for f in findings)
    assert [f.line for f in findings] == sorted(f.line or 0 for f in findings)
    result = runner.invoke(app, ["zone", "lint", str(path)])
    lines = [ln for ln in result.output.splitlines() if ln.startswith(str(path))]
    assert lines and all(ln.split(": ", 1)[1].split()[0] in {"error", "warning", "info"}
                         for ln in lines)  # fmt: skip
    assert f"{path}:{GOOD.count(chr(10)) + 2}: error zone-syntax" in result.output


def test_resolve_zone_names_the_same_line_as_lint() -> None:
    doox = EXAMPLE_ZONES / "broken" / "dooxswitch-missing-weight.zone"
    result = runner.invoke(app, ["resolve", "tld", "-z", str(doox)])
    assert result.exit_code == 2
    assert f"{doox}:11:" in result.output and ":12:" not in result.output.split("(")[0]


# --------------------------------------------------------------------------- the index


def test_lookups_are_index_hits_nxdomain_ent_and_wildcard(tmp_path: Path) -> None:
    path = tmp_path / "t.zone"
    path.write_text(GOOD + "*._tcp IN SRV 0 0 0 .\ndeep.ent.below IN A 192.0.2.5\n")
    source = ZoneSource([path])
    assert source.lookup(N("nope.t.test."), dns.rdatatype.A).nxdomain
    ent = source.lookup(N("ent.below.t.test."), dns.rdatatype.A)
    assert ent.rcode == dns.rcode.NOERROR and ent.rrset is None
    wild = source.lookup(N("_sip._tcp.t.test."), dns.rdatatype.SRV)
    assert [r.to_text() for r in wild.records] == ["0 0 0 ."]
    # Below an empty non-terminal the wildcard of its parent does not apply (RFC 4592).
    assert source.lookup(N("x.below.t.test."), dns.rdatatype.A).nxdomain
    assert source.where(N("_sip._tcp.t.test."), dns.rdatatype.SRV) == (
        str(path),
        GOOD.count("\n") + 1,
    )


# --------------------------------------------------------------------------- new rules


def test_dot_mixed_with_real_targets(tmp_path: Path) -> None:
    path = tmp_path / "t.zone"
    path.write_text(GOOD + "_sip._udp IN SRV 0 0 0 .\n")
    mixed = [f for f in lint(path) if f.code == "srv-dot-with-targets"]
    assert len(mixed) == 1 and mixed[0].line == GOOD.count("\n") + 1
    assert has_errors(mixed)


def test_drained_host_and_no_server_left(tmp_path: Path) -> None:
    path = tmp_path / "t.zone"
    path.write_text(GOOD.replace("SRV 0 10 5060 a", "SRV 65535 10 5060 a"))
    drained = [f for f in lint(path) if f.code == "srv-drained"]
    assert len(drained) == 1 and "a.t.test." in drained[0].message
    assert drained[0].line == GOOD.count("\n") - 3
    path.write_text(GOOD.replace("SRV 0 10", "SRV 65535 10"))
    assert "srv-none-in-rotation" in codes(lint(path))
    assert "srv-drained" not in codes(lint(path))


# --------------------------------------------------------------------------- text, not markup


def test_markup_in_names_and_file_names_is_printed_as_text(tmp_path: Path) -> None:
    path = tmp_path / "[bold].zone"
    path.write_text(GOOD.replace("5060 b\n", "5060 [/z]\n"))
    result = subprocess.run(
        [sys.executable, "-m", "siplocate", "zone", "lint", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "MarkupError" not in result.stderr and "Traceback" not in result.stderr
    assert f"{path}:" in result.stdout and "[/z].t.test." in result.stdout
    as_json = runner.invoke(app, ["zone", "lint", str(path), "--json"])
    assert any("[/z]" in f["message"] for f in json.loads(as_json.stdout))
