"""DNS modes (naptr, srv, a, static): where the one RFC 3263 walk starts, over a zone file."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from siplocate import Resolver
from siplocate.cli import app
from siplocate.errors import BadInput, NotFound
from siplocate.profiles import DnsMode
from siplocate.trace import Note, Query
from tests.conftest import EXAMPLE_ZONES, TEST_ZONES

MODES = str(TEST_ZONES / "modes.test.zone")
AIRTIES = str(EXAMPLE_ZONES / "airties.test.zone")
runner = CliRunner()
STICKY_STATIC = [
    "register",
    "sip:a@x.test",
    "--mode",
    "static",
    "--policy",
    "sticky",
    "--sip-server",
    "192.0.2.1",
]


def flows(res: object) -> list[tuple[str, str, int, str]]:
    return [
        (t.transport.value, t.address, t.port, t.via.value)
        for t in res.targets  # type: ignore[attr-defined]
    ]


async def test_naptr_mode_follows_the_naptr_records_only() -> None:
    res = await Resolver(zones=[MODES], mode="naptr").locate("sip:modes.test", seed=1)
    got = flows(res)
    assert got[0] == ("tls", "192.0.2.61", 5061, "naptr")
    assert {t for t, *_ in got} == {"tls", "udp"}  # _sip._tcp has no NAPTR: not used


async def test_srv_mode_never_asks_naptr_and_asks_every_transport() -> None:
    res = await Resolver(zones=[MODES], mode=DnsMode.SRV).locate("sip:modes.test", seed=1)
    asked = {(e.name, e.rdtype) for e in res.trace if isinstance(e, Query)}
    assert not any(rdtype == "NAPTR" for _, rdtype in asked)
    assert [t for t, *_ in flows(res)] == ["tls", "tcp", "udp", "udp"]  # RFC 3263 order
    assert {v for *_, v in flows(res)} == {"srv"}


async def test_srv_mode_keeps_to_the_clients_transports() -> None:
    res = await Resolver(zones=[MODES], transports="udp", mode="srv").locate("modes.test")
    assert {(t, a) for t, a, *_ in flows(res)} == {("udp", "192.0.2.11"), ("udp", "192.0.2.12")}


async def test_a_mode_uses_the_domains_own_address_and_default_port() -> None:
    res = await Resolver(zones=[MODES], mode="a").locate("sip:alice@modes.test")
    assert flows(res) == [("udp", "192.0.2.100", 5060, "a")]
    asked = {e.rdtype for e in res.trace if isinstance(e, Query)}
    assert asked <= {"A", "AAAA"}
    tls = await Resolver(zones=[MODES], transports="tls", mode="a").locate("modes.test")
    assert flows(tls) == [("tls", "192.0.2.100", 5061, "a")]
    tcp = await Resolver(zones=[MODES], mode="a").locate("sip:modes.test;transport=tcp")
    assert flows(tcp) == [("tcp", "192.0.2.100", 5060, "a")]


async def test_a_mode_without_an_address_at_the_domain_says_so() -> None:
    with pytest.raises(NotFound, match=r"DNS mode a .*airties.test has no A/AAAA"):
        await Resolver(zones=[AIRTIES], mode="a").locate("airties.test")


async def test_explicit_port_and_ip_literal_mean_the_same_in_every_mode() -> None:
    for mode in ("naptr", "srv", "a"):
        r = Resolver(zones=[MODES], mode=mode)
        assert flows(await r.locate("sip:modes.test:5080")) == [("udp", "192.0.2.100", 5080, "a")]
        assert flows(await r.locate("sip:192.0.2.7")) == [("udp", "192.0.2.7", 5060, "literal")]


async def test_static_mode_keeps_the_configured_order_and_asks_nothing() -> None:
    r = Resolver(zones=[MODES], mode="static", static=["192.0.2.5", "192.0.2.6:5070;transport=tcp"])
    for seed in range(5):  # no weighted shuffle can reorder a primary and its backups
        res = await r.locate("sip:modes.test", seed=seed)
        assert flows(res) == [
            ("udp", "192.0.2.5", 5060, "literal"),
            ("tcp", "192.0.2.6", 5070, "literal"),
        ]
        assert not [e for e in res.trace if isinstance(e, Query)]
    assert any("static" in e.message for e in res.trace if isinstance(e, Note))
    assert res.expires is None


def test_modes_refuse_what_does_not_fit() -> None:
    with pytest.raises(BadInput, match="unknown DNS mode 'dns'"):
        Resolver(zones=[MODES], mode="dns")
    with pytest.raises(BadInput, match="at least one server"):
        Resolver(zones=[MODES], mode="static")
    with pytest.raises(BadInput, match="for the static DNS mode"):
        Resolver(zones=[MODES], static=["192.0.2.5"])
    with pytest.raises(BadInput, match="must be an IP address"):
        Resolver(zones=[MODES], mode="static", static=["sip1.modes.test"])


def test_resolve_mode_from_the_cli() -> None:
    out = runner.invoke(app, ["resolve", "modes.test", "--zone", MODES, "--mode", "a", "--json"])
    assert out.exit_code == 0, out.output
    assert [t["address"] for t in json.loads(out.stdout)["targets"]] == ["192.0.2.100"]
    static = runner.invoke(
        app, ["resolve", "x.test", "--mode", "static", "--sip-server", "192.0.2.9", "--json"]
    )
    assert static.exit_code == 0, static.output
    assert json.loads(static.stdout)["targets"][0]["via"] == "literal"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["resolve", "modes.test", "--zone", MODES, "--mode", "dns"], "unknown DNS mode"),
        (
            ["resolve", "modes.test", "--zone", MODES, "--sip-server", "192.0.2.1"],
            "static DNS mode",
        ),
        (["register", "sip:a@modes.test", "--mode", "static"], "needs at least one --sip-server"),
        (
            STICKY_STATIC,
            "--mode static walks the --sip-server list",
        ),
        (["register", "sip:a@modes.test", "--mode", "bogus"], "unknown DNS mode"),
    ],
)
def test_bad_modes_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    out = runner.invoke(app, [*args, "--json"])
    assert out.exit_code == 2, out.output
    assert json.loads(out.stdout)["error"]["kind"] == "bad-input"
    assert message in out.stderr and "Traceback" not in out.output
