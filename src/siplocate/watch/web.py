"""The watcher's HTTP side (aiohttp): status page, live updates, /metrics and /probe."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from importlib import resources

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from ..clock import SYSTEM_CLOCK
from ..errors import BadInput
from .config import domain_name
from .guard import ConnectionGuard, HttpLimits, Slots, busy, host_check, scrape_budget
from .metrics import probe_exposition
from .monitor import Watcher
from .page import document, parts
from .shard import page_note

STATIC = {
    "index.html": "text/html",
    "app.js": "text/javascript",
    "live.js": "text/javascript",
    "style.css": "text/css",
    "favicon.svg": "image/svg+xml",
}
KEEPALIVE = 15.0  # seconds between SSE comments on an idle stream
WATCHER: web.AppKey[Watcher] = web.AppKey("watcher", Watcher)
LIMITS: web.AppKey[HttpLimits] = web.AppKey("limits", HttpLimits)
GUARD: web.AppKey[ConnectionGuard] = web.AppKey("guard", ConnectionGuard)


def _asset(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'"
)
HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


def make_app(
    watcher: Watcher,
    *,
    probe_any: bool = False,
    allowed_hosts: Iterable[str] = (),
    listen_host: str = "127.0.0.1",
    limits: HttpLimits | None = None,
) -> web.Application:
    """The aiohttp application; ``probe_any`` lets /probe check domains not being watched;
    requests whose Host is neither ``listen_host``, an address, localhost nor one of
    ``allowed_hosts`` get 403 (DNS rebinding); ``limits`` bound streams and probes (and the
    connections, when served by ``serve``)."""
    limits = limits or HttpLimits()
    guard = ConnectionGuard(limits.header_timeout)
    app = web.Application(middlewares=[guard.middleware, host_check(allowed_hosts, listen_host)])
    app[WATCHER] = watcher
    app[LIMITS] = limits
    app[GUARD] = guard
    pages = _Pages(watcher)
    live = _Live(watcher, limits)
    prober = _Prober(watcher, limits, probe_any)
    app.router.add_get("/", pages.page)
    app.router.add_get("/static/{name}", pages.static)
    app.router.add_get("/api/state", pages.state)
    app.router.add_get("/api/page", pages.page_parts)
    app.router.add_get("/api/stream", live.stream)
    app.router.add_get("/metrics", prober.metrics)
    app.router.add_get("/probe", prober.probe)
    app.router.add_get("/healthz", _healthz)
    return app


async def _healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok\n")


class _Pages:
    """The page, its static assets and the state as JSON: each answered from the current state."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher
        self.assets = {name: (_asset(name), kind) for name, kind in STATIC.items()}

    async def page(self, _: web.Request) -> web.Response:
        """The page rendered with the current state: complete at first paint."""
        return web.Response(
            body=page_note(document(self.watcher.state()).encode(), self.watcher.shard),
            content_type="text/html",
            charset="utf-8",
            headers={**HEADERS, "Content-Security-Policy": CSP},
        )

    async def static(self, request: web.Request) -> web.Response:
        found = self.assets.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        return web.Response(body=found[0], content_type=found[1], headers=HEADERS)

    async def state(self, _: web.Request) -> web.Response:
        return web.json_response(self.watcher.state(), headers=HEADERS)

    async def page_parts(self, _: web.Request) -> web.Response:
        return web.json_response(parts(self.watcher.state()), headers=HEADERS)


