"""What a stranger can make the watch HTTP server hold: connections, streams, probes, time.

The server is meant to be reachable (a remote Prometheus scrapes it), so every resource a
client can take has a bound, set here in one place (``HttpLimits``, README "Limits of the
HTTP side"):

- ``Host`` header check (DNS rebinding): an aiohttp middleware (``host_check``).
- Connection cap, header timeout, idle eviction: aiohttp has no setting for the first two,
  so ``ConnectionGuard`` wraps aiohttp's own protocol factory (a small asyncio Protocol
  around each ``RequestHandler``). The idle keep-alive timeout is aiohttp's own
  ``keepalive_timeout`` setting.
- SSE streams and /probe callers: counted by the handlers with ``Slots``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import resource
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """Bounds of the watch HTTP server; the defaults suit one Prometheus and a few pages."""

    max_connections: int = 512
    """Open HTTP connections (Prometheus' --web.max-connections default). At the cap a new
    connection takes the place of the oldest idle one; with none idle it is closed."""
    header_timeout: float = 10.0
    """Seconds from connecting (or from the first byte of a next request) to the end of
    the request's headers (Go's ReadHeaderTimeout): a slowloris client is closed."""
    idle_timeout: float = 60.0
    """Seconds a kept-alive connection may wait for its next request (aiohttp's
    keepalive_timeout)."""
    max_streams: int = 64
    """Live pages (/api/stream) at once; more get 503 and the page falls back to polling."""
    max_probes: int = 16
    """/probe requests admitted at once (running or waiting); more get 503."""
    probes_in_flight: int = 4
    """/probe checks running at once; the other admitted ones wait their turn."""
    probe_timeout: float = 10.0
    """Seconds a /probe may take when the caller sends no X-Prometheus-Scrape-Timeout-Seconds
    (Prometheus' default scrape timeout)."""
    stream_write_timeout: float = 30.0
    """Seconds one SSE write may wait for a client that does not read before it is dropped."""

    def effective_connections(self, fd_limit: int) -> tuple[int, int]:
        """The connection cap and the listen backlog under a soft fd limit.

        A quarter of the descriptors (at least 64) stay free for probes, DNS, the webhook,
        files and the connections accepted in one loop turn before the cap is applied (the
        backlog, which asyncio also uses as its accept batch): accept() never hits EMFILE."""
        reserve = max(64, fd_limit // 4)
        return max(1, min(self.max_connections, fd_limit - reserve)), max(8, min(128, reserve // 2))


SCRAPE_MARGIN = 0.5  # seconds kept for the answer to reach Prometheus (blackbox's offset)
MAX_SCRAPE_TIMEOUT = 300.0


def scrape_budget(header: str | None, default: float) -> float:
    """Seconds one /probe may take: Prometheus' X-Prometheus-Scrape-Timeout-Seconds less a
    margin (as blackbox_exporter does), so the answer arrives before the scrape gives up;
    ``default`` when the header is absent or not a positive number."""
    try:
        timeout = float(header) if header is not None else math.nan
    except ValueError:
        timeout = math.nan
    if not 0 < timeout < math.inf:
        return default
    timeout = min(timeout, MAX_SCRAPE_TIMEOUT)
    return max(timeout / 2, timeout - SCRAPE_MARGIN)


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (as Go's runtime does); the new soft
    limit. Nothing changes when that is not allowed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


# -- the Host header ---------------------------------------------------------------------------


def host_allowed(header: str | None, allowed: Iterable[str], listen_host: str) -> bool:
    """May a request with this ``Host`` header be answered?

    A DNS-rebinding page reaches the server under the attacker's name, so only these pass:
    no Host (HTTP/1.0), an IP address (it cannot be rebound), ``localhost`` and its
    subdomains, the name the server listens on, and the ``--allowed-host`` names (``*``:
    anything)."""
    names = {_bare(a) for a in allowed}
    if header is None or "*" in names:
        return True
    host = _bare(header)
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host
    elif host.count(":") == 1:
        host = host.rsplit(":", 1)[0]
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    return (
        host == "localhost"
        or host.endswith(".localhost")
        or host == _bare(listen_host)
        or host in names
    )


def _bare(name: str) -> str:
    return name.strip().lower().rstrip(".")


def host_check(allowed: Iterable[str], listen_host: str) -> Any:
    """An aiohttp middleware answering 403 to a request whose Host is not allowed."""
    names = tuple(allowed)

    @web.middleware
    async def check(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        host = request.headers.get("Host")
        if not host_allowed(host, names, listen_host):
            return web.Response(
                status=403,
                text=f"Host {host!r} is not served here (add it with --allowed-host)\n",
            )
        return await handler(request)

    return check


# -- counted slots (SSE streams, /probe callers) --------------------------------------------------


class Slots:
    """At most ``size`` holders at once; ``take()`` says False instead of waiting."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self.used = 0

    def take(self) -> bool:
        if self.used >= self.size:
            return False
        self.used += 1
        return True

    def give(self) -> None:
        self.used = max(0, self.used - 1)


def busy(reason: str, retry_after: int = 5) -> web.Response:
    """503 with Retry-After: a bound of this server was reached."""
    return web.Response(
        status=503, text=f"{reason}; try again later\n", headers={"Retry-After": str(retry_after)}
    )


# -- connections: the cap, the header timeout, idle ones giving way ------------------------------


class ConnectionGuard:
    """Wraps aiohttp's protocol factory: at most ``cap`` connections; a connection must have
    its request headers in within ``header_timeout`` (from connecting, or from the first byte
    of its next request); at the cap the oldest idle connection (no request being handled)
    is closed for the new one, and with none idle the new one is closed at once.

    ``middleware`` tells it when a request is being handled (aiohttp keeps that to itself).
    """

    def __init__(self, header_timeout: float) -> None:
        self.header_timeout = header_timeout
        self.cap = 0  # set by ``wrap``
        self.live: dict[asyncio.BaseTransport, _Guarded] = {}  # oldest first
        self.refused = 0
        self.evicted = 0
        self.timed_out = 0

    def wrap(self, factory: Callable[[], asyncio.Protocol], cap: int) -> Callable[[], Any]:
        """The protocol factory to give ``loop.create_server``."""
        self.cap = max(1, cap)
        return lambda: _Guarded(self, factory())

    def _admit(self, conn: _Guarded, transport: asyncio.BaseTransport) -> bool:
        if len(self.live) >= self.cap:
            idle = next((c for c in self.live.values() if not c.busy), None)
            if idle is None:
                self.refused += 1
                return False
            self.evicted += 1
            idle.close()
        self.live[transport] = conn
        return True

    @web.middleware
    async def middleware(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        """Marks the connection busy while its request is handled (not idle, headers in)."""
        conn = self.live.get(request.transport) if request.transport is not None else None
        if conn is None:
            return await handler(request)
        conn.busy += 1
        conn.stop_timer()
        try:
            return await handler(request)
        finally:
            conn.busy -= 1


class _Guarded(asyncio.Protocol):
    """One connection: aiohttp's handler inside, the guard's rules around it."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self.guard = guard
        self.inner = inner
        self.transport: asyncio.BaseTransport | None = None
        self.busy = 0  # requests being handled
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self.guard._admit(self, transport):
            assert isinstance(transport, asyncio.Transport)
            transport.abort()  # the descriptor is free at once; nothing was read
            return
        self.transport = transport
        self._start_timer()
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.transport is None:
            return
        if not self.busy and self.timer is None:  # the first byte of a next request
            self._start_timer()
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.transport is not None else None

    def pause_writing(self) -> None:
        if self.transport is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.transport is not None:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is None:
            return
        self.stop_timer()
        self.guard.live.pop(self.transport, None)
        self.transport = None
        self.inner.connection_lost(exc)

    def _start_timer(self) -> None:
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(self.guard.header_timeout, self._headers_late)

    def stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _headers_late(self) -> None:
        self.timer = None
        if not self.busy:
            self.guard.timed_out += 1
            self.close()

    def close(self) -> None:
        """Abort now (the descriptor is freed on the next loop turn): counted out at once, so
        the next connection accepted in the same turn does not pick it again."""
        if self.transport is not None:
            self.guard.live.pop(self.transport, None)
            assert isinstance(self.transport, asyncio.Transport)
            self.transport.abort()
