"""Run the whole service: resolver, watcher, event sinks, web server, until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from ..resolver import Resolver
from .config import WatchConfig, parse_listen
from .events import EventLog, json_lines
from .guard import raise_fd_limit
from .monitor import Watcher
from .publish import Publisher, entry_ttl
from .web import make_app, serve
from .webhook import Webhook


async def run_service(cfg: WatchConfig, stop: asyncio.Event | None = None) -> None:
    """Watch ``cfg.domains`` and serve the HTTP side until SIGINT/SIGTERM (or ``stop``)."""
    host, port = parse_listen(cfg.listen)
    fd_limit = raise_fd_limit()  # before any socket: 1,024 descriptors is no limit for a server
    from prometheus_client import disable_created_metrics

    # No *_created series: they would double the scrape for 1,000 targets.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    resolver = Resolver(
        cfg.nameservers or None, [Path(z) for z in cfg.zones] or None, cfg.transports
    )
    log = EventLog()
    if cfg.events:
        log.sinks.append(json_lines())
    watcher = Watcher(
        cfg.domains,
        resolver,
        interval=cfg.interval,
        timeout=cfg.timeout,
        log=log,
        lint=cfg.lint,
        ca_file=Path(cfg.ca_file) if cfg.ca_file else None,
        shard=cfg.parsed_shard(),
        concurrency=cfg.concurrency,
    )
    publisher = _publisher(cfg, watcher)
    hook = None
    if cfg.webhook:
        hook = Webhook(
            cfg.webhook,
            queue=cfg.webhook_queue,
            retries=cfg.webhook_retries,
            metrics=watcher.metrics,
        )
        log.sinks.append(hook)
        hook.start()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    app = make_app(
        watcher,
        probe_any=cfg.probe_any,
        allowed_hosts=cfg.allowed_hosts,
        listen_host=host,
        limits=cfg.http_limits(),
    )
    http = await serve(app, host, port, fd_limit)
    try:
        shown = f"[{host}]" if ":" in host else host
        shard = cfg.parsed_shard()
        part = f" (shard {shard}: {cfg.given} given)" if shard.count > 1 else ""
        print(
            f"siplocate watch: {len(cfg.domains)} domain(s){part}, every {cfg.interval:g} s; "
            f"http://{shown}:{http.port}/",
            file=sys.stderr,
            flush=True,
        )
        await watcher.start()
        await stop.wait()
    finally:
        await watcher.stop()
        if hook is not None:
            await hook.stop(drain=1.0)
        if publisher is not None:
            await publisher.stop()
        await http.close()
        resolver.close()


def _publisher(cfg: WatchConfig, watcher: Watcher) -> Publisher | None:
    """``--publish``: every probe verdict also goes to the shared health in Redis."""
    if not cfg.publish:
        return None
    publisher = Publisher(
        cfg.publish,
        ttl=entry_ttl(watcher.interval, watcher.timeout),
        registry=watcher.metrics.registry,
    )
    watcher.on_probed.append(publisher.saw)
    return publisher.start()
