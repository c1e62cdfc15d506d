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

import ipaddress
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

    def effective_connections(self, fd_limit: int) -> int:
        """The connection cap under a soft fd limit: a quarter of the descriptors (at least
        64) stay free for probes, DNS, the webhook and files, so accept() never hits EMFILE."""
        return max(1, min(self.max_connections, fd_limit - max(64, fd_limit // 4)))


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
