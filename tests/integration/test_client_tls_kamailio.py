"""SIP over TLS against a real Kamailio (its ``tls`` module, package kamailio-tls-modules),
found through a real BIND9: NAPTR "SIPS+D2T" -> ``_sips._tcp`` SRV -> A.

The certificate must chain to the CA we are given and name the SIP domain (RFC 5922): without
the CA, or with a certificate for another name, the attempt fails and says why; the client
never falls back to an unverified connection.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from siplocate import Resolver
from siplocate.client import Outcome, SipClient
from siplocate.sip.transaction import Timers
from siplocate.target import Transport
from tests.fixtures.kamailio import (
    CLIENT_DOMAIN,
    PASSWORD,
    ClientDns,
    Cluster,
    require_tls_module,
    start_client_dns,
    start_cluster,
)
from tests.fixtures.tls import make_certs

pytestmark = pytest.mark.integration

StartCluster = Callable[..., Cluster]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_tls_module()
    return make_certs(tmp_path_factory.mktemp("tls-certs"), (CLIENT_DOMAIN, "other.test"))


@pytest.fixture(scope="module")
def tls_dns() -> Iterator[ClientDns]:
    dns = start_client_dns(["127.0.0.2", "127.0.0.3"], tls=True)
    yield dns
    dns.bind.stop()


@pytest.fixture
def cluster_with(tls_dns: ClientDns, certs: dict[str, Path]) -> Iterator[StartCluster]:
    """Start a TLS cluster whose servers present the named certificates, in priority order."""
    started: list[Cluster] = []

    def start(*names: str) -> Cluster:
        c = start_cluster(tls_dns, [certs[n] for n in names])
        started.append(c)
        return c

    yield start
    for c in started:
        c.stop()


def make_client(cluster: Cluster, ca_file: Path | None) -> SipClient:
    resolver = Resolver(nameservers=[cluster.nameserver], transports=("tls",))
    return SipClient(
        cluster.aor,
        password=PASSWORD,
        resolver=resolver,
        transports=("tls",),
        ca_file=ca_file,
        failover_after=1.0,
        timers=Timers(t1=0.1),
    )


def node(outcome: Outcome) -> str:
    assert outcome.response is not None
    return str(outcome.response.headers.get("X-Node"))


async def test_register_over_tls_found_by_naptr(
    cluster_with: StartCluster, certs: dict[str, Path]
) -> None:
    cluster = cluster_with(CLIENT_DOMAIN, CLIENT_DOMAIN)
    async with make_client(cluster, certs["ca"]) as client:
        outcome = await client.register(60)
        assert outcome.ok, outcome.describe()
        # The resolver found the TLS ports (not the UDP/TCP ones) through SIPS+D2T/_sips._tcp.
        assert [(t.transport, t.address, t.port) for t in client.last_targets] == [
            (Transport.TLS, s.address, s.tls_port) for s in cluster.servers
        ]
        assert outcome.target is not None and outcome.target.transport == Transport.TLS
        assert outcome.target.hostport == cluster.primary.tls_hostport
        assert node(outcome) == cluster.primary.tls_hostport  # Kamailio's $Ri:$Rp: TLS socket
        assert [a.status for a in outcome.attempts] == [401, 200]
        assert client.granted == 60
        # ... and it got there through the NAPTR, not the SRV fallback.
        res = await client.resolver.locate(cluster.aor)
        naptr = res.branches[0].naptr
        assert naptr is not None and naptr.service == "SIPS+D2T", res.branches
        assert res.branches[0].srv_name == f"_sips._tcp.{CLIENT_DOMAIN}", res.branches
        gone = await client.unregister()
        assert gone is not None and gone.ok, gone.describe() if gone else None


async def test_without_the_ca_every_tls_server_is_rejected(cluster_with: StartCluster) -> None:
    cluster = cluster_with(CLIENT_DOMAIN, CLIENT_DOMAIN)
    async with make_client(cluster, None) as client:
        start = time.monotonic()
        outcome = await client.register(60)
        assert not outcome.ok and outcome.response is None
        # Both servers tried, both refused at the handshake: no SIP was sent unverified.
        assert [a.target.port for a in outcome.attempts] == [s.tls_port for s in cluster.servers]
        for attempt in outcome.attempts:
            assert attempt.status is None
            assert "TLS certificate rejected" in (attempt.error or ""), attempt.error
            assert "issuer" in (attempt.error or ""), attempt.error
        assert time.monotonic() - start < 5.0


async def test_certificate_for_another_name_is_rejected(
    cluster_with: StartCluster, certs: dict[str, Path]
) -> None:
    cluster = cluster_with("other.test", "other.test")
    async with make_client(cluster, certs["ca"]) as client:
        outcome = await client.register(60)
        assert not outcome.ok and outcome.response is None
        assert len(outcome.attempts) == 2
        for attempt in outcome.attempts:
            error = attempt.error or ""
            assert attempt.status is None
            assert "TLS certificate rejected" in error and "mismatch" in error.lower(), error
            assert CLIENT_DOMAIN in error, error  # names the SIP domain it had to match


async def test_wrong_name_on_primary_fails_over_to_tls_backup(
    cluster_with: StartCluster, certs: dict[str, Path]
) -> None:
    cluster = cluster_with("other.test", CLIENT_DOMAIN)
    async with make_client(cluster, certs["ca"]) as client:
        outcome = await client.register(60)
        assert outcome.ok, outcome.describe()
        assert node(outcome) == cluster.backup.tls_hostport
        first = outcome.attempts[0]
        assert first.target.port == cluster.primary.tls_port and first.status is None
        assert "mismatch" in (first.error or "").lower(), first.error
        assert [a.status for a in outcome.attempts[1:]] == [401, 200]


async def test_dead_tls_primary_fails_over_to_tls_backup(
    cluster_with: StartCluster, certs: dict[str, Path]
) -> None:
    cluster = cluster_with(CLIENT_DOMAIN, CLIENT_DOMAIN)
    cluster.primary.kill()
    async with make_client(cluster, certs["ca"]) as client:
        outcome = await client.register(60)
        assert outcome.ok, outcome.describe()
        assert node(outcome) == cluster.backup.tls_hostport
        first = outcome.attempts[0]
        assert first.target.port == cluster.primary.tls_port and first.status is None
        assert "refused" in (first.error or ""), first.error
        assert first.ms < 1000  # RST at once, not the 1 s failover budget
