"""Record the reply seed corpus: what a real BIND9 serving the example and test zones sends.

For each seed URI (the RFC 3263 cases of tests/cases.py and every SIP domain of the zones),
a fresh Resolver locates it through a source that asks BIND over UDP (TCP on truncation)
exactly as ``LiveSource`` does and keeps the reply bytes; the URI and its replies are one
seed file in fuzz/corpus/dns/. A few seeds hold two URIs, so the fuzzer starts from worlds
where one domain's replies can poison the next lookup.
Run: .venv/bin/python fuzz/record_seeds.py   (needs named; rewrites fuzz/corpus/dns/)
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.name  # noqa: E402
import dns.query  # noqa: E402
import dns.rdatatype  # noqa: E402
from tests.cases import CASES  # noqa: E402
from tests.fixtures.bind import BindServer, zone_origin  # noqa: E402

from fuzz.dns_world import World  # noqa: E402
from siplocate import Resolver  # noqa: E402
from siplocate.dns.live import EDNS_PAYLOAD, answer_from, decode_reply  # noqa: E402
from siplocate.dns.source import Answer  # noqa: E402
from siplocate.dns.zonefile import load_zone  # noqa: E402
from siplocate.errors import SiplocateError  # noqa: E402
from siplocate.zone.lint import sip_domains  # noqa: E402

CORPUS = ROOT / "fuzz" / "corpus" / "dns"
ZONES = sorted((ROOT / "examples" / "zones").glob("*.zone")) + sorted(
    (ROOT / "tests" / "zones").glob("*.zone")
)


class Recorder:
    """A DnsSource asking BIND the way LiveSource does, keeping every reply's bytes."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.frames: list[bytes] = []

    async def answer(
        self,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        defer: asyncio.Event | None = None,
    ) -> Answer:
        query = dns.message.make_query(name, rdtype, use_edns=0, payload=EDNS_PAYLOAD)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(2)
            sock.connect((self.host, self.port))
            sock.send(query.to_wire())
            wire = sock.recv(65535)
        self.frames.append(wire)
        reply = decode_reply(query, wire)
        if reply.flags & dns.flags.TC:
            reply = dns.query.tcp(query, self.host, port=self.port, timeout=2)
            self.frames.append(reply.to_wire())
        return answer_from(name, rdtype, reply, "bind", 0.0)


async def record(uri: str, host: str, port: int) -> World:
    recorder = Recorder(host, port)
    with contextlib.suppress(SiplocateError):
        await Resolver(source=recorder).locate(uri)
    return World([uri.encode()], recorder.frames)


def seed_uris() -> list[str]:
    uris = [c.target for c in CASES]
    for path in ZONES:
        uris += [f"sip:{d.to_text(omit_final_dot=True)}" for d in sip_domains(load_zone(path))]
    return list(dict.fromkeys(uris))


async def main(bind: BindServer) -> None:
    CORPUS.mkdir(parents=True, exist_ok=True)
    for old in CORPUS.glob("*"):
        old.unlink()
    worlds = [await record(uri, bind.address, bind.port) for uri in seed_uris()]
    for w in worlds[::3]:
        w.check = True
    pairs = [(worlds[i], worlds[-1 - i]) for i in range(0, len(worlds) // 2, 3)]
    for a, b in pairs:
        worlds.append(World(a.uris + b.uris, a.frames + b.frames))
    for w in worlds:
        data = w.encode()
        name = hashlib.sha1(data).hexdigest()[:16]
        (CORPUS / f"{name}.bin").write_bytes(data)
    total = sum(len(w.encode()) for w in worlds)
    print(f"{len(worlds)} seeds, {total} bytes, in {CORPUS.relative_to(ROOT)}")


if __name__ == "__main__":
    server = BindServer({zone_origin(p): p for p in ZONES}, named="/usr/sbin/named").start()
    try:
        asyncio.run(main(server))
    finally:
        server.stop()
