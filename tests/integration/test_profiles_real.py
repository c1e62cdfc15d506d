"""Profiles held against real clients: each real client, in a network namespace of the test's
own (named on 127.0.0.1:53 there, Kamailio registrars that stamp replies with X-Node), on
domains built to make the profiles diverge, must reach the server its profile predicts.

Real clients: baresip (Debian package) and PJSIP (PyPI wheel pjsua2-python), which both ask
DNS only on port 53, hence the namespace; Kamailio with default DNS settings as a proxy
(the kamailio profile); siplocate's own `register` (the rfc3263 profile); Linphone's console
client (linphone-cli), sofia-sip's sip-options (sofia-sip-bin: the nta code FreeSWITCH uses)
and sipsak (tests/fixtures/sipclients.py). Where two
profiles predict different servers, the domain really does divide the clients.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from siplocate.cli import app
from tests.fixtures.baresip import register_once
from tests.fixtures.kamailio import PASSWORD
from tests.fixtures.netns import require_root
from tests.fixtures.profiles_world import ALL_DOMAINS, DOMAINS, World, start_world
from tests.fixtures.servers import in_ci, require_binary
from tests.fixtures.sipclients import Reached, linphone, sip_options, sipsak

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    require_root()
    named = require_binary("named", "bind9")
    kamailio = require_binary("kamailio", "kamailio")
    baresip = require_binary("baresip", "baresip")
    with start_world(named, kamailio, baresip) as w:
        yield w


@pytest.mark.parametrize("domain", [*DOMAINS, "se-flag"])
def test_baresip_reaches_the_server_its_profile_predicts(world: World, domain: str) -> None:
    name = f"{domain}.profiles.test"
    aor = f"sip:alice@{name}"
    plans = world.plans(name, aor)
    predicted = world.predicted(plans["baresip"])
    outcome = register_once(world.ns, world.baresip, world.workdir, aor, PASSWORD, 4)
    assert outcome.registered == predicted, outcome.log[-3000:]
    # The domain divides the clients: Kamailio's defaults would end elsewhere.
    assert world.predicted(plans["kamailio"]) != predicted


@pytest.mark.parametrize("domain", DOMAINS)
def test_pjsua_reaches_the_server_its_profile_predicts(world: World, domain: str) -> None:
    require_pjsua2()
    name = f"{domain}.profiles.test"
    plans = world.plans(name)
    predicted = world.predicted(plans["pjsua"])
    assert world.pjsua(f"sip:alice@{name}", PASSWORD, 5) == predicted
    # pjsua never asks NAPTR and only _sip._udp: where baresip goes elsewhere, so must it.
    assert predicted is not None and predicted[0] == "udp"


@pytest.mark.parametrize("domain", [*DOMAINS, "weights"])
def test_kamailio_proxy_relays_where_its_profile_predicts(world: World, domain: str) -> None:
    """Kamailio with default DNS settings as the client: a proxy relaying OPTIONS for
    sip:options-probe@DOMAIN; the registrar that answers is the one its profile predicts. On the
    weights 1:3 domain every try goes to the heavier server (dns_srv_lb off), where an
    RFC 2782 client would send one in four to the lighter one."""
    name = f"{domain}.profiles.test"
    predicted = world.predicted(world.plans(name)["kamailio"])
    assert predicted is not None and predicted[0] == "udp"
    tries = 8 if domain == "weights" else 1
    assert [world.through_proxy(name) for _ in range(tries)] == [predicted[1]] * tries


def require_pjsua2() -> None:
    """PJSIP's Python binding (PyPI wheel pjsua2-python, a dev dependency); in CI its
    absence is a failure."""
    try:
        import pjsua2  # noqa: F401
    except ImportError:
        if in_ci():
            pytest.fail("pjsua2 not importable: pip install pjsua2-python")
        pytest.skip("pjsua2 not importable: pip install pjsua2-python")


def test_baresip_weights_1_to_3_each_account_reaches_its_hashed_server(world: World) -> None:
    """Within a priority baresip ignores the weights: each account has its own fixed
    server (profiles/libre.py). Two accounts predicted for each server, each checked."""
    name = "weights.profiles.test"
    by_server: dict[tuple[str, str] | None, list[str]] = {}
    for user in range(32):  # bounded: the hash spreads accounts over both servers
        aor = f"sip:user{user}@{name}"
        by_server.setdefault(world.predicted(world.plans(name, aor)["baresip"]), []).append(aor)
    assert len(by_server) == 2 and None not in by_server
    for predicted, aors in by_server.items():
        for aor in aors[:2]:
            outcome = register_once(world.ns, world.baresip, world.workdir, aor, PASSWORD, 4)
            assert outcome.registered == predicted, (aor, outcome.log[-3000:])


@pytest.mark.parametrize("domain", [*DOMAINS, "se-flag"])
def test_siplocate_register_reaches_what_the_rfc3263_profile_predicts(
    world: World, domain: str
) -> None:
    name = f"{domain}.profiles.test"
    predicted = world.predicted(world.plans(name)["rfc3263"])
    pw = world.workdir / "pw"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(0o600)
    args = ["register", f"sip:alice@{name}", "-n", "127.0.0.1:53", "--password-file", str(pw)]
    out = CliRunner().invoke(app, [*args, "-t", "udp,tcp,tls", "--t1", "100ms", "--json"])
    assert out.exit_code == 0, out.output
    got = json.loads(out.stdout)["registered"]
    assert (got["transport"], f"{got['address']}:{got['port']}") == predicted


# ----------------------------------------------------- Linphone, sofia-sip and sipsak (issue 19)


@pytest.fixture(scope="module")
def clients() -> dict[str, str]:
    """The three console clients; in CI a missing one fails the test (require_binary)."""
    return {
        "linphone": require_binary("linphonec", "linphone-cli"),
        "freeswitch": require_binary("sip-options", "sofia-sip-bin"),
        "sipsak": require_binary("sipsak", "sipsak"),
    }


def reach(world: World, clients: dict[str, str], key: str, aor: str) -> Reached:
    """One run of the real client behind profile ``key`` for ``aor``."""
    if key == "linphone":
        return linphone(world.ns, clients[key], world.workdir, aor, PASSWORD)
    # OPTIONS goes to a user nobody registers: the registrars would relay a request for a
    # registered one to its (gone) contact instead of answering it themselves.
    probe = aor.replace("sip:alice@", "sip:options-probe@")
    if key == "freeswitch":
        return sip_options(world.ns, clients[key], probe)
    return sipsak(world.ns, clients[key], probe)


@pytest.mark.parametrize("key", ["linphone", "freeswitch", "sipsak"])
@pytest.mark.parametrize("domain", ALL_DOMAINS)
def test_console_clients_reach_the_server_their_profile_predicts(
    world: World, clients: dict[str, str], key: str, domain: str
) -> None:
    """Linphone (belle-sip: REGISTER), sofia-sip's sip-options (nta, FreeSWITCH's resolver:
    OPTIONS) and sipsak (OPTIONS) on every diverging domain: the registrar that answered is
    one its profile gives first attempts to (exactly that one where its order is fixed; a
    dead one, where nothing answers, is None)."""
    name = f"{domain}.profiles.test"
    plan = world.plans(name)[key]
    allowed = world.candidates(plan)
    got = reach(world, clients, key, f"sip:alice@{name}")
    assert got.reached in allowed, (allowed, got.log[-3000:])


def test_sipsak_takes_either_priority_of_the_dead_first_tier(
    world: World, clients: dict[str, str]
) -> None:
    """sipsak takes the answer's first SRV record whatever its priority: over runs both the
    dead priority-10 target (no answer) and the live priority-20 one come first."""
    name = "tier.profiles.test"
    allowed = world.candidates(world.plans(name)["sipsak"])
    assert allowed == {None, ("tcp", f"127.0.0.4:{world.servers[2].port}")}
    seen = set()
    for _ in range(16):  # bounded: each run is one answer order, each side about half
        seen.add(reach(world, clients, "sipsak", f"sip:alice@{name}").reached)
        if seen == allowed:
            break
    assert seen == allowed


@pytest.mark.parametrize("domain", ALL_DOMAINS)
def test_kamailio_with_dns_srv_lb_relays_where_its_profile_predicts(
    world: World, domain: str
) -> None:
    """Kamailio with dns_srv_lb = 1 (otherwise defaults) as the proxy relays where the
    kamailio-dns-srv-lb profile predicts. Debian's build has no DNS_SRV_LB, so the setting
    is ignored: on weights 1:3 every one of 24 tries goes to the weight-3 server, where a
    weighted draw would send about six to the other (all 24 on one side: 0.1% likely)."""
    assert world.proxy_lb is not None
    name = f"{domain}.profiles.test"
    allowed = world.candidates(world.plans(name)["kamailio-dns-srv-lb"])
    got = set()
    for _ in range(24 if domain == "weights" else 1):  # bounded
        node = world.through_proxy(name, proxy=world.proxy_lb)
        got.add(("udp", node) if node else None)
    assert got == allowed
