"""The page's impact statement, the level and badge, tiers and the failover's next hop: pure,
from a hand-built resolution and a table of which targets answer."""

from __future__ import annotations

import random

import pytest

from siplocate.resolution import Branch, Host, Resolution, order_targets
from siplocate.target import SipUri, Transport, Via
from siplocate.watch import DomainView, Level
from siplocate.watch.impact import TargetKey, impact, tiers

UDP, TCP = Transport.UDP, Transport.TCP
# sip1 and sip2 share the first tier 60/40, sip3 is the backup; over UDP and TCP
HOSTS = [("sip1.demo.test", 10, 60, "192.0.2.11"), ("sip2.demo.test", 10, 40, "192.0.2.12")]
BACKUP = [("sip3.demo.test", 20, 0, "192.0.2.13")]


def resolution(transports: tuple[Transport, ...] = (UDP, TCP)) -> Resolution:
    branches = tuple(
        Branch.build(
            tr,
            Via.SRV,
            f"_sip._{tr.value}.demo.test",
            [Host.build(tr, Via.SRV, n, 5060, p, w, (a,)) for n, p, w, a in HOSTS + BACKUP],
        )
        for tr in transports
    )
    targets = order_targets(branches, random.Random(1))
    return Resolution(SipUri.parse("demo.test"), targets, branches, (), None)


def health(
    res: Resolution, dead: set[str], transports: set[str] | None = None
) -> dict[TargetKey, bool | None]:
    """Every target up but those at a ``dead`` address (over ``transports``, all if None)."""
    return {
        (t.transport.value, t.address, t.port): not (
            t.address in dead and (transports is None or t.transport.value in transports)
        )
        for t in res.targets
    }


def test_tiers_rank_priorities_within_each_transport_branch() -> None:
    res = resolution()
    assert tiers(res) == {
        (tr, a, 5060): (1 if a == "192.0.2.13" else 0)
        for tr in ("udp", "tcp")
        for a in ("192.0.2.11", "192.0.2.12", "192.0.2.13")
    }


def test_all_up_no_impact() -> None:
    res = resolution()
    got = impact(res, health(res, set()))
    assert got.level is Level.UP
    assert got.text == "all 3 servers answer: no client impact"
    assert (got.servers, got.servers_up, got.targets, got.targets_up) == (3, 3, 6, 6)


def test_primary_tier_partly_down_says_the_share_of_first_attempts_lost() -> None:
    res = resolution()
    got = impact(res, health(res, {"192.0.2.12"}))  # the weight-40 first-tier server
    assert got.level is Level.DEGRADED
    assert got.text == (
        "primary tier: 1 of 2 servers down: 40% of new registrations start on a dead server "
        "and fail over after the client's timeout"
    )
    assert (got.servers, got.servers_up, got.targets, got.targets_up) == (3, 2, 6, 4)
    assert got.as_dict()["badge"] == "degraded"


def test_backup_tier_down_is_no_client_impact_and_a_quieter_badge() -> None:
    res = resolution()
    got = impact(res, health(res, {"192.0.2.13"}))
    assert got.level is Level.BACKUP_DOWN
    assert got.text == "backup tier down: no client impact while the primary answers"
    assert got.as_dict()["badge"] == "backup down"


def test_whole_primary_tier_down_fails_over_to_the_backup() -> None:
    res = resolution()
    got = impact(res, health(res, {"192.0.2.11", "192.0.2.12"}))
    assert got.level is Level.DEGRADED
    assert got.text == (
        "primary tier down (2 servers): every new registration starts on a dead server and "
        "fails over to the backup tier after the client's timeout"
    )


def test_all_down() -> None:
    res = resolution()
    got = impact(res, health(res, {"192.0.2.11", "192.0.2.12", "192.0.2.13"}))
    assert got.level is Level.DOWN
    assert got.text == "all 3 servers down: every new registration fails"
    assert (got.servers_up, got.targets_up) == (0, 0)


def test_one_transport_down_names_it() -> None:
    res = resolution()
    got = impact(res, health(res, {"192.0.2.11"}, {"tcp"}))
    assert got.level is Level.DEGRADED
    assert got.text == (
        "TCP: primary tier: 1 of 2 servers down: 60% of new TCP registrations start on a "
        "dead server and fail over after the client's timeout"
    )
    assert (got.servers, got.servers_up, got.targets_up) == (3, 3, 5)  # sip1 answers on UDP


