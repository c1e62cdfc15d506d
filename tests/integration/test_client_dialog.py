"""INVITE, ACK, BYE and CANCEL against real Kamailio (signalling only, no media)."""

from __future__ import annotations

import pytest

from siplocate import Resolver
from siplocate.client import Dialog, Outcome, SipClient
from siplocate.sip.transaction import Timers
from tests.fixtures.kamailio import PASSWORD, Cluster

pytestmark = pytest.mark.integration


def make_client(cluster: Cluster, transport: str = "udp") -> SipClient:
    return SipClient(
        cluster.aor,
        password=PASSWORD,
        resolver=Resolver(nameservers=[cluster.nameserver], transports=(transport,)),
        transports=(transport,),
        failover_after=0.5,
        timers=Timers(t1=0.1),
    )


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_invite_ack_bye_stay_on_the_dialog_server(cluster: Cluster, transport: str) -> None:
    async with make_client(cluster, transport) as client:
        dialog = await client.invite("sip:bob@client.test")
        assert isinstance(dialog, Dialog)
        assert dialog.target.address == "127.0.0.2"
        assert dialog.remote.parameters.get("tag")  # the 2xx carried a To-tag
        bye = await dialog.bye()
        assert bye.ok and bye.target == dialog.target
        assert bye.response is not None and bye.response.headers["CSeq"].endswith("BYE")


async def test_dialog_server_fails_then_bye_fails_over(cluster: Cluster) -> None:
    async with make_client(cluster) as client:
        dialog = await client.invite("sip:bob@client.test")
        assert isinstance(dialog, Dialog)
        cluster.primary.kill()
        bye = await dialog.bye()
        assert bye.ok and bye.target is not None and bye.target.address == "127.0.0.3"
        assert [a.target.address for a in bye.attempts] == ["127.0.0.2", "127.0.0.3"]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_invite_rejected_is_acked_and_reported(cluster: Cluster, transport: str) -> None:
    async with make_client(cluster, transport) as client:
        outcome = await client.invite("sip:busy@client.test")
        assert isinstance(outcome, Outcome) and not outcome.ok
        assert outcome.response is not None and outcome.response.code == 486
        # ACKed by the transaction: Kamailio's tm stops retransmitting the 486 at once, so
        # no further attempt and no failover to the backup.
        assert len(outcome.attempts) == 1


async def test_ringing_invite_is_cancelled(cluster: Cluster) -> None:
    async with make_client(cluster) as client:
        outcome = await client.invite("sip:ring@client.test", cancel_after=0.2)
        assert isinstance(outcome, Outcome)
        assert outcome.response is not None and outcome.response.code == 487
