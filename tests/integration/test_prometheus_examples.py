"""The Prometheus set-ups of ``examples/prometheus/``, run for real: a real Prometheus with
each example config (addresses and intervals replaced by loopback ones), three real
``siplocate watch`` processes, real BIND9 serving a 300-domain zone and a real Kamailio as
every domain's first-tier server. Every domain must appear exactly once across the three
instances in Prometheus' HTTP API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from siplocate.watch.rules import alert_rules
from siplocate.watch.shard import shard_of
from tests.conftest import start_bind
from tests.fixtures.bind import BindServer
from tests.fixtures.kamailio import Kamailio
from tests.fixtures.servers import free_port, require_binary
from tests.fixtures.watch import Prometheus, WatchProcess, wait_for

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "prometheus"
DOMAINS = [f"d{i:03d}.scale.test" for i in range(300)]
WAIT = 90.0  # seconds at most for Prometheus to have every domain (bounded)


@dataclass
class World:
    bind: BindServer
    kamailio: Kamailio
    domains_file: Path


def scale_zone(sip_port: int, closed_port: int) -> str:
    """300 domains: NAPTR -> SRV, tier 0 the Kamailio (on 127.0.0.2: the fixture relays
    requests for 127.0.0.1), tier 1 a port on 127.0.0.1 where nothing listens."""
    lines = [
        "$ORIGIN scale.test.",
        "$TTL 300",
        "@ IN SOA ns hostmaster 1 3600 600 86400 300",
        "@ IN NS ns",
        "ns IN A 127.0.0.1",
    ]
    for d in DOMAINS:
        name = d.removesuffix(".scale.test")
        lines += [
            f'{name} IN NAPTR 10 0 "s" "SIP+D2U" "" _sip._udp.{name}',
            f"_sip._udp.{name} IN SRV 10 0 {sip_port} sip1.{name}",
            f"_sip._udp.{name} IN SRV 20 0 {closed_port} sip2.{name}",
            f"sip1.{name} IN A 127.0.0.2",
            f"sip2.{name} IN A 127.0.0.1",
        ]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    require_binary("prometheus", "prometheus")
    kamailio = Kamailio("127.0.0.2", kamailio=require_binary("kamailio", "kamailio")).start()
    tmp = tmp_path_factory.mktemp("scale")
    zone = tmp / "scale.test.zone"
    zone.write_text(scale_zone(kamailio.port, free_port("127.0.0.1")))
    listing = tmp / "domains.txt"
    listing.write_text("# 300 customer domains\n" + "\n".join(DOMAINS) + "\n")
    bind = start_bind([zone])
    try:
        yield World(bind, kamailio, listing)
    finally:
        bind.stop()
        kamailio.stop()


def replaced(text: str, changes: dict[str, str]) -> str:
    """``text`` with each key replaced; every key must be there (the example kept its shape)."""
    for old, new in changes.items():
        assert old in text, f"the example no longer has {old!r}"
        text = text.replace(old, new)
    return text


def instance_changes(instances: list[WatchProcess]) -> dict[str, str]:
    return {f"siplocate-{i}.example.net:9470": w.url[7:] for i, w in enumerate(instances)}


def start_all(args: list[list[str]]) -> list[WatchProcess]:
    started: list[WatchProcess] = []
    try:
        for a in args:
            started.append(WatchProcess(a).start())
    except BaseException:
        for w in started:
            w.stop()
        raise
    return started


def series(prom: Prometheus, promql: str) -> list[dict[str, str]]:
    return [r["metric"] for r in prom.query(promql)]  # type: ignore[misc]


def test_hashmod_over_three_probe_exporters(world: World) -> None:
    common = ["-n", world.bind.nameserver, "-t", "udp", "--timeout", "0.5", "-q"]
    instances = start_all([["--probe-any", *common] for _ in range(3)])
    sd = json.dumps([{"targets": DOMAINS}])  # file_sd takes JSON or YAML
    config = replaced(
        (EXAMPLES / "probe-hashmod.yml").read_text(),
        {
            **instance_changes(instances),
            "scrape_interval: 30s": "scrape_interval: 15s",
            "scrape_timeout: 10s": "scrape_timeout: 5s",
            "evaluation_interval: 30s": "evaluation_interval: 5s",
        },
    )
    prom = Prometheus(
        config=config,
        files={"siplocate-domains.yml": sd, "siplocate-alerts.yml": alert_rules()},
    )
    prom.start()
    try:
        took = wait_for(
            lambda: len(series(prom, "probe_success")) == len(DOMAINS),
            WAIT,
            "Prometheus to have probe_success for all 300 domains",
            0.5,
        )
        print(f"\nhashmod: 300 domains in Prometheus after {took:.1f} s")
        found = series(prom, "probe_success")
        domains = [m["instance"] for m in found]
        assert sorted(domains) == DOMAINS  # each exactly once
        exporters = {m["exporter"] for m in found}
        assert exporters == {w.url[7:] for w in instances}  # all three took a share
        for m in found:  # one domain, one exporter, over the whole scrape history
            assert m["job"] == "siplocate-probe"
        owners = series(prom, "count by (instance) (count_over_time(probe_success[5m]) > 0)")
        assert len(owners) == len(DOMAINS)
        wait_for(  # Kamailio answered each domain's first-tier probe at least once
            lambda: (
                len(series(prom, 'max_over_time(probe_sip_target_up{tier="0"}[5m]) == 1'))
                == len(DOMAINS)
            ),
            WAIT,
            "every domain's first-tier target up, with its tier label",
            0.5,
        )
        down = series(prom, 'probe_sip_target_up{tier="1"} == 0')
        assert sorted(m["domain"] for m in down) == DOMAINS
        assert not series(prom, "count by (instance) (probe_success) > 1")
        rules = json.loads(_get(prom, "/api/v1/rules"))["data"]["groups"]
        assert rules[0]["rules"][0]["name"] == "SiplocateTargetDown"  # the rules loaded
    finally:
        prom.stop()
        for w in instances:
            w.stop()


def test_three_watch_shards_as_one_job(world: World, tmp_path: Path) -> None:
    # lint = false: with lint on, a watcher sometimes dies at start with a CancelledError
    # out of dns/cache.py (a shared refresh cancelled by one asker while another joins it;
    # reported, not fixed here). This test is about sharding, not lint.
    conf = tmp_path / "watch.toml"
    conf.write_text("lint = false\n")
    args = [
        [
            *["-f", str(world.domains_file), "--shard", f"{i}/3", "-n", world.bind.nameserver],
            *["--config", str(conf), "-t", "udp", "--interval", "5", "--timeout", "0.5", "-q"],
        ]
        for i in range(3)
    ]
    instances = start_all(args)
    config = replaced(
        (EXAMPLES / "watch-shards.yml").read_text(),
        {
            **instance_changes(instances),
            "scrape_interval: 30s": "scrape_interval: 1s",
            "scrape_timeout: 10s": "scrape_timeout: 1s",
            "evaluation_interval: 30s": "evaluation_interval: 1s",
        },
    )
    prom = Prometheus(config=config, files={"siplocate-alerts.yml": alert_rules()}).start()
    try:
        took = wait_for(
            lambda: (
                len(series(prom, 'siplocate_domain_targets_up{job="siplocate"} >= 1'))
                == len(DOMAINS)
            ),
            WAIT,
            "Prometheus to have every domain up, across the three shards",
            0.5,
        )
        print(f"\nshards: 300 domains in Prometheus after {took:.1f} s")
        found = series(prom, "siplocate_domain_targets")
        assert sorted(m["domain"] for m in found) == DOMAINS  # each exactly once
        shard_at = {
            m["instance"]: int(m["shard"])
            for m in series(prom, 'siplocate_watch_shard_info{shards="3"} == 1')
        }
        assert sorted(shard_at.values()) == [0, 1, 2]
        for m in found:  # each domain is where the documented rule puts it
            assert shard_at[m["instance"]] == shard_of(m["domain"], 3), m
        (total,) = prom.query("sum(siplocate_watch_domains)")
        assert float(total["value"][1]) == len(DOMAINS)  # type: ignore[index]
        page = _get_url(instances[1].url + "/")
        assert "shard 1/3" in page
    except RuntimeError:
        for w in instances:
            print(w.proc.poll() if w.proc else None, w.url, w.stderr()[-1500:])
        raise
    finally:
        prom.stop()
        for w in instances:
            w.stop()


def _get(prom: Prometheus, path: str) -> str:
    return _get_url(f"http://127.0.0.1:{prom.port}{path}")


def _get_url(url: str) -> str:
    from tests.fixtures.watch import http_get

    return http_get(url)
