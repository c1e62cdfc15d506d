"""Every lint rule against a zone that has exactly that mistake, plus the seeds' own zones."""

from __future__ import annotations

import asyncio
import inspect
import json
from dataclasses import replace
from pathlib import Path

import dns.name
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from siplocate.cli import app
from siplocate.dns.zonefile import ZoneSource, load_zone
from siplocate.zone.lint import (
    CODES,
    RULES,
    Finding,
    Severity,
    gather,
    has_errors,
    lint_snapshot,
    lint_zone_files,
)
from tests.conftest import EXAMPLE_ZONES
from tests.fixtures.zones import HEAD, many_srv

BROKEN = EXAMPLE_ZONES / "broken"

GOOD = """@ IN A 192.0.2.10
@ IN NAPTR 10 0 "s" "SIP+D2U" "" _sip._udp
_sip._udp IN SRV 0 10 5060 a
_sip._udp IN SRV 0 10 5060 b
a IN A 192.0.2.11
b IN A 192.0.2.12
"""


def lint_text(tmp_path: Path, body: str, name: str = "t.test.zone") -> list[Finding]:
    path = tmp_path / name
    path.write_text(HEAD + body)
    findings, _ = lint_zone_files([path])
    return findings


def codes(findings: list[Finding]) -> set[str]:
    return {f.code for f in findings}


def test_a_good_zone_has_no_findings(tmp_path: Path) -> None:
    assert lint_text(tmp_path, GOOD) == []


def test_every_code_has_severity_and_meaning() -> None:
    for code, (severity, meaning) in CODES.items():
        assert code == code.lower() and " " not in code
        assert isinstance(severity, Severity) and meaning


