"""TLS: the certificate must name the SIP domain (RFC 5922) and chain to a trusted CA.

Debian's kamailio package has no TLS module (that is kamailio-tls-modules), so the server
here is a small asyncio TLS responder speaking just enough SIP; the TLS stack is real.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from siplocate.client import SipClient
from siplocate.sip.message import StreamFramer, parse_message
from siplocate.sip.transaction import Timers
from tests.fixtures.servers import free_port, require_binary

pytestmark = pytest.mark.integration


def make_certs(tmp: Path) -> dict[str, Path]:
    openssl = require_binary("openssl", "openssl")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, cwd=tmp)

    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=siplocate test CA")  # fmt: skip
    for name in ("client.test", "other.test"):
        run("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        (tmp / f"{name}.ext").write_text(f"subjectAltName=DNS:{name}\n")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
            "-extfile", f"{name}.ext")  # fmt: skip
    return {"ca": tmp / "ca.pem", "good": tmp / "client.test", "wrong": tmp / "other.test"}


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
