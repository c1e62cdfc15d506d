"""The client against real Kamailio registrars found through a real BIND9: register,
fail over (refused, 503, silent), fail back, all down, wrong password, UDP and TCP.
"""

from __future__ import annotations

import time

import pytest

from siplocate import OperationFailed, Resolver
from siplocate.client import SipClient
from siplocate.client.walker import NO_ANSWER
from siplocate.sip.auth import AuthError
from siplocate.sip.transaction import Timers
from tests.fixtures.kamailio import PASSWORD, Cluster

pytestmark = pytest.mark.integration


def make_client(cluster: Cluster, transport: str = "udp", **kwargs: object) -> SipClient:
    resolver = Resolver(nameservers=[cluster.nameserver], transports=(transport,))
    options: dict[str, object] = {
        "password": PASSWORD,
        "resolver": resolver,
        "transports": (transport,),
        "failover_after": 1.0,
        "timers": Timers(t1=0.1),
    }
    options.update(kwargs)
    return SipClient(cluster.aor, **options)  # type: ignore[arg-type]


def node(outcome: object) -> str:
    response = outcome.response  # type: ignore[attr-defined]
    return str(response.headers.get("X-Node"))


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_register_to_primary(cluster: Cluster, transport: str) -> None:
    async with make_client(cluster, transport) as client:
        outcome = await client.register(60)
        assert outcome.ok, outcome.describe()
        assert node(outcome) == cluster.primary.hostport
        assert [a.status for a in outcome.attempts] == [401, 200]
        assert client.granted == 60
        gone = await client.unregister()
        assert gone is not None and gone.ok


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_primary_killed_fails_over_at_once(cluster: Cluster, transport: str) -> None:
    cluster.primary.kill()
    async with make_client(cluster, transport, failover_after=5.0) as client:
        start = time.monotonic()
        outcome = await client.register(60)
        elapsed = time.monotonic() - start
        assert outcome.ok, outcome.describe()
        assert node(outcome) == cluster.backup.hostport
        first = outcome.attempts[0]
        assert first.target.address == "127.0.0.2" and first.status is None
        assert first.error is not None and "refused" in first.error
        assert elapsed < 5.0  # refused at once, not after the 5 s budget


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_primary_restarted_failback_at_next_refresh(cluster: Cluster, transport: str) -> None:
    # When the down-mark runs out is the walker's rule (tests/unit/test_walker.py, with an
    # injected clock); here the health monitor's public verdict stands in for it.
    async with make_client(cluster, transport) as client:
        first = await client.register(60)
        assert node(first) == cluster.primary.hostport
        cluster.primary.kill()
        assert node(await client.register(60)) == cluster.backup.hostport
        assert client.is_down(first.target)  # type: ignore[arg-type]
        cluster.primary.start()
        client.observed(first.target, True)  # type: ignore[arg-type]
        outcome = await client.register(60)
        assert node(outcome) == cluster.primary.hostport
        if transport == "udp":  # same socket after the ICMP error: the same Contact again
            assert outcome.response is not None and first.response is not None
            assert outcome.response.contact == first.response.contact


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_503_retry_after_marks_primary_down(cluster: Cluster, transport: str) -> None:
    cluster.primary.kill()
    cluster.primary.retry_after = 30
    cluster.primary.start()
    async with make_client(cluster, transport) as client:
        outcome = await client.register(60)
        assert outcome.ok and node(outcome) == cluster.backup.hostport
        assert outcome.attempts[0].status == 503
        until = client.failover.memory.until  # on the client's monotonic clock
        now = client.clock.monotonic()
        assert any(k[1] == "127.0.0.2" and v - now > 25 for k, v in until.items())
        again = await client.register(60)  # remembered: goes straight to the backup
        assert [a.target.address for a in again.attempts] == ["127.0.0.3", "127.0.0.3"]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_silent_primary_fails_over_after_budget(cluster: Cluster, transport: str) -> None:
    async with make_client(cluster, transport, failover_after=0.5) as client:
        if transport == "tcp":
            await client.options()  # connection up before the server goes silent
        cluster.primary.pause()
        try:
            start = time.monotonic()
            outcome = await client.register(60)
            elapsed = time.monotonic() - start
        finally:
            cluster.primary.resume()
        assert outcome.ok, outcome.describe()
        assert node(outcome) == cluster.backup.hostport
        assert outcome.attempts[0].error == NO_ANSWER  # the one wording of a timeout
        assert 0.5 <= elapsed < client.timers.f  # the budget, not Timer F, moved it on


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_all_down_is_a_clear_failure_without_hang(cluster: Cluster, transport: str) -> None:
    cluster.primary.kill()
    cluster.backup.kill()
    async with make_client(cluster, transport) as client:
        start = time.monotonic()
        outcome = await client.register(60)
        assert time.monotonic() - start < client.timers.f  # refused: no waiting at all
        assert not outcome.ok
        assert outcome.error is not None and "no server answered REGISTER" in outcome.error
        assert [a.target.address for a in outcome.attempts] == ["127.0.0.2", "127.0.0.3"]
        # Everything is marked down now, yet the next request still tries them all.
        again = await client.register(60)
        assert len(again.attempts) == 2
        with pytest.raises(OperationFailed):
            again.raise_for_status()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_wrong_password_is_clear_and_does_not_storm(cluster: Cluster, transport: str) -> None:
    async with make_client(cluster, transport, password="wrong") as client:
        with pytest.raises(AuthError, match="authentication failed"):
            await client.register(60)
    # One challenge, one answer, no failover to the backup.


async def test_options_and_probe(cluster: Cluster) -> None:
    async with make_client(cluster) as client:
        outcome = await client.options()
        assert outcome.ok and node(outcome) == cluster.primary.hostport
        targets, _ = await client.targets()
        cluster.backup.kill()
        attempts = [await client.probe(t, 0.5) for t in targets]
        assert [a.status for a in attempts] == [200, None]
