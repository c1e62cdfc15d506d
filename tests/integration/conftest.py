"""Fixtures the SIP client tests share: two Kamailio registrars behind a BIND9 zone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.kamailio import ClientDns, Cluster, start_client_dns, start_cluster


@pytest.fixture(scope="module")
def client_dns() -> Iterator[ClientDns]:
    """BIND9 serving NAPTR/SRV for 127.0.0.2 (primary) and 127.0.0.3 (backup); a module
    may override it (e.g. with a short TTL)."""
    dns = start_client_dns(["127.0.0.2", "127.0.0.3"])
    yield dns
    dns.bind.stop()


@pytest.fixture
def cluster(client_dns: ClientDns) -> Iterator[Cluster]:
    """Fresh Kamailio instances on the addresses the zone names, stopped by PID after."""
    c = start_cluster(client_dns)
    yield c
    c.stop()
