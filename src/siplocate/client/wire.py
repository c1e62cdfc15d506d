"""The client's flows on the wire: how one is opened (TLS settings, UDP mode, the wire
tap) and where what arrives on it goes: requests to the answering side, responses to their
transactions, errors and garbage to the transactions pending on that flow.
"""

from __future__ import annotations

import ssl
from typing import Protocol

from sipmessage import Request, Response

from ..sip.transport import Connection, WireTap, open_connection, tls_context
from ..target import Target, Transport
from .flows import FlowPool
from .transactions import Transactions


class Answering(Protocol):
    """The answering side as the wire sees it (``answering.Answerer``)."""

    def serve(self, request: Request, conn: Connection) -> None: ...
    def stray(self, response: Response, conn: Connection) -> None: ...


class WireHost(Protocol):
    """What opening and serving flows reads from the client (read when a flow opens)."""

    @property
    def domain(self) -> str: ...
    @property
    def connected_udp(self) -> bool: ...
    @property
    def on_wire(self) -> WireTap | None: ...
    @property
    def flows(self) -> FlowPool: ...
    @property
    def transactions(self) -> Transactions: ...
    @property
    def answerer(self) -> Answering: ...


class Wire:
    """Opens the client's flows and routes what arrives on them."""

    def __init__(self, host: WireHost, ssl_context: ssl.SSLContext | None = None) -> None:
        self.host = host
        self._ssl = ssl_context  # from the CA file; else the system's store, made when needed

    def ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = tls_context(None)
        return self._ssl

    async def open(self, target: Target) -> Connection:
        """A new flow to ``target`` with the client's callbacks (the pool shares it)."""
        host = self.host
        return await open_connection(
            target,
            self.message,
            self.error,
            ssl_context=self.ssl_context() if target.transport == Transport.TLS else None,
            server_name=host.domain,  # RFC 5922: the certificate must name the SIP domain
            connected_udp=host.connected_udp,
            on_garbage=host.transactions.garbage,
            on_wire=host.on_wire,
        )

    def message(self, msg: Request | Response, conn: Connection) -> None:
        if isinstance(msg, Request):
            self.host.answerer.serve(msg, conn)
        elif not self.host.transactions.response(msg, conn):
            self.host.answerer.stray(msg, conn)

    def error(self, exc: Exception, conn: Connection) -> None:
        """A flow failed: fail its pending transactions; drop it unless it is a UDP socket
        that merely reported an ICMP error (it stays open, same port, same Contact)."""
        self.host.transactions.flow_failed(exc, conn)
        if conn.reliable or conn.closed:
            self.host.flows.drop(conn)
