"""The client's flows (RFC 5626's word for a connection to one next hop): one per
(transport, address, port), opened once however many requests want it at the same time,
kept for reuse and for what the far end sends back on it, dropped when it fails."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from ..sip.transport import Connection
from ..target import Target
from .failover import TargetKey, key

Opener = Callable[[Target], Awaitable[Connection]]


class OutboundLike(Protocol):
    """An RFC 5626 ``outbound.Outbound`` as requests see it: the first hops of its flows."""

    def live(self) -> list[Target]: ...


class FlowPool:
    """Open flows by target; ``opener`` makes a new one (TLS, callbacks: the client's)."""

    def __init__(self, opener: Opener) -> None:
        self.opener = opener
        self._flows: dict[TargetKey, Connection] = {}
        self._opening: dict[TargetKey, asyncio.Future[Connection]] = {}

    def pooled(self, target: Target) -> Connection | None:
        """The open flow to ``target``, if there is one (no waiting)."""
        conn = self._flows.get(key(target))
        return conn if conn is not None and not conn.closed else None

    async def get(self, target: Target, timeout: float) -> Connection:
        """The flow to ``target``, opened within ``timeout`` if need be (one opening shared
        by concurrent callers); raises OSError, ssl.SSLError or TimeoutError."""
        conn = self.pooled(target)
        if conn is not None:
            return conn
        k = key(target)
        pending = self._opening.get(k)
        if pending is None:
            pending = asyncio.ensure_future(self._open(k, target, timeout))
            self._opening[k] = pending
            pending.add_done_callback(lambda f: self._opened(k, f))
        return await asyncio.shield(pending)

    async def _open(self, k: TargetKey, target: Target, timeout: float) -> Connection:
        conn = await asyncio.wait_for(self.opener(target), timeout)
        self._flows[k] = conn  # pooled even if every caller gave up meanwhile
        return conn

    def _opened(self, k: TargetKey, fut: asyncio.Future[Connection]) -> None:
        if self._opening.get(k) is fut:
            del self._opening[k]
        if not fut.cancelled():
            fut.exception()  # retrieved: callers that gave up must not leave a warning

    def drop(self, conn: Connection) -> None:
        """Forget and close a failed flow (a newer flow to the same target is kept)."""
        k = key(conn.target)
        if self._flows.get(k) is conn:
            del self._flows[k]
        conn.close()

    def close(self) -> None:
        """Stop flows being opened and close every open one."""
        for pending in list(self._opening.values()):
            pending.cancel()
        for conn in list(self._flows.values()):
            conn.close()
        self._flows.clear()
