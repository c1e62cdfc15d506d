"""The watcher: re-resolves each domain when its TTL runs out, probes every target at the
interval, lints the records when they change, and turns all of it into state, metrics and
events. Time comes from an injected clock, so a simulated week needs no sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import dns.name

from ..errors import NotFound, SiplocateError
from ..limits import DOMAINS_IN_FLIGHT
from ..resolver import Resolver
from ..target import Target
from ..zone.findings import Finding
from ..zone.lint import gather, lint_snapshot
from .clock import Clock, SystemClock
from .events import Event, EventLog
from .metrics import Metrics, shard_gauges
from .model import DomainView, TargetHealth, chain_lines, stale_used, target_key
from .probe import CheckReport, LintCache, Prober, ProbeResult, SipProber
from .shard import Shard

MIN_REFRESH = 1.0  # never re-resolve more often than this, whatever the TTL
MAX_REFRESH = 3600.0  # re-resolve at least hourly, even with long TTLs
DNS_RETRY = 5.0  # after a DNS failure, try again this soon
#: Resolutions (with their lint) in flight at once, as the many-input commands' default.
CONCURRENCY = DOMAINS_IN_FLIGHT


class Watcher:
    """Watches ``domains`` through ``resolver``; ``prober`` defaults to SIP OPTIONS;
    ``shard`` only says which part of a larger list ``domains`` is (for metrics and page);
    at most ``concurrency`` domains are being resolved at any time."""

    def __init__(
        self,
        domains: Sequence[str],
        resolver: Resolver,
        *,
        prober: Prober | None = None,
        clock: Clock | None = None,
        interval: float = 5.0,
        timeout: float | None = None,
        log: EventLog | None = None,
        lint: bool = True,
        ca_file: Path | None = None,
        shard: Shard | None = None,
        concurrency: int = CONCURRENCY,
    ) -> None:
        if interval <= 0:
            raise ValueError("the probe interval must be positive")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.resolver = resolver
        self.prober: Prober = prober or SipProber(resolver, ca_file)
        self.clock: Clock = clock or SystemClock()
        self.interval = interval
        self.timeout = timeout if timeout is not None else min(2.0, interval)
        self.log = log or EventLog()
        self.lint = lint
        self.metrics = Metrics()
        self.views = {d: DomainView(d) for d in dict.fromkeys(domains)}
        for d in self.views:
            self.metrics.prepare(d)
        self.shard = shard or Shard()
        shard_gauges(self.metrics.registry, self.shard, len(self.views))
        self.version = 0
        self._updated = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.on_probed: list[Callable[[TargetHealth], None]] = []  # e.g. watch --publish
        self._gate = asyncio.Semaphore(concurrency)  # resolutions in flight
        self._due: dict[str, float] = {}  # domain -> monotonic time of its next resolution
        self.lint_cache = LintCache()  # /probe's findings while the records stay the same
        self.started = self.clock.wall()

    # -- change notification (the page's live updates) ---------------------------------------

    def _bump(self) -> None:
        self.version += 1
        self._updated.set()
        self._updated = asyncio.Event()

    async def wait_update(self, version: int, timeout: float) -> int:
        """Wait until the state is newer than ``version`` (or ``timeout``); the new version."""
        if self.version == version:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._updated.wait(), timeout)
        return self.version

    def emit(self, events: list[Event]) -> None:
        for ev in events:
            self.metrics.events.labels(ev.kind).inc()
            if ev.kind == "records_changed":
                self.metrics.record_changes.labels(ev.domain).inc()
            self.log.emit(ev)

    # -- DNS -------------------------------------------------------------------------------

    async def resolve(self, view: DomainView) -> None:
        """Resolve one domain now (waiting for a slot among ``concurrency``); lint when its
        records changed; schedule the next time."""
        async with self._gate:
            await self._resolve(view)

    def _schedule(self, view: DomainView, delay: float) -> None:
        """The next resolution in ``delay`` seconds: a monotonic deadline for the loop, the
        wall time of it for the page."""
        self._due[view.domain] = self.clock.monotonic() + delay
        view.next_resolve = self.clock.wall() + delay

    async def _resolve(self, view: DomainView) -> None:
        now = self.clock.wall()
        started = self.clock.monotonic()
        try:
            res = await self.resolver.locate(view.domain, key=view.domain)
        except NotFound as exc:  # DNS answered: nothing usable there
            self.metrics.dns_failures.labels(view.domain).inc()
            events, gone = view.vanished(now, str(exc))
            for h in gone:
                self.metrics.forget_target(view.domain, h)
            self.emit(events)
            self._schedule(view, max(DNS_RETRY, self.interval))
            return self._after_dns(view)
        except SiplocateError as exc:  # DNS could not be asked (DnsError) or the name is bad
            self.metrics.dns_failures.labels(view.domain).inc()
            self.emit(view.dns_failed(now, str(exc)))  # old targets stay watched
            self._schedule(view, max(DNS_RETRY, self.interval))
            return self._after_dns(view)
        seconds = self.clock.monotonic() - started
        stale = stale_used(res.trace)
        if stale:
            self.metrics.dns_stale.labels(view.domain).inc(stale)
        self.metrics.resolve.labels(view.domain).observe(seconds)
        changed = not view.seen or view.lines != chain_lines(res)
        events, gone = view.resolved(res, now, seconds, stale > 0)
        for h in gone:
            self.metrics.forget_target(view.domain, h)
        self.emit(events)
        # expires is the resolver's wall time: what is left of the TTL, by the resolver's clock
        ttl = res.expires - self.resolver.clock.wall() if res.expires is not None else MAX_REFRESH
        self._schedule(view, min(MAX_REFRESH, max(MIN_REFRESH, ttl)))
        if changed and self.lint and not stale:
            await self._lint(view)
        self._after_dns(view)

    def _after_dns(self, view: DomainView) -> None:
        self.emit(view.update_level(self.clock.wall()))
        self.metrics.domain(view)
        self._bump()

    async def _lint(self, view: DomainView) -> None:
        try:
            snap = await gather(self.resolver.cache, [dns.name.from_text(view.domain)])
        except SiplocateError:
            return
        self.emit(view.linted(self.clock.wall(), lint_snapshot(snap)))

    # -- probing ---------------------------------------------------------------------------

    async def probe_round(self, view: DomainView) -> None:
        """OPTIONS to every target of one domain, in parallel; state, metrics, events."""
        targets = list(view.targets.values())
        results = await asyncio.gather(*(self._probe(view, h) for h in targets))
        events: list[Event] = []
        for h, evs in zip(targets, results, strict=True):
            if view.targets.get(target_key(h.target)) is h:  # not dropped by a resolution meanwhile
                events += evs
        events += view.round_done(self.clock.wall())
        self.emit(events)
        self.metrics.domain(view)
        self._bump()

    async def _probe(self, view: DomainView, h: TargetHealth) -> list[Event]:
        at = self.clock.wall()
        try:
            r = await self.prober.probe(view.domain, h.target, self.timeout)
        except (OSError, SiplocateError) as exc:
            r = ProbeResult(False, None, str(exc) or type(exc).__name__, 0.0)
        was = h.up
        events = view.probed(h, at, r.up, r.status, r.error, r.rtt)
        self.metrics.probed(view.domain, h, h.up is not was)
        for hook in self.on_probed:
            hook(h)
        return events

    # -- running ---------------------------------------------------------------------------

    async def _resolve_loop(self, view: DomainView, first: asyncio.Future[None]) -> None:
        """Resolve now and then whenever the records' TTL runs out; ``first`` is done after
        the first resolution (successful or not)."""
        while True:
            try:
                await self.resolve(view)
            except Exception as exc:  # a bug must not end the watch: say so and go on
                _warn(f"resolving {view.domain}", exc)
                self._schedule(view, DNS_RETRY)
            if not first.done():
                first.set_result(None)
            due = self._due.get(view.domain, self.clock.monotonic() + DNS_RETRY)
            await self.clock.sleep(max(MIN_REFRESH, due - self.clock.monotonic()))

    async def _probe_loop(self, view: DomainView, first: asyncio.Future[None], at: float) -> None:
        """Probe every interval, the first time at monotonic time ``at`` (or as soon as the
        first resolution is in, when that is later)."""
        await first
        await self.clock.sleep(max(0.0, at - self.clock.monotonic()))
        while True:
            started = self.clock.monotonic()
            if view.targets:
                try:
                    await self.probe_round(view)
                except Exception as exc:  # a bug must not end the watch: say so and go on
                    _warn(f"probing {view.domain}", exc)
            await self.clock.sleep(max(0.0, self.interval - (self.clock.monotonic() - started)))

    async def start(self) -> None:
        """Resolve every domain once (at most ``concurrency`` at a time) and return; keep
        resolving and probing in the background. The first probes are spread evenly over
        one interval (as Prometheus spreads its scrapes), not all sent at once."""
        begin = self.clock.monotonic()
        loop = asyncio.get_running_loop()
        firsts: list[asyncio.Future[None]] = []
        n = len(self.views)
        for i, view in enumerate(self.views.values()):
            first: asyncio.Future[None] = loop.create_future()
            firsts.append(first)
            at = begin + self.interval * i / n
            self._tasks.append(asyncio.create_task(self._resolve_loop(view, first)))
            self._tasks.append(asyncio.create_task(self._probe_loop(view, first, at)))
        await asyncio.gather(*firsts)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.prober.close()

    # -- views for the web side -------------------------------------------------------------

    def state(self, events: int = 50) -> dict[str, object]:
        """Everything the status page shows, as JSON-ready data."""
        return {
            "version": self.version,
            "now": self.clock.wall(),
            "started": self.started,
            "interval": self.interval,
            "timeout": self.timeout,
            "shard": {"index": self.shard.index, "count": self.shard.count},
            "domains": [v.as_dict() for v in self.views.values()],
            "events": [e.as_dict() for e in self.log.last(events)],
        }

    async def check(self, domain: str, budget: float | None = None) -> CheckReport:
        """One on-demand check (blackbox style): resolve, probe every target and lint the
        records (in parallel), report; all of it within ``budget`` seconds when given (a
        probe gets what is left of it, lint is given up at the end of it)."""
        started = self.clock.monotonic()
        report = CheckReport(domain)
        try:
            return await self._check(report, started, budget)
        finally:
            if domain not in self.views:  # keep no flows open for one-off checks
                await self.prober.forget(domain)

    async def _check(
        self, report: CheckReport, started: float, budget: float | None
    ) -> CheckReport:
        domain = report.domain
        try:
            res = await asyncio.wait_for(self.resolver.locate(domain, key=domain), budget)
        except (SiplocateError, TimeoutError) as exc:
            report.dns_error = str(exc) or f"DNS gave no answer within {budget:g} s"
            report.dns_seconds = report.seconds = self.clock.monotonic() - started
            return report
        report.dns_seconds = self.clock.monotonic() - started
        report.resolution = res
        report.stale = stale_used(res.trace)
        timeout = self.timeout
        left = None if budget is None else budget - report.dns_seconds
        if left is not None:
            timeout = min(timeout, left)
        probes = asyncio.gather(*(self._check_one(domain, t, timeout) for t in res.targets))
        results, report.findings = await asyncio.gather(probes, self._findings(report, left))
        report.targets = list(zip(res.targets, results, strict=True))
        report.success = any(r.up for r in results)
        report.seconds = self.clock.monotonic() - started
        return report

    async def _findings(self, report: CheckReport, budget: float | None) -> list[Finding] | None:
        """The lint findings of a check: from the cache while the records are those linted
        last time; otherwise linted now (and kept, unless the answers were served stale)."""
        if not self.lint or report.resolution is None:
            return None
        records = chain_lines(report.resolution)
        found = self.lint_cache.get(report.domain, records, self.clock.monotonic())
        if found is not None:
            return found
        found = await self._check_lint(report.domain, budget)
        if found is not None and not report.stale:
            self.lint_cache.put(report.domain, records, self.clock.monotonic(), found)
        return found

    async def _check_lint(self, domain: str, budget: float | None) -> list[Finding] | None:
        """The domain's lint findings, or None when they could not be had in time."""
        try:
            name = dns.name.from_text(domain)
            snap = await asyncio.wait_for(gather(self.resolver.cache, [name]), budget)
        except (SiplocateError, TimeoutError, ValueError):
            return None
        return lint_snapshot(snap)

    async def _check_one(self, domain: str, t: Target, timeout: float) -> ProbeResult:
        if timeout <= 0:
            return ProbeResult(False, None, "no time left within the scrape timeout", 0.0)
        try:
            return await self.prober.probe(domain, t, timeout)
        except (OSError, SiplocateError) as exc:
            return ProbeResult(False, None, str(exc) or type(exc).__name__, 0.0)


def _warn(what: str, exc: Exception) -> None:
    print(f"siplocate watch: {what} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
