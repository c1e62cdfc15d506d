"""Apply, drain and undrain against a real BIND9 primary that takes TSIG-signed updates."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import dns.name
import dns.rdatatype
import pytest
from typer.testing import CliRunner

from siplocate.cli import app
from siplocate.errors import OperationFailed
from siplocate.zone import load_plan
from siplocate.zone.apply import apply_plan, plan_changes
from siplocate.zone.drain import DRAIN_PRIORITY, drain, read_state, undrain
from siplocate.zone.keys import TsigKey, load_key
from siplocate.zone.update import Change, Server, rdataset
from tests.conftest import EXAMPLE_ZONES, ROOT, start_bind
from tests.fixtures.bind import BindServer

pytestmark = pytest.mark.integration
runner = CliRunner()
N = dns.name.from_text
ONSIP_PLAN = ROOT / "examples" / "plans" / "onsip.toml"
EMPTY = """$ORIGIN onsip.test.
$TTL 300
@ IN SOA ns1 hostmaster 1 3600 600 1209600 300
@ IN NS ns1
ns1 IN A 198.51.100.53
"""


@pytest.fixture
def bind(tmp_path: Path) -> Iterator[BindServer]:
    """A primary serving an (almost) empty onsip.test and the FreeSWITCH example zone."""
    empty = tmp_path / "onsip.test.zone"
    empty.write_text(EMPTY)
    server = start_bind([empty, EXAMPLE_ZONES / "freeswitch.test.zone"], tsig=True)
    yield server
    server.stop()


def primary(bind: BindServer, key: TsigKey | None = None) -> Server:
    return Server.parse(bind.nameserver, key or load_key(bind.key_file))


def without_serial(axfr: str) -> str:
    """AXFR text with the SOA serial blanked: BIND bumps it on every accepted update."""
    return re.sub(r"(IN SOA \S+ \S+ )\d+", r"\1SERIAL", axfr)


def test_apply_then_reapply_changes_nothing(bind: BindServer) -> None:
    plan = load_plan(ONSIP_PLAN)
    result = apply_plan(plan, primary(bind))
    assert result.applied and len(result.changes) == 7  # NAPTR, 3 SRV, 3 A
    assert "+onsip.test. 300 IN NAPTR 50 50" in result.diff_text()
    axfr = bind.axfr_text("onsip.test")
    assert "_sips._tcp 300 IN SRV 0 2 5061 server2" in axfr
    again = apply_plan(plan, primary(bind))
    assert again.changes == [] and not again.applied
    assert bind.axfr_text("onsip.test") == axfr  # not even the serial moved


def test_apply_replaces_only_what_changed_and_deletes_dropped_transports(
    bind: BindServer,
) -> None:
    plan = load_plan(ONSIP_PLAN)
    apply_plan(plan, primary(bind))
    smaller = dataclasses.replace(plan, offers=plan.offers[:2])  # drop UDP
    result = apply_plan(smaller, primary(bind))
    changed = {(str(c.name), dns.rdatatype.to_text(c.rdtype)) for c in result.changes}
    assert changed == {("onsip.test.", "NAPTR"), ("_sip._udp.onsip.test.", "SRV")}
    axfr = bind.axfr_text("onsip.test")
    assert "_sip._udp" not in axfr and "SIP+D2U" not in axfr
    assert "ns1 300 IN A 198.51.100.53" in axfr  # outside the plan: untouched


def test_dry_run_sends_nothing(bind: BindServer) -> None:
    before = bind.axfr_text("onsip.test")
    result = apply_plan(load_plan(ONSIP_PLAN), primary(bind), dry_run=True)
    assert result.changes and not result.applied
    assert bind.axfr_text("onsip.test") == before


def test_concurrent_edit_fails_cleanly_and_applies_nothing(bind: BindServer) -> None:
    server = primary(bind)
    plan = load_plan(ONSIP_PLAN)
    apply_plan(plan, server)
    # We read the zone and compute our changes...
    changed = dataclasses.replace(plan, ttl=600)
    zone, changes = plan_changes(changed, server)
    assert len(changes) == 4
    # ...meanwhile someone else edits one of those RRsets...
    name = N("_sip._tcp.onsip.test.")
    old = next(c.old for c in changes if c.name == name)
    theirs = rdataset(dns.rdatatype.SRV, 300, ["0 1 5060 server1.onsip.test."])
    server.update(zone, [Change((name, dns.rdatatype.SRV), old, theirs)])
    middle = bind.axfr_text("onsip.test")
    # ...so our update must be rejected as a whole.
    with pytest.raises(OperationFailed, match=r"NXRRSET.*nothing was applied"):
        server.update(zone, changes)
    assert bind.axfr_text("onsip.test") == middle


def test_wrong_key_unknown_key_and_unsigned_are_rejected_clearly(bind: BindServer) -> None:
    plan = load_plan(ONSIP_PLAN)
    key = load_key(bind.key_file)
    with pytest.raises(OperationFailed, match=r"NOTAUTH \(BADSIG\)") as info:
        apply_plan(plan, primary(bind, dataclasses.replace(key, secret=b"w" * 32)))
    assert key.secret.hex() not in str(info.value)
    with pytest.raises(OperationFailed, match=r"NOTAUTH \(BADKEY\)"):
        apply_plan(plan, primary(bind, dataclasses.replace(key, name="other-key")))
    with pytest.raises(OperationFailed, match="REFUSED"):
        apply_plan(plan, Server.parse(bind.nameserver, None))
    assert "NAPTR" not in bind.axfr_text("onsip.test")


def test_drain_undrain_round_trip_is_byte_for_byte(bind: BindServer) -> None:
    server, domain = primary(bind), N("freeswitch.test.")
    before = bind.axfr_text("freeswitch.test")
    result = drain(server, domain, "sip1")
    assert len(result.changes) == 4 and result.ttl == 300  # 3 SRV RRsets + the drain record
    drained = bind.axfr_text("freeswitch.test")
    assert f"_sip._udp 300 IN SRV {DRAIN_PRIORITY} 10 5060 sip1" in drained
    assert "_sip._udp 300 IN SRV 100 10 5060 sip2" in drained
    assert "_siplocate-drain" in drained  # the state lives in the zone, beside the SRV sets
    assert [d.priority for d in read_state(server, domain).drains] == [100, 100, 100]
    undrain(server, domain, "sip1")
    after = bind.axfr_text("freeswitch.test")
    assert without_serial(after) == without_serial(before)
    assert after.splitlines()[1:] == before.splitlines()[1:]  # everything but the SOA line
    assert read_state(server, domain).drains == []


def test_drains_of_two_hosts_undo_in_any_order(bind: BindServer) -> None:
    """drain sip1, drain sip2, undrain sip1 failed with NXRRSET: the state was one
    whole-RRset snapshot per host."""
    server, domain = primary(bind), N("freeswitch.test.")
    before = bind.axfr_text("freeswitch.test")
    drain(server, domain, "sip1")
    second = drain(server, domain, "sip2")
    assert len(second.warnings) == 1 and "no server is left in rotation" in second.warnings[0]
    assert "_sip._udp.freeswitch.test." in second.warnings[0]
    undrain(server, domain, "sip1")
    middle = bind.axfr_text("freeswitch.test")
    assert "_sip._udp 300 IN SRV 100 10 5060 sip1" in middle
    assert f"_sip._udp 300 IN SRV {DRAIN_PRIORITY} 10 5060 sip2" in middle
    assert {str(d.host) for d in read_state(server, domain).drains} == {"sip2.freeswitch.test."}
    undrain(server, domain, "sip2")
    assert without_serial(bind.axfr_text("freeswitch.test")) == without_serial(before)


def test_drain_then_apply_then_undrain_is_not_stuck(bind: BindServer) -> None:
    """`zone apply` of the plan restores the priorities; undrain then only clears the record
    (it failed forever before)."""
    server, domain = primary(bind), N("freeswitch.test.")
    plan = load_plan(ROOT / "examples" / "plans" / "freeswitch.toml")
    apply_plan(plan, server)
    drain(server, domain, "sip1")
    applied = apply_plan(plan, server)
    assert [str(d.host) for d in applied.undone_drains()] == ["sip1.freeswitch.test."] * 3
    result = undrain(server, domain, "sip1")
    assert [c.rdtype for c in result.changes] == [dns.rdatatype.TXT]
    assert len(result.warnings) == 1 and "left as it is" in result.warnings[0]
    assert read_state(server, domain).drains == []
    assert apply_plan(plan, server).changes == []


def test_forget_clears_only_the_record(bind: BindServer) -> None:
    server, domain = primary(bind), N("freeswitch.test.")
    drain(server, domain, "sip2")
    result = undrain(server, domain, "sip2", forget=True)
    assert [c.rdtype for c in result.changes] == [dns.rdatatype.TXT]
    assert f"IN SRV {DRAIN_PRIORITY} 10 5060 sip2" in bind.axfr_text("freeswitch.test")
    assert read_state(server, domain).drains == []


def nsupdate(bind: BindServer, *lines: str) -> None:
    """Another party's edit: BIND's own nsupdate, signed with the test key, on loopback."""
    script = "\n".join([f"server {bind.address} {bind.port}", *lines, "send", ""])
    done = subprocess.run(
        ["nsupdate", "-k", str(bind.key_file)], input=script, capture_output=True, text=True,
        timeout=20,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_undrain_refuses_markers_that_disagree(bind: BindServer) -> None:
    """Issue 17: a second drain marker for sip2's UDP record, written by another party, made
    undrain restore priority 0 instead of the recorded 100, silently. Now undrain changes
    nothing, exits 1 and names both markers with the nsupdate lines that delete them; once
    the wrong one is deleted as told, undrain restores the recorded priority. A marker for an
    SRV set of another domain is ignored with a warning."""
    server, domain = primary(bind), N("freeswitch.test.")
    before = bind.axfr_text("freeswitch.test")
    drain(server, domain, "sip2")
    wrong = (
        '"siplocate-drain/1" "_sip._udp.freeswitch.test." "sip2.freeswitch.test." '
        '"0 10 5060" "1700000000"'
    )
    elsewhere = (
        '"siplocate-drain/1" "_sip._udp.other.test." "sip2.freeswitch.test." "0 10 5060" "1"'
    )
    marker = "_siplocate-drain.freeswitch.test."
    nsupdate(bind, f"update add {marker} 60 TXT {wrong}", f"update add {marker} 60 TXT {elsewhere}")
    drained = bind.axfr_text("freeswitch.test")
    args = ["-d", "freeswitch.test", "-s", bind.nameserver, "-k", str(bind.key_file)]
    refused = runner.invoke(app, ["undrain", "sip2", *args, "--json"])
    assert refused.exit_code == 1, refused.output
    assert bind.axfr_text("freeswitch.test") == drained  # nothing changed
    error = refused.stderr.strip()
    assert len(error.splitlines()) == 1 and "disagree about _sip._udp.freeswitch.test." in error
    assert "priority 0" in error and "priority 100" in error
    [conflict] = json.loads(refused.stdout)["conflicts"]
    deletes = [line for line in conflict["nsupdate"] if '"0 10 5060"' in line]
    assert deletes == [f"update delete {marker} TXT {wrong}"] and deletes[0] in error
    listed = runner.invoke(app, ["drain", "--list", *args])
    assert "disagree" in listed.stderr and "_sip._udp.other.test." in listed.stderr
    nsupdate(bind, *deletes)  # the resolution the message gave
    result = undrain(server, domain, "sip2")
    assert any("_sip._udp.other.test." in w and "ignored" in w for w in result.warnings)
    after = bind.axfr_text("freeswitch.test")
    assert "_sip._udp 300 IN SRV 100 10 5060 sip2" in after
    assert [line for line in after.splitlines()[1:] if "siplocate-drain" not in line] == [
        line for line in before.splitlines()[1:]
    ]
    assert "_sip._udp.other.test." in after  # the other domain's marker is left as found


def test_a_second_drain_replaces_its_own_stale_marker(bind: BindServer) -> None:
    """sip2 drained (marker: priority 100), then put back by hand at priority 20, then
    drained again: the new marker replaces the stale one, so siplocate never writes two
    markers that disagree, and undrain restores 20."""
    server, domain = primary(bind), N("freeswitch.test.")
    drain(server, domain, "sip2")
    udp = "_sip._udp.freeswitch.test."
    nsupdate(
        bind,
        f"update delete {udp} SRV {DRAIN_PRIORITY} 10 5060 sip2.freeswitch.test.",
        f"update add {udp} 300 SRV 20 10 5060 sip2.freeswitch.test.",
    )
    drain(server, domain, "sip2")
    state = read_state(server, domain)
    assert state.markers.problems == []
    assert sorted((str(d.srv_name), d.priority) for d in state.drains) == [
        ("_sip._tcp.freeswitch.test.", 100), (udp, 20), ("_sips._tcp.freeswitch.test.", 100),
    ]  # fmt: skip
    undrain(server, domain, "sip2")
    assert "_sip._udp 300 IN SRV 20 10 5060 sip2" in bind.axfr_text("freeswitch.test")


def test_failed_drain_update_records_nothing(bind: BindServer) -> None:
    """State and SRV change travel in ONE update: a refused update leaves neither."""
    domain = N("freeswitch.test.")
    before = bind.axfr_text("freeswitch.test")
    with pytest.raises(OperationFailed, match="REFUSED"):
        drain(Server.parse(bind.nameserver, None), domain, "sip1")
    assert bind.axfr_text("freeswitch.test") == before
    assert read_state(primary(bind), domain).drains == []


def test_cli_apply_drain_undrain(bind: BindServer) -> None:
    key = str(bind.key_file)
    args = ["--server", bind.nameserver, "--key", key]
    dry = runner.invoke(app, ["zone", "apply", str(ONSIP_PLAN), *args, "--dry-run", "--no-axfr"])
    assert dry.exit_code == 0, dry.output
    assert "+_sips._tcp.onsip.test. 300 IN SRV 0 1 5061 server1.onsip.test." in dry.output
    assert "dry run" in dry.output
    done = runner.invoke(app, ["zone", "apply", str(ONSIP_PLAN), *args, "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["applied"] is True
    again = runner.invoke(app, ["zone", "apply", str(ONSIP_PLAN), *args])
    assert "nothing sent" in again.output
    secret = re.search(r'secret "([^"]+)"', bind.key_file.read_text())
    assert secret is not None
    for out in (dry.output, done.output, again.output):
        assert secret.group(1) not in out
    drained = runner.invoke(app, ["drain", "server1", "-d", "onsip.test", *args])
    assert drained.exit_code == 0, drained.output
    assert "may still pick server1.onsip.test." in drained.output
    listed = runner.invoke(app, ["drain", "--list", "-d", "onsip.test", *args])
    assert listed.exit_code == 0 and "server1.onsip.test. _sip._tcp.onsip.test." in listed.output
    as_json = runner.invoke(app, ["drain", "--list", "-d", "onsip.test", *args, "--json"])
    assert {d["host"] for d in json.loads(as_json.stdout)["drains"]} == {"server1.onsip.test."}
    # Draining a drained host and undraining an undrained one: the same kind of answer.
    twice = runner.invoke(app, ["drain", "server1", "-d", "onsip.test", *args])
    assert twice.exit_code == 0 and "already drained" in twice.output
    warned = runner.invoke(app, ["zone", "apply", str(ONSIP_PLAN), *args, "--dry-run"])
    assert "server1.onsip.test. is drained" in warned.output
    back = runner.invoke(app, ["undrain", "server1", "-d", "onsip.test", *args])
    assert back.exit_code == 0, back.output
    back_again = runner.invoke(app, ["undrain", "server1", "-d", "onsip.test", *args])
    assert back_again.exit_code == 0 and "not drained" in back_again.output
    missing = runner.invoke(app, ["drain", "nosuch", "-d", "onsip.test", *args, "--json"])
    assert missing.exit_code == 1 and "no SRV record" in missing.output
    assert json.loads(missing.stdout)["error"]["kind"] == "not-found"


def test_cli_wrong_key_is_one_line_exit_1(bind: BindServer, tmp_path: Path) -> None:
    bad = tmp_path / "bad.conf"
    text = bind.key_file.read_text()
    bad.write_text(
        re.sub(r'secret "[^"]+"', 'secret "d3JvbmctdGVzdC1zZWNyZXQtMzItYnl0ZXMhISEhIQ=="', text)
    )
    bad.chmod(0o644)
    result = runner.invoke(
        app, ["zone", "apply", str(ONSIP_PLAN), "--server", bind.nameserver, "--key", str(bad)]
    )
    assert result.exit_code == 1
    errors = [ln for ln in result.output.splitlines() if "error" in ln]
    assert len(errors) == 1 and "NOTAUTH (BADSIG)" in errors[0]
    assert "chmod 600" in result.output  # the group/other-readable warning
    assert "Traceback" not in result.output


def test_cli_drain_wait_reports_when_the_old_ttl_has_passed(tmp_path: Path) -> None:
    zone = tmp_path / "short.test.zone"
    zone.write_text(
        "$ORIGIN short.test.\n$TTL 1\n@ IN SOA ns1 hostmaster 1 3600 600 1209600 1\n"
        "@ IN NS ns1\nns1 IN A 192.0.2.53\n@ IN A 192.0.2.1\n"
        "_sip._udp IN SRV 0 1 5060 a\n_sip._udp IN SRV 0 1 5060 b\n"
        "a IN A 192.0.2.1\nb IN A 192.0.2.2\n"
    )
    server = start_bind([zone], tsig=True)
    try:
        args = ["-d", "short.test", "--server", server.nameserver, "--key", str(server.key_file)]
        result = runner.invoke(app, ["drain", "a", *args, "--wait"])
        assert result.exit_code == 0, result.output
        assert "TTL 1 s" in result.output and "TTL passed at" in result.output
        assert "waiting for the old TTL: 1 s left" in result.output  # progress while waiting
        undone = runner.invoke(app, ["undrain", "a", *args])
        assert undone.exit_code == 0, undone.output
        quiet = runner.invoke(app, ["drain", "a", *args, "--wait", "--json"])
        assert json.loads(quiet.stdout)["action"] == "drained"  # one document on stdout
        assert "TTL passed at" in quiet.stderr
        as_json = runner.invoke(app, ["undrain", "a", *args, "--json"])
        data = json.loads(as_json.stdout)
        assert data["action"] == "undrained" and data["ttl"] == 1
        assert "+_sip._udp.short.test. 1 IN SRV 0 1 5060 a.short.test." in data["diff"]
    finally:
        server.stop()


def test_apply_without_zone_transfer_reads_by_query_and_ignores_wildcards() -> None:
    """Without AXFR records are read one query at a time; the DooxSwitch zone's
    `*._tcp SRV 0 0 0 .` wildcard must not look like a real _sip._tcp RRset."""
    server = start_bind([EXAMPLE_ZONES / "sipdomain.test.zone"], tsig=True)
    try:
        by_query = dataclasses.replace(primary(server), use_axfr=False)
        plan = load_plan(ROOT / "examples" / "plans" / "sipdomain.toml")
        first = apply_plan(plan, by_query)
        assert first.applied
        kinds = {(str(c.name), dns.rdatatype.to_text(c.rdtype)) for c in first.changes}
        assert ("_sip._tcp.sipdomain.test.", "SRV") not in kinds
        assert ("sipdomain.test.", "NAPTR") in kinds
        assert apply_plan(plan, primary(server)).changes == []  # AXFR agrees
        again = apply_plan(plan, by_query)
        assert again.changes == []
    finally:
        server.stop()
