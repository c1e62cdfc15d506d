"""The watcher's HTTP side (aiohttp): status page, live updates, /metrics and /probe."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from importlib import resources

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

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
    assets = {name: (_asset(name), kind) for name, kind in STATIC.items()}
    gate = asyncio.Semaphore(limits.probes_in_flight)
    probes = Slots(limits.max_probes)  # admitted: running or waiting for the gate
    streams = Slots(limits.max_streams)
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'"
    )

    async def page(_: web.Request) -> web.Response:
        """The page rendered with the current state: complete at first paint."""
        return web.Response(
            body=page_note(document(watcher.state()).encode(), watcher.shard),
            content_type="text/html",
            charset="utf-8",
            headers={**headers, "Content-Security-Policy": csp},
        )

    async def static(request: web.Request) -> web.Response:
        found = assets.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        return web.Response(body=found[0], content_type=found[1], headers=headers)

    async def state(_: web.Request) -> web.Response:
        return web.json_response(watcher.state(), headers=headers)

    shared: dict[str, tuple[int, bytes, float]] = {}  # one rendering per version, all pages

    def rendered(view: str = "state") -> tuple[bytes, float]:
        """The current state as an SSE message (``view`` "state": the JSON state, "page":
        the page's parts rendered as HTML), and what building it cost (seconds)."""
        cached = shared.get(view)
        if cached is None or cached[0] != watcher.version:
            started = time.perf_counter()
            version = watcher.version
            data = watcher.state() if view == "state" else parts(watcher.state())
            text = json.dumps(data, separators=(",", ":"))
            message = f"event: {view}\ndata: {text}\n\n".encode()
            cached = shared[view] = (version, message, time.perf_counter() - started)
        return cached[1], cached[2]

    async def page_parts(_: web.Request) -> web.Response:
        return web.json_response(parts(watcher.state()), headers=headers)

    async def stream(request: web.Request) -> web.StreamResponse:
        """Server-sent events: the whole state on connect and after every change, at most
        once per quarter interval (0.25-2 s; longer when the state is costly to build): a
        change shows within a fraction of a probe interval, and a big installation does not
        spend its time serialising. At most ``max_streams`` at once (503 beyond); a client
        that stops reading is dropped after ``stream_write_timeout``; a client that leaves,
        even before the headers, ends its stream quietly."""
        if not streams.take():
            return busy(f"{streams.size} live streams are open already (max_streams)")
        view = "page" if request.query.get("view") == "page" else "state"
        resp = web.StreamResponse(
            headers={**headers, "Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
        )

        async def send(data: bytes) -> None:
            await asyncio.wait_for(resp.write(data), limits.stream_write_timeout)

        version = -1
        try:
            await resp.prepare(request)
            while True:
                new = await watcher.wait_update(version, KEEPALIVE)
                if new == version:
                    await send(b": keepalive\n\n")
                    continue
                version = new
                message, cost = rendered(view)
                await send(message)
                await asyncio.sleep(max(min(2.0, max(0.25, watcher.interval / 4)), 4 * cost))
        except (ConnectionError, asyncio.CancelledError):
            pass
        except TimeoutError:  # not reading: let the connection go
            if request.transport is not None:
                request.transport.abort()
        finally:
            streams.give()
        return resp

    async def metrics(_: web.Request) -> web.Response:
        resp = web.Response(body=watcher.metrics.exposition())
        resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return resp

    async def probe(request: web.Request) -> web.Response:
        if not request.query.get("target", "").strip():
            return web.Response(status=400, text="target parameter is missing\n")
        try:  # the rule of watched domains: no addresses, ports or URI parameters
            target = domain_name(request.query["target"])
        except BadInput as exc:
            return web.Response(status=400, text=f"{exc}\n")
        if target not in watcher.views and not probe_any:
            return web.Response(
                status=400, text=f"{target} is not watched here (start with --probe-any)\n"
            )
        budget = scrape_budget(
            request.headers.get("X-Prometheus-Scrape-Timeout-Seconds"), limits.probe_timeout
        )
        if not probes.take():
            return busy(f"{probes.size} probes are running or waiting already (max_probes)", 1)
        try:
            deadline = watcher.clock.monotonic() + budget
            try:
                await asyncio.wait_for(gate.acquire(), budget)
            except TimeoutError:
                return busy("no probe slot came free within the scrape timeout", 1)
            try:
                report = await watcher.check(target, budget=deadline - watcher.clock.monotonic())
            finally:
                gate.release()
        finally:
            probes.give()
        resp = web.Response(body=probe_exposition(report))
        resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return resp

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    app.router.add_get("/", page)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/api/state", state)
    app.router.add_get("/api/page", page_parts)
    app.router.add_get("/api/stream", stream)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/probe", probe)
    app.router.add_get("/healthz", healthz)
    return app


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
