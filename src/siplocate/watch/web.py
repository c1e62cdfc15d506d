"""The watcher's HTTP side (aiohttp): status page, live updates, /metrics and /probe."""

from __future__ import annotations

import asyncio
import json
import time
from importlib import resources

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from .metrics import probe_exposition
from .monitor import Watcher
from .page import document, parts

STATIC = {
    "index.html": "text/html",
    "app.js": "text/javascript",
    "live.js": "text/javascript",
    "style.css": "text/css",
    "favicon.svg": "image/svg+xml",
}
MAX_PROBES_IN_FLIGHT = 4  # on-demand /probe checks running at once
KEEPALIVE = 15.0  # seconds between SSE comments on an idle stream
WATCHER: web.AppKey[Watcher] = web.AppKey("watcher", Watcher)


def _asset(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


def make_app(watcher: Watcher, *, probe_any: bool = False) -> web.Application:
    """The aiohttp application; ``probe_any`` lets /probe check domains not being watched."""
    app = web.Application()
    app[WATCHER] = watcher
    assets = {name: (_asset(name), kind) for name, kind in STATIC.items()}
    gate = asyncio.Semaphore(MAX_PROBES_IN_FLIGHT)
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'"
    )

    async def page(_: web.Request) -> web.Response:
        """The page rendered with the current state: complete at first paint."""
        return web.Response(
            text=document(watcher.state()),
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
        spend its time serialising."""
        view = "page" if request.query.get("view") == "page" else "state"
        resp = web.StreamResponse(
            headers={**headers, "Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
        )
        await resp.prepare(request)
        version = -1
        try:
            while True:
                new = await watcher.wait_update(version, KEEPALIVE)
                if new == version:
                    await resp.write(b": keepalive\n\n")
                    continue
                version = new
                message, cost = rendered(view)
                await resp.write(message)
                await asyncio.sleep(max(min(2.0, max(0.25, watcher.interval / 4)), 4 * cost))
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return resp

    async def metrics(_: web.Request) -> web.Response:
        resp = web.Response(body=watcher.metrics.exposition())
        resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return resp

    async def probe(request: web.Request) -> web.Response:
        target = request.query.get("target", "").strip().lower().rstrip(".")
        if target.startswith(("sip:", "sips:")):
            target = target.split(":", 1)[1].split("@")[-1]
        if not target:
            return web.Response(status=400, text="target parameter is missing\n")
        if target not in watcher.views and not probe_any:
            return web.Response(
                status=400, text=f"{target} is not watched here (start with --probe-any)\n"
            )
        async with gate:
            report = await watcher.check(target)
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


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Listen on ``host:port`` (port 0: any free port, see ``bound_port``)."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner


def bound_port(runner: web.AppRunner) -> int:
    for addr in runner.addresses:
        return int(addr[1])
    raise RuntimeError("not listening")