def test_each_code_is_one_small_registered_rule() -> None:
    """Issue 22: lint is a table. One function per code, registered with its severity,
    meaning and scope; CODES is a view of that registry; every finding's severity is its
    rule's."""
    assert set(RULES) == set(CODES) and len(RULES) == 32
    assert len({id(r.check) for r in RULES.values()}) == len(RULES)
    for code, r in RULES.items():
        assert (r.severity, r.meaning) == CODES[code] and r.code == code
        lines = inspect.getsourcelines(r.check)[0]
        assert len(lines) <= 40, (code, len(lines))
    findings = lint_file("freeswitch-dtu.zone") + lint_file("dooxswitch-missing-weight.zone")
    assert findings and all(f.severity == RULES[f.code].severity for f in findings)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        # SRV target without A/AAAA
        (GOOD.replace("b IN A 192.0.2.12\n", ""), "srv-target-no-address"),
        # SRV target that is a CNAME
        (GOOD.replace("b IN A 192.0.2.12", "b IN CNAME a"), "srv-target-cname"),
        # NAPTR replacement with no SRV records
        (GOOD + '@ IN NAPTR 20 0 "s" "SIP+D2T" "" _sip._tcp\n', "naptr-replacement-no-srv"),
        # unknown / misspelt service
        (GOOD.replace("SIP+D2U", "SIP+DTU"), "naptr-unknown-service"),
        # flag other than s
        (GOOD.replace('"s" "SIP+D2U"', '"u" "SIP+D2U"'), "naptr-flag-not-s"),
        (GOOD.replace('"s" "SIP+D2U"', '"a" "SIP+D2U"'), "naptr-flag-a"),
        # "se" flags
        (GOOD.replace('"s" "SIP+D2U"', '"se" "SIP+D2U"'), "naptr-flag-extra"),
        # SIPS service pointing at _sip.
        (
            GOOD + '@ IN NAPTR 5 0 "s" "SIPS+D2T" "" _sip._udp\n',
            "naptr-sips-to-sip",
        ),
        (
            GOOD + '@ IN NAPTR 5 0 "s" "SIP+D2T" "" _sip._udp\n',
            "naptr-transport-mismatch",
        ),
        # ports that do not fit the transport
        (GOOD.replace("0 10 5060 a", "0 10 5061 a"), "srv-port-transport"),
        (
            GOOD
            + '@ IN NAPTR 5 0 "s" "SIPS+D2T" "" _sips._tcp\n'
            + "_sips._tcp IN SRV 0 1 5060 a\n_sips._tcp IN SRV 0 1 5061 b\n",
            "srv-port-transport",
        ),
        # all weights 0 in a multi-target priority
        (GOOD.replace("0 10 5060", "0 0 5060"), "srv-all-weights-zero"),
        # one reachable target / all on one address
        (GOOD.replace("b IN A 192.0.2.12", "b IN A 192.0.2.11"), "no-failover"),
        (GOOD.replace("_sip._udp IN SRV 0 10 5060 b\n", ""), "no-failover"),
        # TTLs
        (GOOD.replace("_sip._udp IN SRV", "_sip._udp 86400 IN SRV"), "ttl-long"),
        (GOOD.replace("a IN A", "a 5 IN A"), "ttl-short"),
        # SRV but no A at the domain ("A Record" mode phones)
        (GOOD.replace("@ IN A 192.0.2.10\n", ""), "domain-no-address"),
        # transports in SRV but not in NAPTR
        (GOOD + "_sip._tcp IN SRV 0 10 5060 a\n", "srv-not-in-naptr"),
        # duplicate target
        (GOOD.replace("0 10 5060 b", "0 20 5060 a"), "srv-duplicate-target"),
        # wildcard "no such service"
        (GOOD + "*._tcp IN SRV 0 0 0 .\n", "srv-service-unavailable"),
        # target outside the zones given
        (GOOD.replace("5060 b", "5060 far.example.org."), "srv-target-unchecked"),
        # a domain that has nothing for SIP at all, reached via a SIP SRV name
        ("_sip._udp.x IN SRV 0 0 0 .\n", "no-sip-records"),
    ],
)
def test_each_mistake_is_found(tmp_path: Path, body: str, code: str) -> None:
    findings = lint_text(tmp_path, body)
    assert code in codes(findings), [f.as_dict() for f in findings]
    found = next(f for f in findings if f.code == code)
    assert found.severity == CODES[code][0]
    assert "Fix" in found.message or found.severity == Severity.INFO
    data = found.as_dict()
    assert set(data) >= {"code", "severity", "name", "records", "message"}


def test_unparsable_lines_are_findings_with_line_numbers(tmp_path: Path) -> None:
    body = GOOD + "_sip._tcp IN SRV 0 5060 a\n" + 'x IN NAPTR 1 2 "s" "SIP+D2U"\n'
    body += "y IN A 999.1.1.1\n\nz IN A 192.0.2.99\n"
    findings = lint_text(tmp_path, body)
    by_code = {f.code: f for f in findings}
    srv = by_code["srv-missing-field"]
    assert srv.line == HEAD.count("\n") + GOOD.count("\n") + 1
    assert by_code["naptr-missing-field"].line == srv.line + 1
    syntax = by_code["zone-syntax"]
    assert syntax.line == srv.line + 2 and "999.1.1.1" in syntax.records[0]
    # The rest of the zone was still linted: the good records produce no other errors.
    assert {f.code for f in findings if f.severity == Severity.ERROR} == {
        "srv-missing-field",
        "naptr-missing-field",
        "zone-syntax",
    }


def test_a_record_cut_short_is_blamed_on_its_own_line(tmp_path: Path) -> None:
    findings = lint_text(tmp_path, GOOD + "c IN A\n\n\nd IN A 192.0.2.1\n")
    syntax = [f for f in findings if f.code == "zone-syntax"]
    assert syntax and syntax[0].line == HEAD.count("\n") + GOOD.count("\n") + 1