class _Live:
    """The live stream (server-sent events), with one rendering per state version shared by
    every open stream."""

    def __init__(self, watcher: Watcher, limits: HttpLimits) -> None:
        self.watcher = watcher
        self.limits = limits
        self.streams = Slots(limits.max_streams)
        self.shared: dict[str, tuple[int, bytes, float]] = {}  # one rendering per version

    def rendered(self, view: str = "state") -> tuple[bytes, float]:
        """The current state as an SSE message (``view`` "state": the JSON state, "page":
        the page's parts rendered as HTML), and what building it cost (seconds)."""
        watcher = self.watcher
        cached = self.shared.get(view)
        if cached is None or cached[0] != watcher.version:
            started = SYSTEM_CLOCK.monotonic()  # real cost, whatever clock the watcher runs on
            version = watcher.version
            data = watcher.state() if view == "state" else parts(watcher.state())
            text = json.dumps(data, separators=(",", ":"))
            message = f"event: {view}\ndata: {text}\n\n".encode()
            cost = SYSTEM_CLOCK.monotonic() - started
            cached = self.shared[view] = (version, message, cost)
        return cached[1], cached[2]

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: the whole state on connect and after every change, at most
        once per quarter interval (0.25-2 s; longer when the state is costly to build): a
        change shows within a fraction of a probe interval, and a big installation does not
        spend its time serialising. At most ``max_streams`` at once (503 beyond); a client
        that stops reading is dropped after ``stream_write_timeout``; a client that leaves,
        even before the headers, ends its stream quietly."""
        if not self.streams.take():
            return busy(f"{self.streams.size} live streams are open already (max_streams)")
        view = "page" if request.query.get("view") == "page" else "state"
        resp = web.StreamResponse(
            headers={**HEADERS, "Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
        )
        try:
            await resp.prepare(request)
            await self._feed(resp, view)
        except (ConnectionError, asyncio.CancelledError):
            pass
        except TimeoutError:  # not reading: let the connection go
            if request.transport is not None:
                request.transport.abort()
        finally:
            self.streams.give()
        return resp

    async def _feed(self, resp: web.StreamResponse, view: str) -> None:
        """Write the state on every change (a keepalive comment when idle), paced as above."""
        watcher, timeout = self.watcher, self.limits.stream_write_timeout
        version = -1
        while True:
            new = await watcher.wait_update(version, KEEPALIVE)
            if new == version:
                await asyncio.wait_for(resp.write(b": keepalive\n\n"), timeout)
                continue
            version = new
            message, cost = self.rendered(view)
            await asyncio.wait_for(resp.write(message), timeout)
            await asyncio.sleep(max(min(2.0, max(0.25, watcher.interval / 4)), 4 * cost))


class _Prober:
    """/metrics (the watcher's registry) and /probe (one check per scrape, bounded: at most
    ``max_probes`` admitted, ``probes_in_flight`` running, each within the scrape budget)."""

    def __init__(self, watcher: Watcher, limits: HttpLimits, probe_any: bool) -> None:
        self.watcher = watcher
        self.limits = limits
        self.probe_any = probe_any
        self.gate = asyncio.Semaphore(limits.probes_in_flight)
        self.probes = Slots(limits.max_probes)  # admitted: running or waiting for the gate

    async def metrics(self, _: web.Request) -> web.Response:
        resp = web.Response(body=self.watcher.metrics.exposition())
        resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return resp

    def _target(self, request: web.Request) -> str | web.Response:
        """The domain to probe, or the 400 answer saying why the request names none."""
        if not request.query.get("target", "").strip():
            return web.Response(status=400, text="target parameter is missing\n")
        try:  # the rule of watched domains: no addresses, ports or URI parameters
            target = domain_name(request.query["target"])
        except BadInput as exc:
            return web.Response(status=400, text=f"{exc}\n")
        if target not in self.watcher.views and not self.probe_any:
            return web.Response(
                status=400, text=f"{target} is not watched here (start with --probe-any)\n"
            )
        return target

    async def probe(self, request: web.Request) -> web.Response:
        target = self._target(request)
        if isinstance(target, web.Response):
            return target
        budget = scrape_budget(
            request.headers.get("X-Prometheus-Scrape-Timeout-Seconds"), self.limits.probe_timeout
        )
        if not self.probes.take():
            return busy(f"{self.probes.size} probes are running or waiting already (max_probes)", 1)
        clock = self.watcher.clock
        try:
            deadline = clock.monotonic() + budget
            try:
                await asyncio.wait_for(self.gate.acquire(), budget)
            except TimeoutError:
                return busy("no probe slot came free within the scrape timeout", 1)
            try:
                report = await self.watcher.check(target, budget=deadline - clock.monotonic())
            finally:
                self.gate.release()
        finally:
            self.probes.give()
        resp = web.Response(body=probe_exposition(report))
        resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return resp


class HttpServer:
    """The listening socket(s) and the aiohttp runner behind them."""

    def __init__(self, runner: web.AppRunner, server: asyncio.Server, cap: int) -> None:
        self.runner = runner
        self.server = server
        self.cap = cap  # connections at most, after the fd limit

    @property
    def port(self) -> int:
        for sock in self.server.sockets:
            return int(sock.getsockname()[1])
        raise RuntimeError("not listening")

    async def close(self) -> None:
        self.server.close()
        await self.runner.cleanup()


async def serve(app: web.Application, host: str, port: int, fd_limit: int) -> HttpServer:
    """Listen on ``host:port`` (port 0: any free port) with the app's bounds: aiohttp's own
    ``keepalive_timeout`` for idle connections, ``ConnectionGuard`` around aiohttp's protocol
    factory for the connection cap and the header timeout (aiohttp has no setting for them)."""
    limits, guard = app[LIMITS], app[GUARD]
    runner = web.AppRunner(
        app, access_log=None, shutdown_timeout=1.0, keepalive_timeout=limits.idle_timeout
    )
    await runner.setup()
    assert runner.server is not None
    cap, backlog = limits.effective_connections(fd_limit)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        guard.wrap(runner.server, cap), host, port, backlog=backlog, reuse_address=True
    )
    return HttpServer(runner, server, cap)
