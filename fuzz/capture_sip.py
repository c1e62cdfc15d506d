"""Capture real SIP traffic once, as the fuzz corpus: every message a client sends to, and
receives from, real Kamailio registrars behind a real BIND9 (REGISTER with digest, OPTIONS,
INVITE/ACK/BYE, a 486, a CANCELled call, and requests Kamailio relays to a registered client).

Run: .venv/bin/python fuzz/capture_sip.py   (writes fuzz/corpus/sip/*.sip, one message each)
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.kamailio import PASSWORD, start_client_dns, start_cluster  # noqa: E402

from siplocate import Resolver  # noqa: E402
from siplocate.client import SipClient  # noqa: E402
from siplocate.sip import transport  # noqa: E402
from siplocate.sip.transaction import Timers  # noqa: E402

OUT = ROOT / "fuzz" / "corpus" / "sip"
seen: dict[str, bytes] = {}


def keep(data: bytes) -> None:
    seen[hashlib.sha1(data).hexdigest()[:12]] = data


def tap() -> None:
    """Record what every connection delivers and sends."""
    deliver = transport.Connection._deliver

    def recording_deliver(self: transport.Connection, data: bytes) -> None:
        keep(data)
        deliver(self, data)

    transport.Connection._deliver = recording_deliver  # type: ignore[method-assign]
    for cls in (transport.UdpConnection, transport.StreamConnection):
        send = cls.send

        def recording_send(self: transport.Connection, data: bytes, _send=send) -> None:  # type: ignore[no-untyped-def]
            keep(data)
            _send(self, data)

        cls.send = recording_send  # type: ignore[method-assign]


async def traffic(nameserver: str, aor: str) -> None:
    for transport_name in ("udp", "tcp"):

        def client(who: str, transport_name: str = transport_name) -> SipClient:
            return SipClient(
                who,
                password=PASSWORD,
                resolver=Resolver(nameservers=[nameserver], transports=(transport_name,)),
                transports=(transport_name,),
                failover_after=1.0,
                timers=Timers(t1=0.1),
            )

        async with client(aor) as alice, client("sip:bob@client.test") as bob:
            alice.on_invite = lambda request: 200
            await alice.register(60)
            await alice.options()
            await bob.options(aor)
            call = await bob.invite(aor)
            if hasattr(call, "bye"):
                await call.bye()
            await bob.invite("sip:busy@client.test")
            await bob.invite("sip:ring@client.test", cancel_after=0.1)
            dialog = await bob.invite("sip:carol@client.test")
            if hasattr(dialog, "bye"):
                await dialog.bye()
            await alice.unregister()


def main() -> None:
    tap()
    dns = start_client_dns(["127.0.0.2", "127.0.0.3"])
    cluster = start_cluster(dns)
    try:
        asyncio.run(traffic(cluster.nameserver, cluster.aor))
    finally:
        cluster.stop()
        dns.bind.stop()
    OUT.mkdir(parents=True, exist_ok=True)
    for name, data in sorted(seen.items()):
        first = data.split(b" ", 1)[0].decode(errors="replace").replace("/", "")
        (OUT / f"{first.lower()}-{name}.sip").write_bytes(data)
    print(f"{len(seen)} messages written to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