def test_reader_ignores_comments_quotes_and_multiline_records(tmp_path: Path) -> None:
    text = '; _sip._udp SRV 0 5060 host.\n@ NAPTR 1 1 "s" "a;b" "" x\n_s SRV ( 0 0\n 5060 h. )\n'
    path = tmp_path / "z"
    path.write_text(HEAD + text)
    assert load_zone(path).problems == []


# --------------------------------------------------------------------------- seed zones


def lint_file(name: str) -> list[Finding]:
    findings, _ = lint_zone_files([BROKEN / name])
    return findings


def test_freeswitch_sip_dtu_typo() -> None:
    findings = lint_file("freeswitch-dtu.zone")
    typo = next(f for f in findings if f.code == "naptr-unknown-service")
    assert '"SIP+DTU"' in typo.message and 'write "SIP+D2U"' in typo.message
    assert has_errors(findings)


def test_freeswitch_se_flags() -> None:
    findings = lint_file("freeswitch-se.zone")
    assert [f.code for f in findings] == ["naptr-flag-extra"] * 3


def test_dooxswitch_srv_without_weight() -> None:
    findings = lint_file("dooxswitch-missing-weight.zone")
    missing = [f for f in findings if f.code == "srv-missing-field"]
    assert [f.line for f in missing] == [11, 12]
    assert "_sip._udp        SRV 0 5060 host.tld." in missing[0].records
    assert "weight is missing" in missing[0].message


def test_yealink_server1_twice() -> None:
    assert {"srv-duplicate-target", "no-failover", "srv-port-transport"} <= codes(
        lint_file("yealink-server1-twice.zone")
    )


def test_grandstream_default_a_record_mode() -> None:
    assert codes(lint_file("grandstream-no-a-record.zone")) == {"domain-no-address"}


@pytest.mark.parametrize("zone", sorted(EXAMPLE_ZONES.glob("*.zone")), ids=lambda p: p.name)
def test_example_zones_have_no_errors(zone: Path) -> None:
    findings, _ = lint_zone_files(sorted({zone, EXAMPLE_ZONES / "elsewhere.test.zone"}))
    assert not has_errors(findings), [f.as_dict() for f in findings if f.severity == "error"]


def test_offsite_targets_resolve_when_their_zone_is_given() -> None:
    alone, _ = lint_zone_files([EXAMPLE_ZONES / "sipdomain.test.zone"])
    both, _ = lint_zone_files(
        [EXAMPLE_ZONES / "sipdomain.test.zone", EXAMPLE_ZONES / "elsewhere.test.zone"]
    )
    assert "srv-target-unchecked" in codes(alone)
    assert "srv-target-unchecked" not in codes(both)


def test_gather_and_rules_work_over_any_source() -> None:
    """The live path (`check`) is gather() over a DnsSource: same snapshot, same rules."""
    source = ZoneSource([BROKEN / "freeswitch-dtu.zone"])
    snap = asyncio.run(gather(source, [dns.name.from_text("freeswitch-dtu.test.")]))
    offline, _ = lint_zone_files([BROKEN / "freeswitch-dtu.zone"])
    assert lint_snapshot(snap) == [replace(f, file=None, line=None) for f in offline]


_LINES = st.sampled_from(
    [
        "@ IN A 192.0.2.10",
        '@ IN NAPTR 10 0 "s" "SIP+D2U" "" _sip._udp',
        '@ IN NAPTR 10 0 "se" "SIP+DTU" "" _sip._tcp',
        '@ IN NAPTR 10 0 "s" "SIP+D2U"',
        "_sip._udp IN SRV 0 10 5060 a",
        "_sip._udp IN SRV 0 5060 a",
        "_sip._udp SRV 0 5060 host.tld.",
        "_sips._tcp IN SRV 0 0 5060 b",
        "a IN A 192.0.2.11",
        "a IN A 999.0.0.1",
        "b IN CNAME a",
        "b IN A",
        "c IN MX 10",
        "*._tcp IN SRV 0 0 0 .",
        "   IN A 192.0.2.12",
        "; just a comment",
        "",
        "$TTL 60",
        "$ORIGIN sub.t.test.",
        'x IN TXT "unterminated',
        "( broken",
    ]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_LINES, max_size=12))
