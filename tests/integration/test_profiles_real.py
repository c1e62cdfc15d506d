"""Profiles held against real clients: each real client, in a network namespace of the test's
own (named on 127.0.0.1:53 there, Kamailio registrars that stamp replies with X-Node), on
domains built to make the profiles diverge, must reach the server its profile predicts.

Real clients: baresip (Debian package; asks DNS only on port 53, hence the namespace) and
siplocate's own `register` (the rfc3263 profile). The Kamailio profile's prediction is
worked out beside them to show the domains really do divide the clients.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from siplocate import Resolver
from siplocate.cli import app
from siplocate.profiles.compare import Plan, compare, look
from tests.fixtures.baresip import register_once
from tests.fixtures.bind import BindServer
from tests.fixtures.kamailio import PASSWORD, Kamailio
from tests.fixtures.netns import NetNs, require_root
from tests.fixtures.servers import free_port, require_binary

pytestmark = pytest.mark.integration
DEAD = "127.0.0.9"  # nothing listens there: TCP and TLS connections are refused at once

ZONE = """$ORIGIN profiles.test.
$TTL 60
@        IN SOA ns hostmaster 1 3600 600 86400 60
@        IN NS  ns
ns       IN A   127.0.0.1
a        IN A   127.0.0.2
b        IN A   127.0.0.3
c        IN A   127.0.0.4
dead     IN A   {dead}
; TLS-first NAPTR with no TLS server, UDP second
tls-first           IN NAPTR 10 0 "s" "SIPS+D2T" "" _sips._tcp.tls-first
tls-first           IN NAPTR 20 0 "s" "SIP+D2U" "" _sip._udp.tls-first
_sips._tcp.tls-first IN SRV 0 0 {dead_port} dead
_sip._udp.tls-first IN SRV 0 0 {a} a
; NAPTR that puts UDP last (TCP to b, UDP to a)
udp-last            IN NAPTR 10 0 "s" "SIP+D2T" "" _sip._tcp.udp-last
udp-last            IN NAPTR 20 0 "s" "SIP+D2U" "" _sip._udp.udp-last
_sip._tcp.udp-last  IN SRV 0 0 {b} b
_sip._udp.udp-last  IN SRV 0 0 {a} a
; no NAPTR; TCP: a dead first priority tier, then c; UDP: a
_sip._tcp.tier      IN SRV 10 0 {dead_port} dead
_sip._tcp.tier      IN SRV 20 0 {c} c
_sip._udp.tier      IN SRV 0 0 {a} a
"""
DOMAINS = ["tls-first", "udp-last", "tier"]


@dataclass
class World:
    ns: NetNs
    bind: BindServer
    servers: list[Kamailio]
    workdir: Path
    baresip: str

    def live(self) -> set[tuple[str, int]]:
        return {(k.address, k.port) for k in self.servers}

    def plans(self, domain: str) -> dict[str, Plan]:
        resolver = Resolver(["127.0.0.1:53"])

        async def go() -> dict[str, Plan]:
            try:
                return {p.profile.key: p for p in compare(await look(resolver, domain))}
            finally:
                resolver.close()

        return asyncio.run(go())

    def predicted(self, plan: Plan) -> tuple[str, str] | None:
        """Where the client registers: its first target in try order that is a live server."""
        for t in plan.targets:
            if (t.address, t.port) in self.live():
                return t.transport.value, f"{t.address}:{t.port}"
        return None


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    require_root()
    named = require_binary("named", "bind9")
    kamailio = require_binary("kamailio", "kamailio")
    baresip = require_binary("baresip", "baresip")
    ns = NetNs()
    ns.create()
    workdir = Path(tempfile.mkdtemp(prefix="siplocate-profiles-"))
    servers: list[Kamailio] = []
    bind: BindServer | None = None
    try:
        ns.enter()  # from here on this thread's sockets and children are in the namespace
        for address in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
            servers.append(Kamailio(address, kamailio=kamailio).start())
        a, b, c = (k.port for k in servers)
        zone = workdir / "profiles.test.zone"
        dead_port = free_port(DEAD)
        zone.write_text(ZONE.format(dead=DEAD, dead_port=dead_port, a=a, b=b, c=c))
        bind = BindServer({"profiles.test": zone}, named=named, port=53).start()
        yield World(ns, bind, servers, workdir, baresip)
    finally:
        for k in servers:
            k.stop()
        if bind is not None:
            bind.stop()
        ns.close()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.parametrize("domain", DOMAINS)
def test_baresip_reaches_the_server_its_profile_predicts(world: World, domain: str) -> None:
    name = f"{domain}.profiles.test"
    plans = world.plans(name)
    predicted = world.predicted(plans["baresip"])
    outcome = register_once(
        world.ns, world.baresip, world.workdir, f"sip:alice@{name}", PASSWORD, 4
    )
    assert outcome.registered == predicted, outcome.log[-3000:]
    # The domain divides the clients: Kamailio's defaults would end elsewhere.
    assert world.predicted(plans["kamailio"]) != predicted


@pytest.mark.parametrize("domain", DOMAINS)
def test_siplocate_register_reaches_what_the_rfc3263_profile_predicts(
    world: World, domain: str
) -> None:
    name = f"{domain}.profiles.test"
    predicted = world.predicted(world.plans(name)["rfc3263"])
    pw = world.workdir / "pw"
    pw.write_text(PASSWORD + "\n")
    args = ["register", f"sip:alice@{name}", "-n", "127.0.0.1:53", "--password-file", str(pw)]
    out = CliRunner().invoke(app, [*args, "-t", "udp,tcp,tls", "--t1", "100ms", "--json"])
    assert out.exit_code == 0, out.output
    got = json.loads(out.stdout)["registered"]
    assert (got["transport"], f"{got['address']}:{got['port']}") == predicted
