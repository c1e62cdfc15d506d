"""Plans: TOML -> records, validation, and render -> parse round trips (property-based)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import dns.name
import dns.rdatatype
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siplocate.dns.zonefile import load_zone
from siplocate.errors import BadInput
from siplocate.target import TRANSPORTS, Transport
from siplocate.zone import load_plan, plan_from_dict, render_bind, render_json, render_nsupdate
from siplocate.zone.lint import lint_zone_files
from tests.conftest import ROOT

PLANS = sorted((ROOT / "examples" / "plans").glob("*.toml"))
N = dns.name.from_text


def test_example_plans_exist() -> None:
    assert {p.stem for p in PLANS} >= {"sipdomain", "freeswitch", "onsip"}


def test_freeswitch_plan_prefers_tls_over_tcp_over_udp_with_standby() -> None:
    plan = load_plan(ROOT / "examples/plans/freeswitch.toml")
    records = plan.records()
    naptr = sorted(records[(N("freeswitch.test."), dns.rdatatype.NAPTR)], key=lambda r: r.order)
    assert [(r.order, r.service) for r in naptr] == [
        (50, b"SIPS+D2T"),
        (90, b"SIP+D2T"),
        (100, b"SIP+D2U"),
    ]
    assert all(r.flags == b"s" for r in naptr)
    srv = records[(N("_sips._tcp.freeswitch.test."), dns.rdatatype.SRV)]
    assert sorted((r.priority, r.weight, r.port, str(r.target)) for r in srv) == [
        (10, 100, 5061, "sip1.freeswitch.test."),
        (100, 100, 5061, "sip2.freeswitch.test."),
    ]
    assert records[(N("sip1.freeswitch.test."), dns.rdatatype.AAAA)].ttl == 3600


def test_sipdomain_plan_splits_load_one_to_three_with_standby_and_offsite() -> None:
    plan = load_plan(ROOT / "examples/plans/sipdomain.toml")
    srv = plan.records()[(N("_sip._udp.sipdomain.test."), dns.rdatatype.SRV)]
    tiers = sorted((r.priority, r.weight, str(r.target)) for r in srv)
    assert tiers[:2] == [(0, 1, "1x-load.sipdomain.test."), (0, 3, "3x-load.sipdomain.test.")]
    assert {t[0] for t in tiers} == {0, 1, 2}
    # The off-site servers get no A records here: their zone is elsewhere.
    assert (N("offsite-failover1.elsewhere.test."), dns.rdatatype.A) not in plan.records()


@pytest.mark.parametrize("plan_path", PLANS, ids=lambda p: p.stem)
def test_example_plans_render_zones_that_lint_without_errors(
    plan_path: Path, tmp_path: Path
) -> None:
    plan = load_plan(plan_path)
    zone = tmp_path / f"{plan.domain.to_text(omit_final_dot=True)}.zone"
    zone.write_text(render_bind(plan))
    findings, _ = lint_zone_files([zone])
    assert [f.code for f in findings if f.severity == "error"] == []


@pytest.mark.parametrize("plan_path", PLANS, ids=lambda p: p.stem)
def test_bind_output_passes_named_checkzone(plan_path: Path, tmp_path: Path) -> None:
    checker = shutil.which("named-checkzone")
    if checker is None:
        pytest.fail("named-checkzone not found: apt-get install -y bind9-utils")
    plan = load_plan(plan_path)
    zone = tmp_path / "plan.zone"
    zone.write_text(render_bind(plan))
    proc = subprocess.run(
        [checker, str(plan.domain), str(zone)], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK" in proc.stdout


def test_nsupdate_and_json_formats() -> None:
    plan = load_plan(ROOT / "examples/plans/onsip.toml")
    text = render_nsupdate(plan)
    assert text.startswith("zone onsip.test.\n") and text.endswith("send\n")
    assert "update delete _sips._tcp.onsip.test. SRV" in text
    assert "update add _sips._tcp.onsip.test. 300 IN SRV 0 2 5061 server2.onsip.test." in text
    data = render_json(plan)
    json.dumps(data)
    assert {"name", "type", "ttl", "data"} == set(data[0])
    assert data[0]["type"] == "NAPTR"  # the domain's NAPTRs come first


def base(**extra: object) -> dict[str, object]:
    data: dict[str, object] = {
        "domain": "example.test",
        "transports": {"udp": {"order": 10}},
        "server": [{"host": "sip1", "addresses": ["192.0.2.1"]}],
    }
    data.update(extra)
    return data


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"transports": {"udp": 1}, "server": []}, "at least one [[server]]"),
        (base(transports={"udq": {"order": 1}}), "unknown transport 'udq'"),
        (base(server=[{"host": "sip1"}]), "has no addresses"),
        (base(server=[{"host": "sip1", "addresses": ["300.1.1.1"]}]), "not an IP address"),
        (base(ttl=-1), "ttl must be an integer"),
        (base(colour="blue"), "unknown key(s) colour"),
        (base(server=[{"host": "sip1", "addresses": ["192.0.2.1"], "weight": 70000}]), "weight"),
        (
            base(server=[{"host": "a", "addresses": ["192.0.2.1"], "transports": ["tls"]}]),
            "not in [transports]",
        ),
        (
            base(
                server=[
                    {"host": "a", "addresses": ["192.0.2.1"]},
                    {"host": "a", "addresses": ["192.0.2.2"]},
                ]
            ),
            "listed twice",
        ),
    ],
)
def test_bad_plans_say_what_is_wrong(data: dict[str, object], needle: str) -> None:
    data.setdefault("domain", "example.test")
    with pytest.raises(BadInput, match=None) as info:
        plan_from_dict(data)
    assert needle in str(info.value)


def test_missing_transports_and_broken_toml(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"\[transports\] is required"):
        plan_from_dict({"domain": "x.test", "server": [{"host": "a."}]})
    bad = tmp_path / "bad.toml"
    bad.write_text("domain = \n")
    with pytest.raises(BadInput, match=r"bad\.toml"):
        load_plan(bad)


def test_bind_render_needs_a_nameserver() -> None:
    with pytest.raises(BadInput, match=r"\[\[nameserver\]\]"):
        render_bind(plan_from_dict(base()))


def test_managed_keys_cover_every_transport_and_in_domain_hosts() -> None:
    plan = plan_from_dict(
        base(server=[{"host": "sip1", "addresses": ["192.0.2.1"]}, {"host": "far.example.org."}])
    )
    keys = plan.managed_keys()
    for info in TRANSPORTS.values():
        assert (N(f"{info.srv_prefix}.example.test."), dns.rdatatype.SRV) in keys
    assert (N("sip1.example.test."), dns.rdatatype.AAAA) in keys
    assert all(not name.is_subdomain(N("example.org.")) for name, _ in keys)


# --------------------------------------------------------------------------- round trip

_servers = st.lists(
    st.tuples(
        st.integers(0, 65535),
        st.integers(0, 65535),
        st.lists(st.integers(1, 254), min_size=1, max_size=2, unique=True),
        st.booleans(),
    ),
    min_size=1,
    max_size=4,
)
_offers = st.dictionaries(
    st.sampled_from([t.value for t in Transport]),
    st.tuples(st.integers(0, 65535), st.integers(0, 65535)),
    min_size=1,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(servers=_servers, offers=_offers, ttl=st.integers(0, 86400))
def test_render_then_parse_gives_the_plan_records(
    servers: list[tuple[int, int, list[int], bool]],
    offers: dict[str, tuple[int, int]],
    ttl: int,
    tmp_path: Path,
) -> None:
    data = {
        "domain": "prop.test",
        "ttl": ttl,
        "transports": {k: {"order": o, "preference": p} for k, (o, p) in offers.items()},
        "server": [
            {
                "host": f"s{i}",
                "priority": prio,
                "weight": weight,
                "addresses": [f"192.0.2.{x}" if not v6 else f"2001:db8::{x:x}" for x in addrs],
            }
            for i, (prio, weight, addrs, v6) in enumerate(servers)
        ],
        "nameserver": [{"host": "ns1", "addresses": ["192.0.2.53"]}],
    }
    plan = plan_from_dict(data)
    path = tmp_path / "prop.test.zone"
    path.write_text(render_bind(plan))
    zone = load_zone(path)
    for (name, rdtype), rds in plan.records().items():
        parsed = zone.get_rdataset(name, rdtype)
        assert parsed is not None, (name, rdtype)
        assert parsed == rds and parsed.ttl == rds.ttl
    naptrs = zone.get_rdataset(plan.domain, dns.rdatatype.NAPTR)
    assert naptrs is not None and len(naptrs) == len(offers)
    # Whatever the plan, its records never have an error-level lint finding.
    findings, _ = lint_zone_files([path])
    assert [f.code for f in findings if f.severity == "error"] == []
