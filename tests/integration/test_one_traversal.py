"""resolve, zone lint and check walk one NAPTR/SRV traversal: a non-terminal NAPTR leading
into another zone is followed by all three to the same servers, and none calls it broken."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from siplocate import Resolver
from siplocate.cli import app
from siplocate.dns import ZoneSource
from siplocate.zone.lint import Severity, gather, lint_snapshot
from tests.conftest import TEST_ZONES
from tests.fixtures.bind import BindServer

ZONES = [TEST_ZONES / "hop.test.zone", TEST_ZONES / "hop-other.test.zone"]
EXPECT = {("udp", "192.0.2.81", 5060), ("udp", "192.0.2.82", 5060)}
runner = CliRunner()


def triples(targets: object) -> set[tuple[str, str, int]]:
    return {(t.transport.value, t.address, t.port) for t in targets}  # type: ignore[attr-defined]


async def test_resolve_and_lint_agree_offline_and_live(bind: BindServer) -> None:
    offline = await Resolver(zones=ZONES).locate("sip:hop.test")
    live = await Resolver([bind.nameserver]).locate("sip:hop.test")
    assert triples(offline.targets) == triples(live.targets) == EXPECT
    import dns.name

    domain = dns.name.from_text("hop.test.")
    snap = await gather(ZoneSource(ZONES), [domain])
    assert triples(snap.targets[domain]) == EXPECT
    findings = lint_snapshot(snap)
    assert not [f for f in findings if f.severity is Severity.ERROR], findings
    assert "naptr-non-terminal" in {f.code for f in findings}


def test_zone_lint_and_check_report_no_error(bind: BindServer) -> None:
    lint = runner.invoke(app, ["zone", "lint", *map(str, ZONES), "--json"])
    check = runner.invoke(app, ["check", "hop.test", "-n", bind.nameserver, "--json"])
    assert lint.exit_code == 0 and check.exit_code == 0, (lint.output, check.output)
    for output in (lint.output, check.output):
        codes = {f["code"] for f in json.loads(output) if f["name"].startswith("hop.test")}
        assert "naptr-flag-not-s" not in codes and "naptr-replacement-no-srv" not in codes
        assert "naptr-non-terminal" in codes
