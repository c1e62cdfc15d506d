"""Asyncio shells for UDP, TCP and TLS: bytes in and out, parsed messages up, errors up.

UDP uses a *connected* socket so an ICMP port unreachable surfaces at once as
ECONNREFUSED (a dead server is detected in milliseconds, not after Timer F). TLS verifies
the server certificate against the SIP domain (RFC 5922 §7.2), never silently unverified.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

from sipmessage import Request, Response

from ..target import Target, Transport
from .message import MessageError, StreamFramer, parse_message
from .stun import binding_request, is_stun, mapped_address, transaction_id

MessageHandler = Callable[[Request | Response, "Connection"], None]
ErrorHandler = Callable[[Exception, "Connection"], None]
GarbageHandler = Callable[[bytes, str, "Connection"], None]
#: Sees every message on the wire (``-v``): "sent" or "received", the bytes, the flow.
WireTap = Callable[[str, bytes, "Connection"], None]

SUPPORTED = (Transport.UDP, Transport.TCP, Transport.TLS)


def tls_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """System trust store plus an optional extra CA file; hostname checking always on."""
    ctx = ssl.create_default_context()
    if ca_file is not None:
        ctx.load_verify_locations(cafile=str(ca_file))
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class Connection:
    """One flow to one target, shared by every transaction sent to it."""

    def __init__(self, target: Target, on_message: MessageHandler, on_error: ErrorHandler) -> None:
        self.target = target
        self.on_message = on_message
        self.on_error = on_error
        self.on_garbage: GarbageHandler | None = None
        self.on_wire: WireTap | None = None
        self.local: tuple[str, int] = ("0.0.0.0", 0)
        self.closed = False
        self.lost = asyncio.Event()  # set when the flow fails or is closed
        self._keepalive: asyncio.Future[tuple[str, int] | None] | None = None

    @property
    def reliable(self) -> bool:
        return self.target.transport != Transport.UDP

    def send(self, data: bytes) -> None:
        """Write ``data`` to the flow; the wire tap sees what was written."""
        self._write(data)
        if self.on_wire is not None:
            self.on_wire("sent", data, self)

    def _write(self, data: bytes) -> None:
        raise NotImplementedError

    async def keepalive(self, timeout: float = 10.0) -> tuple[str, int] | None:
        """One RFC 5626 keep-alive, answered within ``timeout`` or TimeoutError: a CRLF ping
        and its pong on TCP/TLS (§4.4.1), a STUN Binding on UDP (§4.4.2, which returns the
        address the far end sees us at; None on streams)."""
        raise NotImplementedError

    async def _await_keepalive(self, timeout: float) -> tuple[str, int] | None:
        waiter = self._keepalive = asyncio.get_running_loop().create_future()
        try:
            return await asyncio.wait_for(waiter, timeout)
        finally:
            if self._keepalive is waiter:
                self._keepalive = None

    def _answered(self, mapped: tuple[str, int] | None) -> None:
        if self._keepalive is not None and not self._keepalive.done():
            self._keepalive.set_result(mapped)

    def close(self) -> None:
        self.closed = True
        self.lost.set()

    def _deliver(self, data: bytes) -> None:
        if self.on_wire is not None:
            self.on_wire("received", data, self)
        try:
            msg = parse_message(data, datagram=not self.reliable)
        except MessageError as exc:
            # RFC 3261 §18.3: discarded; whoever waits for an answer may still learn of it.
            if self.on_garbage is not None:
                self.on_garbage(data, str(exc), self)
            return
        self.on_message(msg, self)

    def _fail(self, exc: Exception) -> None:
        if not self.closed:
            self.closed = True
            self.lost.set()
            self.on_error(exc, self)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, conn: UdpConnection) -> None:
        self.conn = conn

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if is_stun(data):
            self.conn._stun(data)
        else:
            self.conn._deliver(data)

    def error_received(self, exc: Exception) -> None:
        # An ICMP error fails what is in flight, but the socket stays usable: keeping it
        # keeps our local port, hence our Contact, stable when the server comes back.
        if not self.conn.closed:
            self.conn.on_error(exc, self.conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self.conn._fail(exc)


class UdpConnection(Connection):
    """A connected UDP socket: the kernel reports ICMP errors for it as ECONNREFUSED.

    ``connected=False`` gives the unconnected socket most SIP clients use, which never
    hears about ICMP errors (kept for comparison, e.g. in the failover benchmark).
    """

    transport: asyncio.DatagramTransport | None = None

    def __init__(
        self,
        target: Target,
        on_message: MessageHandler,
        on_error: ErrorHandler,
        *,
        connected: bool = True,
    ) -> None:
        super().__init__(target, on_message, on_error)
        self.connected = connected
        self._stun_id = b""  # the transaction ID of the keep-alive awaiting its answer

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        remote = (self.target.address, self.target.port)
        if self.connected:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), remote_addr=remote
            )
        else:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), local_addr=(_source_address(remote), 0)
            )
        self.transport = transport
        self.local = transport.get_extra_info("sockname")[:2]

    def _write(self, data: bytes) -> None:
        if self.closed or self.transport is None:
            raise ConnectionError("connection closed")
        if self.connected:
            self.transport.sendto(data)
        else:
            self.transport.sendto(data, (self.target.address, self.target.port))

    async def keepalive(self, timeout: float = 10.0) -> tuple[str, int] | None:
        request, self._stun_id = binding_request()
        self.send(request)
        return await self._await_keepalive(timeout)

    def _stun(self, data: bytes) -> None:
        """A STUN answer to our keep-alive (anything else STUN is dropped)."""
        if transaction_id(data) == self._stun_id:
            mapped = mapped_address(data)
            if mapped is not None:
                self._answered(mapped)

    def close(self) -> None:
        super().close()
        if self.transport is not None:
            self.transport.close()


def _source_address(remote: tuple[str, int]) -> str:
    """The local address the kernel would use towards ``remote`` (no packet is sent)."""
    family = socket.AF_INET6 if ":" in remote[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect(remote)
        return str(probe.getsockname()[0])


class StreamConnection(Connection):
    """TCP or TLS: framed by Content-Length; a reset or EOF fails every pending transaction."""

    def __init__(
        self,
        target: Target,
        on_message: MessageHandler,
        on_error: ErrorHandler,
        *,
        ssl_context: ssl.SSLContext | None = None,
        server_name: str | None = None,
    ) -> None:
        super().__init__(target, on_message, on_error)
        self.ssl_context = ssl_context
        self.server_name = server_name
        self.writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        kwargs: dict[str, object] = {}
        if self.target.transport == Transport.TLS:
            kwargs["ssl"] = self.ssl_context or tls_context()
            kwargs["server_hostname"] = self.server_name or self.target.host
        reader, writer = await asyncio.open_connection(
            self.target.address,
            self.target.port,
            **kwargs,  # type: ignore[arg-type]
        )
        self.writer = writer
        self.local = writer.get_extra_info("sockname")[:2]
        self._reader_task = asyncio.create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        framer = StreamFramer()
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionResetError("connection closed by server")
                pongs = framer.crlfs
                for raw in framer.feed(data):
                    self._deliver(raw)
                if framer.crlfs != pongs:
                    self._answered(None)
        except asyncio.CancelledError:
            raise
        except (OSError, MessageError, ssl.SSLError) as exc:
            self._fail(exc)

    def _write(self, data: bytes) -> None:
        if self.closed or self.writer is None or self.writer.is_closing():
            raise ConnectionError("connection closed")
        self.writer.write(data)

    async def keepalive(self, timeout: float = 10.0) -> tuple[str, int] | None:
        self.send(b"\r\n\r\n")
        return await self._await_keepalive(timeout)

    def close(self) -> None:
        super().close()
        if self._reader_task is not None:
            self._reader_task.cancel()
        if self.writer is not None:
            with contextlib.suppress(Exception):
                self.writer.close()


async def open_connection(
    target: Target,
    on_message: MessageHandler,
    on_error: ErrorHandler,
    *,
    ssl_context: ssl.SSLContext | None = None,
    server_name: str | None = None,
    connected_udp: bool = True,
    on_garbage: GarbageHandler | None = None,
    on_wire: WireTap | None = None,
) -> Connection:
    """Open a flow to ``target``; raises OSError/ssl.SSLError on refusal or a bad certificate."""
    conn: UdpConnection | StreamConnection
    if target.transport == Transport.UDP:
        conn = UdpConnection(target, on_message, on_error, connected=connected_udp)
    elif target.transport in (Transport.TCP, Transport.TLS):
        conn = StreamConnection(
            target, on_message, on_error, ssl_context=ssl_context, server_name=server_name
        )
    else:
        raise OSError(f"transport {target.transport} is not supported by this client")
    conn.on_garbage = on_garbage
    conn.on_wire = on_wire
    await conn.open()
    return conn
