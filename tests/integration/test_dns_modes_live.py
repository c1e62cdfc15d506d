"""DNS modes against real servers: each mode's walk over a live BIND9 finds what it finds in
the zone file, and `register --mode` reaches a real Kamailio the way its mode says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from siplocate import Resolver
from siplocate.cli import app
from siplocate.trace import Query
from tests.conftest import TEST_ZONES
from tests.fixtures.bind import BindServer
from tests.fixtures.kamailio import PASSWORD, Cluster

pytestmark = pytest.mark.integration
MODES = TEST_ZONES / "modes.test.zone"


def flows(res: object) -> list[tuple[str, str, int, str]]:
    return [(t.transport.value, t.address, t.port, t.via.value) for t in res.targets]  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", ["naptr", "srv", "a"])
async def test_each_mode_live_matches_the_zone_file(bind: BindServer, mode: str) -> None:
    live = Resolver([bind.nameserver], mode=mode)
    try:
        got = await live.locate("sip:modes.test", seed=7)
    finally:
        live.close()
    offline = await Resolver(zones=[MODES], mode=mode).locate("sip:modes.test", seed=7)
    assert flows(got) == flows(offline)
    asked = {e.rdtype for e in got.trace if isinstance(e, Query)}
    assert ("NAPTR" in asked) is (mode == "naptr")
    assert ("SRV" in asked) is (mode != "a")


def test_register_mode_srv_and_static_reach_real_kamailio(cluster: Cluster, tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(0o600)
    common = ["--password-file", str(pw), "-t", "udp", "--t1", "100ms", "--json"]
    srv = CliRunner().invoke(
        app, ["register", cluster.aor, "-n", cluster.nameserver, "--mode", "srv", *common]
    )
    assert srv.exit_code == 0, srv.output
    assert json.loads(srv.stdout)["registered"]["address"] == cluster.primary.address
    backup = cluster.backup.hostport
    static = CliRunner().invoke(
        app, ["register", cluster.aor, "--mode", "static", "--sip-server", backup, *common]
    )
    assert static.exit_code == 0, static.output
    registered = json.loads(static.stdout)["registered"]
    assert (registered["address"], registered["port"]) == (
        cluster.backup.address,
        cluster.backup.port,
    )