def test_lint_never_crashes_on_broken_zones(tmp_path: Path, lines: list[str]) -> None:
    findings = lint_text(tmp_path, "\n".join(lines) + "\n")
    for f in findings:
        assert f.code in CODES
        if f.code == "zone-syntax" and f.line is not None:
            assert f.line > 0


@pytest.mark.parametrize("count", [34, 50])
def test_a_bound_reached_is_one_info_never_a_false_error(tmp_path: Path, count: int) -> None:
    """Issue 18: the 32-record `rrset_records` bound was read as "no address" (2 false errors
    for 34 records, 18 for 50). The records past the bound are not judged; one info says so."""
    findings = lint_text(tmp_path, many_srv(count))
    assert not has_errors(findings), [f.message for f in findings if f.severity == "error"]
    [bound] = [f for f in findings if f.code == "rrset-bound"]
    assert bound.severity == Severity.INFO and bound.name == "_sip._udp.t.test."
    assert f"only the 32 most preferred of {count} SRV records were checked" in bound.message
    assert len(bound.records) == count and bound.line is not None
    assert codes(findings) == {"rrset-bound"}


def test_a_naptr_rrset_past_the_bound_is_one_info_never_a_false_error(tmp_path: Path) -> None:
    """The same bound on NAPTR RRsets: replacements the walk never followed are not judged."""
    body = "@ IN A 192.0.2.200\na IN A 192.0.2.1\nb IN A 192.0.2.2\n" + "".join(
        f'@ IN NAPTR {i} 0 "s" "SIP+D2U" "" _x{i}\n_x{i} IN SRV 0 10 5060 a\n'
        f"_x{i} IN SRV 0 10 5060 b\n"
        for i in range(1, 35)
    )
    findings = lint_text(tmp_path, body)
    assert not has_errors(findings), [f.message for f in findings if f.severity == "error"]
    [bound] = [f for f in findings if f.code == "rrset-bound"]
    assert "only the 32 most preferred of 34 NAPTR records were checked" in bound.message


def test_messages_never_end_a_name_with_a_second_dot(tmp_path: Path) -> None:
    for body in (
        GOOD.replace("b IN A 192.0.2.12\n", ""),  # srv-target-no-address
        GOOD.replace("b IN A 192.0.2.12", "b IN CNAME a"),  # srv-target-cname
    ):
        for f in lint_text(tmp_path, body):
            assert ".." not in f.message, f.message


def test_zone_lint_lists_and_explains_the_registry() -> None:
    """`zone lint --list-rules` prints the registry, one rule a line; `--explain CODE` one
    rule; an unknown code is bad input with the closest codes; no files is bad input."""
    runner = CliRunner()
    listed = runner.invoke(app, ["zone", "lint", "--list-rules"])
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert len(lines) == len(RULES)
    assert "srv-target-no-address error SRV record: an SRV target has no A/AAAA record" in lines
    as_json = runner.invoke(app, ["zone", "lint", "--list-rules", "--json"])
    assert [r["code"] for r in json.loads(as_json.stdout)] == list(RULES)
    explained = runner.invoke(app, ["zone", "lint", "--explain", "rrset-bound"])
    assert explained.exit_code == 0 and explained.stdout.startswith("rrset-bound info RRset: ")
    typo = runner.invoke(app, ["zone", "lint", "--explain", "srv-target-no-adress"])
    assert typo.exit_code == 2 and "srv-target-no-address" in typo.stderr
    nothing = runner.invoke(app, ["zone", "lint"])
    assert nothing.exit_code == 2 and len(nothing.stderr.strip().splitlines()) == 1
