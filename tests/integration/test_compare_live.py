"""`siplocate compare` against a real BIND9: the one walk over the network gives every
profile the same first server, try order, split and problems as the zone file does."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from siplocate.cli import app
from tests.conftest import TEST_ZONES
from tests.fixtures.bind import BindServer

pytestmark = pytest.mark.integration
DIVERGE = str(TEST_ZONES / "diverge.test.zone")
DOMAINS = ["tls-first", "no-tls-srv", "no-tls-addr", "udp-last", "weights", "tier", "se-flag", "v6"]


def rows(args: list[str]) -> dict[str, object]:
    out = CliRunner().invoke(app, ["compare", *args, "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    return {
        p["profile"]: (p["first"], p["targets"], p["split"], p["problems"])
        for p in data["profiles"]
    } | {"_trace": data["trace"]}


@pytest.mark.parametrize("domain", DOMAINS)
def test_compare_live_matches_the_zone_file(bind: BindServer, domain: str) -> None:
    name = f"{domain}.diverge.test"
    live = rows([name, "-n", bind.nameserver])
    offline = rows([name, "-z", DIVERGE])
    trace = live.pop("_trace")
    offline.pop("_trace")
    assert live == offline
    asked = [
        (e["name"], e["type"]) for e in trace if e["kind"] == "query" and e["source"] == "network"
    ]
    assert asked and len(asked) == len(set(asked))  # one walk: nothing asked twice
