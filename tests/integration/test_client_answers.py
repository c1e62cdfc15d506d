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
from siplocate.sip.server import AnswerLimits
from siplocate.sip.transaction import Timers
from siplocate.sip.transport import UdpConnection
from tests.fixtures.flood import Flooder
from tests.fixtures.kamailio import PASSWORD, Cluster

pytestmark = pytest.mark.integration


def make_client(
    cluster: Cluster, aor: str, transport: str = "udp", answering: AnswerLimits | None = None
) -> SipClient:
    return SipClient(
        aor,
        password=PASSWORD,
        resolver=Resolver(nameservers=[cluster.nameserver], transports=(transport,)),
        transports=(transport,),
        failover_after=1.0,
        timers=Timers(t1=0.1),
        answering=answering,
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


async def test_a_flood_beyond_the_bound_gets_503_and_the_client_stays_registered(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17: 300 INVITEs relayed by Kamailio, never ACKed by their caller, against a bound
    of 20 live server transactions: every one gets a final answer from the client (480 while
    there is room, else a 503 with Retry-After, which Kamailio passes on as '500 Service
    Unavailable', RFC 3261 §16.7), the client keeps at most 20, stays registered and answers
    an ordinary call afterwards."""
    sent: list[bytes] = []
    send = UdpConnection.send

    def record(self: UdpConnection, data: bytes) -> None:  # what the client really sends
        sent.append(data)
        send(self, data)

    monkeypatch.setattr(UdpConnection, "send", record)
    limits = AnswerLimits(server_transactions=20, retry_after=5)
    async with (
        make_client(cluster, cluster.aor, answering=limits) as alice,
        make_client(cluster, "sip:bob@client.test") as bob,
    ):
        assert (await alice.register(60)).ok
        registrar = (cluster.primary.address, cluster.primary.port)
        flooder = Flooder(registrar, cluster.aor)
        try:
            await asyncio.to_thread(flooder.flood, 300, 1000.0)
            most = 0
            for _ in range(200):  # up to 10 s for the last answers (Kamailio retransmits)
                most = max(most, len(alice.answerer.servers))
                if len(flooder.finals) == 300:
                    break
                await asyncio.sleep(0.05)
        finally:
            flooder.close()
        assert len(flooder.finals) == 300
        assert {source for _, source in flooder.finals.values()} == {"client"}
        codes = sorted({code for code, _ in flooder.finals.values()})
        assert codes == [480, 500], codes  # 500: the client's 503, as Kamailio relays it
        assert most <= 20 and len(alice.answerer.servers) <= 20 and alice.dialogs == {}
        refusals = [d for d in sent if d.startswith(b"SIP/2.0 503 ")]
        assert len(refusals) >= 300 - 2 * 20 - 20  # room again only as Timer I (5 s) ends
        assert all(b"\r\nRetry-After: 5\r\n" in d for d in refusals)
        for _ in range(200):  # the flood's transactions end (Timer I: 5 s after the ACK)
            if len(alice.answerer.servers) < 20:
                break
            await asyncio.sleep(0.05)
        options = await bob.options(cluster.aor)  # still registered, still answering
        assert options.ok and options.response is not None
        assert options.response.headers.get("Server") == "siplocate"
        call = await bob.invite(cluster.aor)
        assert isinstance(call, Outcome) and call.response is not None
        assert call.response.code == 480 and call.response.headers.get("Server") == "siplocate"
        await alice.unregister()
