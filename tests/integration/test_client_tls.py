"""TLS: the certificate must name the SIP domain (RFC 5922) and chain to a trusted CA.

The server here is a small asyncio TLS responder speaking just enough SIP, with static
targets (no DNS): it isolates the client's certificate checks. test_client_tls_kamailio.py runs
the same checks against Kamailio's tls module, found through NAPTR/SRV in a real BIND9.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from siplocate.client import SipClient
from siplocate.sip.message import StreamFramer, parse_message
from siplocate.sip.transaction import Timers
from tests.fixtures.servers import free_port
from tests.fixtures.tls import make_certs

pytestmark = pytest.mark.integration


async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    framer = StreamFramer()
    with contextlib.suppress(Exception):
        while data := await reader.read(65536):
            for raw in framer.feed(data):
                req = parse_message(raw)
                head = "SIP/2.0 200 OK\r\n"
                for name in ("Via", "From", "To", "Call-ID", "CSeq"):
                    for value in req.headers.getlist(name):
                        head += f"{name}: {value}\r\n"
                writer.write((head + "X-Node: tls\r\nContent-Length: 0\r\n\r\n").encode())
    writer.close()


@contextlib.asynccontextmanager
async def tls_server(address: str, cert: Path) -> AsyncIterator[int]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(f"{cert}.pem", f"{cert}.key")
    port = free_port(address)
    server = await asyncio.start_server(answer, address, port, ssl=ctx)
    try:
        yield port
    finally:
        server.close()
        await server.wait_closed()


def client(servers: list[str], ca_file: Path | None) -> SipClient:
    return SipClient(
        "sip:alice@client.test",
        static=[f"{s};transport=tls" for s in servers],
        transports=("tls",),
        ca_file=ca_file,
        failover_after=1.0,
        timers=Timers(t1=0.1),
    )


async def test_tls_verifies_against_the_sip_domain(tmp_path: Path) -> None:
    certs = make_certs(tmp_path)
    async with tls_server("127.0.0.2", certs["good"]) as port:
        c = client([f"127.0.0.2:{port}"], certs["ca"])
        async with c:
            outcome = await c.options()
            assert outcome.ok, outcome.describe()
            assert outcome.target is not None and outcome.target.transport.value == "tls"


async def test_tls_without_the_ca_is_rejected_never_silently_unverified(tmp_path: Path) -> None:
    certs = make_certs(tmp_path)
    async with tls_server("127.0.0.2", certs["good"]) as port:
        c = client([f"127.0.0.2:{port}"], None)
        async with c:
            outcome = await c.options()
            assert not outcome.ok
            error = outcome.attempts[0].error or ""
            assert "certificate rejected" in error


async def test_tls_wrong_name_fails_over_to_the_next_server(tmp_path: Path) -> None:
    certs = make_certs(tmp_path)
    async with (
        tls_server("127.0.0.2", certs["wrong"]) as bad,
        tls_server("127.0.0.3", certs["good"]) as good,
    ):
        c = client([f"127.0.0.2:{bad}", f"127.0.0.3:{good}"], certs["ca"])
        async with c:
            outcome = await c.options()
            assert outcome.ok and outcome.target is not None
            assert outcome.target.address == "127.0.0.3"
            first = outcome.attempts[0]
            assert first.target.address == "127.0.0.2" and first.status is None
            assert "certificate rejected" in (first.error or "")
            assert "client.test" in (first.error or "") or "mismatch" in (first.error or "")
