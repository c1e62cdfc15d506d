"""The client answers what its registrar relays to it (RFC 3261 UAS): a second client calls
the registered AOR through a real Kamailio (``lookup("location")`` + ``t_relay``) and gets the
registered client's own answer, at once instead of Kamailio's 408 after 5 s."""

from __future__ import annotations

import asyncio
import time

import pytest
from sipmessage import Request

from siplocate import Resolver
from siplocate.client import Dialog, Incoming, Outcome, SipClient
from siplocate.sip.transaction import Timers
from tests.fixtures.kamailio import PASSWORD, Cluster

pytestmark = pytest.mark.integration


def make_client(cluster: Cluster, aor: str, transport: str = "udp") -> SipClient:
    return SipClient(
        aor,
        password=PASSWORD,
        resolver=Resolver(nameservers=[cluster.nameserver], transports=(transport,)),
        transports=(transport,),
        failover_after=1.0,
        timers=Timers(t1=0.1),
    )


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_options_and_invite_to_the_registered_aor_get_the_clients_own_answer(
    cluster: Cluster, transport: str
) -> None:
    heard: list[Incoming] = []
    async with (
        make_client(cluster, cluster.aor, transport) as alice,
        make_client(cluster, "sip:bob@client.test", transport) as bob,
    ):
        alice.on_incoming = heard.append
        assert (await alice.register(60)).ok  # as `register --follow` does
        start = time.monotonic()
        options = await bob.options(cluster.aor)
        took = time.monotonic() - start
        assert options.ok, options.describe()
        r = options.response
        assert r is not None and r.headers.get("Server") == "siplocate"  # alice, not Kamailio
        assert "INVITE" in (r.headers.get("Allow") or "") and r.headers.get("Accept")
        assert took < 0.5
        start = time.monotonic()
        call = await bob.invite(cluster.aor)
        took = time.monotonic() - start
        assert isinstance(call, Outcome) and call.response is not None
        assert call.response.code == 480  # no application attached: temporarily unavailable
        assert call.response.headers.get("Server") == "siplocate"
        assert took < 0.5
        assert [(i.method, i.status) for i in heard] == [("OPTIONS", 200), ("INVITE", 480)]
        await alice.unregister()


async def test_accepted_call_then_bye_from_the_far_end_ends_the_dialog(cluster: Cluster) -> None:
    heard: list[Incoming] = []
    async with (
        make_client(cluster, cluster.aor) as alice,
        make_client(cluster, "sip:bob@client.test") as bob,
    ):

        async def answer(request: Request) -> int:
            await asyncio.sleep(0)  # an application may take its time (asynchronously)
            return 200

        alice.on_invite = answer
        alice.on_incoming = heard.append
        assert (await alice.register(60)).ok
        call = await bob.invite(cluster.aor)
        assert isinstance(call, Dialog), call.describe()  # type: ignore[union-attr]
        assert len(alice.dialogs) == 1
        theirs = next(iter(alice.dialogs.values()))
        bye = await call.bye()
        assert bye.ok and bye.response is not None
        assert bye.response.headers.get("Server") == "siplocate"  # alice answered the BYE
        assert theirs.ended and alice.dialogs == {}
        assert [(i.method, i.status) for i in heard] == [("INVITE", 200), ("BYE", 200)]
        assert heard[-1].dialog is theirs
        await alice.unregister()