def test_dns_failure_and_not_probed() -> None:
    res = resolution()
    assert impact(None, {}, "timed out").text.startswith("DNS fails (timed out)")
    got = impact(res, dict.fromkeys(health(res, set())))
    assert got.level is Level.UNKNOWN and got.text == "3 servers found, not probed yet"


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_failover_names_the_next_hop_of_the_same_transport(transport: str) -> None:
    view = DomainView("demo.test")
    res = resolution()
    view.resolved(res, 1.0, 0.01, False)
    for h in view.targets.values():
        view.probed(h, 2.0, True, 200, None, 0.001)
    dead = next(h for k, h in view.targets.items() if k == (transport, "192.0.2.11", 5060))
    (down, failover) = view.probed(dead, 3.0, False, None, "timeout", 0.0)
    assert down.kind == "target_down" and failover.kind == "failover"
    assert failover.detail["next"] == {
        "transport": transport,
        "host": "sip2.demo.test",
        "address": "192.0.2.12",
        "port": 5060,
        "tier": 0,
    }
    assert failover.target is not None and failover.target["tier"] == 0
    assert failover.message == (
        f"clients of {transport}:sip1.demo.test 192.0.2.11:5060 would fail over "
        f"(next: {transport}:sip2.demo.test 192.0.2.12:5060)"
    )


def test_failover_to_another_transport_says_none_of_its_own_answers() -> None:
    view = DomainView("demo.test")
    view.resolved(resolution(), 1.0, 0.01, False)
    dead = view.targets[("tcp", "192.0.2.11", 5060)]
    for (transport, _, _), h in view.targets.items():  # every UDP target up, the TCP ones down
        if h is not dead:
            view.probed(h, 2.0, transport == "udp", None, None, 0.001)
    failover = view.probed(dead, 3.0, False, None, "timeout", 0.0)[-1]
    assert failover.detail["next"]["transport"] == "udp"  # type: ignore[index]
    assert failover.message.endswith("; no other TCP target answers)")


def test_backup_target_down_is_no_failover_event() -> None:
    view = DomainView("demo.test")
    view.resolved(resolution(), 1.0, 0.01, False)
    for h in view.targets.values():
        view.probed(h, 2.0, True, 200, None, 0.001)
    backup = view.targets[("udp", "192.0.2.13", 5060)]
    assert backup.tier == 1
    events = view.probed(backup, 3.0, False, None, "timeout", 0.0)
    assert [e.kind for e in events] == ["target_down"]
    assert view.round_done(3.0)[0].detail["state"] == "backup_down"
    assert view.summary()["impact"] == (
        "UDP: backup tier down: no client impact while the primary answers"
    )


# -- the page rendered on the server: hostile text stays text ------------------------------------

EVIL = '<img src=x onerror="alert(1)">'


def test_page_escapes_every_text_from_dns_sip_and_zone_files() -> None:
    from html.parser import HTMLParser

    from siplocate.resolution import Naptr
    from siplocate.watch import Event
    from siplocate.watch.page import document
    from siplocate.zone.findings import Finding, Severity

    naptr = Naptr(10, 0, "s", "SIP+D2U", EVIL, "_sip._udp.demo.test")
    host = Host.build(UDP, Via.NAPTR, f"sip{EVIL}.demo.test", 5060, 10, 0, ("192.0.2.11",))
    b = Branch.build(UDP, Via.NAPTR, f"_sip._udp.{EVIL}", [host], naptr)
    res = Resolution(SipUri.parse("demo.test"), list(host.targets), (b,), (), None)
    view = DomainView("demo.test")
    view.resolved(res, 1.0, 0.01, False)
    (h,) = view.targets.values()
    events = view.probed(h, 2.0, True, 200, None, 0.001)
    events += view.probed(h, 3.0, False, 606, f"answered 606 {EVIL}", 0.0)
    view.dns_error = f"SERVFAIL {EVIL}"
    finding = Finding("srv-target-no-address", Severity.ERROR, EVIL, (), f"message {EVIL}")
    view.linted(3.0, [finding])
    events.append(Event(3.0, "dns_failure", "demo.test", f"failed {EVIL}"))
    state = {
        "version": 3,
        "now": 4.0,
        "interval": 5.0,
        "domains": [view.as_dict()],
        "events": [e.as_dict() for e in events],
    }
    html = document(state)
    tags: list[str] = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            tags.append(tag)
            assert not any(k.startswith("on") or k == "style" for k, _ in attrs), (tag, attrs)

    Tags().feed(html)
    assert "img" not in tags and tags.count("script") == 1  # the page's own /static/app.js
    escaped = "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"
    for where in ("sip" + escaped, "answered 606 " + escaped, "SERVFAIL " + escaped):
        assert where in html, where
    assert html.count(escaped) >= 7  # NAPTR, SRV, host, status, title, DNS, finding, events
