"""``siplocate watch``: monitor SIP domains, with Prometheus metrics and a live status page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import app
from .bulk import DEFAULT_CONCURRENCY, ConcurrencyOpt
from .common import NameserverOpt, TransportsOpt, ZoneOpt, handle_errors, run


@app.command()
@handle_errors
def watch(
    domains: Annotated[
        list[str] | None, typer.Argument(metavar="DOMAIN...", help="SIP domains to watch.")
    ] = None,
    interval: Annotated[
        float | None,
        typer.Option(help="Seconds between OPTIONS probes of each target (default 5)."),
    ] = None,
    listen: Annotated[
        str | None,
        typer.Option(
            metavar="HOST:PORT",
            help="Serve the page, /metrics, /probe here (default 127.0.0.1:9470).",
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(metavar="FILE", help="TOML settings (see the README).")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            "-f",
            metavar="FILE",
            help="More domains, one a line (blank lines and # comments skipped; - is "
            "standard input).",
        ),
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option(
            metavar="I/N",
            help="Watch only the domains of shard I of N (0-based; a stable hash of the "
            "domain, the same in every instance: see the README).",
        ),
    ] = None,
    concurrency: ConcurrencyOpt = DEFAULT_CONCURRENCY,
    nameserver: NameserverOpt = None,
    zone: ZoneOpt = None,
    transports: TransportsOpt = "",
    timeout: Annotated[
        float | None,
        typer.Option(help="Seconds a probe may wait (default: 2, or the interval if shorter)."),
    ] = None,
    webhook: Annotated[
        str | None, typer.Option(metavar="URL", help="Also POST every event as JSON here.")
    ] = None,
    ca_file: Annotated[
        Path | None, typer.Option(metavar="FILE", help="CA bundle for TLS targets.")
    ] = None,
    publish: Annotated[
        str | None,
        typer.Option(
            metavar="redis://HOST:PORT/DB",
            help="Share each target's health with a fleet of clients through Redis "
            "(needs siplocate[redis]; README: Shared health in Redis).",
        ),
    ] = None,
    probe_any: Annotated[
        bool, typer.Option("--probe-any", help="Let /probe check domains not watched here.")
    ] = False,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME",
            help="Also answer requests for this Host name (repeatable; * = any). "
            "Addresses, localhost and the --listen host are always answered.",
        ),
    ] = None,
    max_connections: Annotated[
        int | None,
        typer.Option(help="Open HTTP connections at most (default 512)."),
    ] = None,
    header_timeout: Annotated[
        float | None,
        typer.Option(help="Seconds a client has to send its request headers (default 10)."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No JSON event lines on stdout.")
    ] = False,
    print_alert_rules: Annotated[
        bool,
        typer.Option(
            "--print-alert-rules", help="Print the Prometheus alerting rules for watch, and exit."
        ),
    ] = False,
) -> None:
    """Watch DOMAINs as their clients see them: re-resolve at TTL expiry, OPTIONS every target.

    Serves a live status page at /, Prometheus metrics at /metrics, and a
    blackbox-style /probe?target=DOMAIN; prints each event as a JSON line.

    Examples:

      siplocate watch example.com --interval 5

      siplocate watch example.com example.net --listen 127.0.0.1:9470 -n 127.0.0.1:5300

      siplocate watch -f domains.txt --shard 0/3 --listen 0.0.0.0:9470

      siplocate watch example.com --publish redis://127.0.0.1:6379/0
    """
    from ..watch.config import WatchConfig
    from ..watch.service import run_service

    if print_alert_rules:
        from ..watch.rules import alert_rules

        typer.echo(alert_rules(), nl=False)
        return
    cfg = WatchConfig.load(config) if config else WatchConfig()
    if domains:
        cfg.domains = list(domains)
    if file is not None:
        cfg.file = str(file)
    if shard is not None:
        cfg.shard = shard
    if interval is not None:
        cfg.interval = interval
    if _given("concurrency"):  # the default does not override the config file's value
        cfg.concurrency = concurrency
    if listen is not None:
        cfg.listen = listen
    if nameserver:
        cfg.nameservers = list(nameserver)
    if zone:
        cfg.zones = [str(z) for z in zone]
    if transports:
        cfg.transports = transports
    if timeout is not None:
        cfg.timeout = timeout
    if ca_file is not None:
        cfg.ca_file = str(ca_file)
    if webhook is not None:
        cfg.webhook = webhook
    if publish is not None:
        cfg.publish = publish
    if allowed_host:
        cfg.allowed_hosts = [*cfg.allowed_hosts, *allowed_host]
    if max_connections is not None:
        cfg.max_connections = max_connections
    if header_timeout is not None:
        cfg.header_timeout = header_timeout
    cfg.probe_any = cfg.probe_any or probe_any
    cfg.events = cfg.events and not quiet
    run(run_service(cfg.validate()))


def _given(param: str) -> bool:
    """``param`` was given on the command line (not its default)."""
    from typer._click.core import ParameterSource
    from typer._click.globals import get_current_context

    ctx = get_current_context(silent=True)
    return ctx is not None and ctx.get_parameter_source(param) is ParameterSource.COMMANDLINE
