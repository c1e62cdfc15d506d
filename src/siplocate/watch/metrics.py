"""Prometheus metrics for the watcher, named by Prometheus' rules: ``siplocate_`` prefix, base
units (seconds), ``_total`` counters, labels bounded by the watched zones (never per probe).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest

from siplocate import __version__

from .model import DomainView, Level, TargetHealth
from .shard import Shard

if TYPE_CHECKING:
    from .probe import CheckReport

#: Labels of the per-target series; ``tier`` is the target's SRV priority rank within its
#: transport branch (0: the tier clients try first, see watch/impact.py).
TARGET_LABELS = ("domain", "transport", "host", "address", "port", "tier")
#: OPTIONS round trips, by what an operator tells apart: same site (5 ms), same region
#: (25 ms), across a continent (100 ms), across an ocean (250 ms), slow (0.5 s, 1 s); the
#: probe's timeout (2 s by default) ends the rest. Six, not twelve: the histogram was three
#: quarters of /metrics (bench/bench_watch.py --metrics-size), and sub-millisecond steps
#: told loopback from LAN, which no SIP alert needs.
RTT_BUCKETS = (0.005, 0.025, 0.1, 0.25, 0.5, 1.0)
#: A resolution: from the cache (1 ms), a near server (10 ms), the Internet (50 ms), slow
#: (250 ms), retried (1 s), timing out (5 s). Six, as for the RTT (was twelve).
RESOLVE_BUCKETS = (0.001, 0.01, 0.05, 0.25, 1.0, 5.0)


class Metrics:
    """The watcher's metric families in a registry of their own (one per watcher)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        Info("siplocate_build", "The running siplocate.", registry=r).info({"version": __version__})
        self.target_up = Gauge(
            "siplocate_target_up",
            "1 when the target answers OPTIONS (any status but 503).",
            TARGET_LABELS,
            registry=r,
        )
        self.target_rtt = Histogram(
            "siplocate_target_options_rtt_seconds",
            "OPTIONS round-trip time of answered probes.",
            TARGET_LABELS,
            buckets=RTT_BUCKETS,
            registry=r,
        )
        self.target_status = Gauge(
            "siplocate_target_last_status_code",
            "SIP status code of the last OPTIONS answer (0: no answer).",
            TARGET_LABELS,
            registry=r,
        )
        # No probes_total: every probe is either answered (the RTT histogram's _count) or
        # failed (below), so the sum of the two is the probes sent, without a series more.
        self.target_failures = Counter(
            "siplocate_target_probe_failures_total",
            "OPTIONS probes without an answer (timeout, transport error, 503).",
            TARGET_LABELS,
            registry=r,
        )
        self.target_change = Gauge(
            "siplocate_target_last_change_timestamp_seconds",
            "Unix time the target last went up or down.",
            TARGET_LABELS,
            registry=r,
        )
        self.domain_state = Gauge(
            "siplocate_domain_state",
            "1 for the domain's current state (up, degraded, down, unknown), 0 for the others.",
            ("domain", "state"),
            registry=r,
        )
        self.domain_targets = Gauge(
            "siplocate_domain_targets",
            "Targets the domain's records lead to.",
            ("domain",),
            registry=r,
        )
        self.domain_targets_up = Gauge(
            "siplocate_domain_targets_up",
            "Targets of the domain answering OPTIONS.",
            ("domain",),
            registry=r,
        )
        self.resolve = Histogram(
            "siplocate_dns_resolution_duration_seconds",
            "Time to resolve the domain's NAPTR -> SRV -> A/AAAA chain.",
            ("domain",),
            buckets=RESOLVE_BUCKETS,
            registry=r,
        )
        self.dns_failures = Counter(
            "siplocate_dns_failures_total",
            "Resolutions that failed (no answer, not even a stale one).",
            ("domain",),
            registry=r,
        )
        self.dns_stale = Counter(
            "siplocate_dns_stale_answers_total",
            "DNS answers served stale (RFC 8767) because no server answered.",
            ("domain",),
            registry=r,
        )
        self.record_changes = Counter(
            "siplocate_record_set_changes_total",
            "Times the domain's NAPTR/SRV/address records changed.",
            ("domain",),
            registry=r,
        )
        self.records_expiry = Gauge(
            "siplocate_dns_records_expiry_timestamp_seconds",
            "Unix time the shortest TTL of the current chain runs out.",
            ("domain",),
            registry=r,
        )
        self.lint = Gauge(
            "siplocate_lint_findings",
            "Current lint findings of the domain's records.",
            ("domain", "severity"),
            registry=r,
        )
        self.events = Counter(
            "siplocate_events_total", "Events emitted, by kind.", ("kind",), registry=r
        )
        self.webhook_dropped = Counter(
            "siplocate_webhook_dropped_total",
            "Events dropped because the webhook queue was full or retries ran out.",
            registry=r,
        )
        self.webhook_sent = Counter(
            "siplocate_webhook_sent_total", "Events delivered to the webhook.", registry=r
        )

    # -- updates -----------------------------------------------------------------------------

    def _per_target(self) -> tuple[Any, ...]:
        return (
            self.target_up,
            self.target_rtt,
            self.target_status,
            self.target_failures,
            self.target_change,
        )

    def _children(self, domain: str, h: TargetHealth) -> tuple[Any, ...]:
        """The target's series, cached on it with their labels; a new tier (the records'
        priorities changed) moves them to new series and drops the old ones."""
        t = h.target
        labels = (domain, t.transport.value, t.host, t.address, str(t.port), str(h.tier))
        if h.metrics is not None and cast(tuple[Any, ...], h.metrics)[0] != labels:
            self.forget_target(domain, h)
        if h.metrics is None:
            h.metrics = (labels, tuple(m.labels(*labels) for m in self._per_target()))
        return cast(tuple[tuple[str, ...], tuple[Any, ...]], h.metrics)[1]

    def probed(self, domain: str, h: TargetHealth, changed: bool) -> None:
        up, rtt, status, failures, change = self._children(domain, h)
        up.set(1 if h.up else 0)
        status.set(h.status or 0)
        if h.up and h.rtt is not None:
            rtt.observe(h.rtt)
        else:
            failures.inc()
        if changed or h.since:
            change.set(h.since)

    def forget_target(self, domain: str, h: TargetHealth) -> None:
        """A target left the records: drop its series so it does not linger as stale data."""
        if h.metrics is None:
            return
        labels = cast(tuple[tuple[str, ...], object], h.metrics)[0]
        for m in self._per_target():
            with contextlib.suppress(KeyError):
                m.remove(*labels)
        h.metrics = None

    def domain(self, view: DomainView) -> None:
        """The domain's state, target counts, record expiry and lint counts (every round)."""
        d = view.domain
        if view.metrics is None:
            view.metrics = (
                [(level, self.domain_state.labels(d, level.value)) for level in Level],
                self.domain_targets.labels(d),
                self.domain_targets_up.labels(d),
                [(sev, self.lint.labels(d, sev)) for sev in ("error", "warning", "info")],
            )
        states, targets, targets_up, lint = cast(tuple[Any, Any, Any, Any], view.metrics)
        for level, gauge in states:
            gauge.set(1 if view.level is level else 0)
        targets.set(len(view.targets))
        targets_up.set(sum(1 for h in view.targets.values() if h.up))
        if view.resolution is not None and view.resolution.expires is not None:
            self.records_expiry.labels(d).set(view.resolution.expires)
        counts = {"error": 0, "warning": 0, "info": 0}
        for f in view.findings:
            counts[f.severity.value] += 1
        for severity, gauge in lint:
            gauge.set(counts[severity])

    def prepare(self, domain: str) -> None:
        """Create the domain's counters at zero, so rate() works from the first scrape."""
        for c in (self.dns_failures, self.dns_stale, self.record_changes):
            c.labels(domain)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def shard_gauges(registry: CollectorRegistry, shard: Shard, owned: int) -> None:
    """Which part of a sharded list this watcher is (``watch --shard I/N``), and how many
    domains it owns: summed over a job, the second is the whole list."""
    info = Gauge(
        "siplocate_watch_shard_info",
        "Always 1; this watcher's shard (0-based) and the number of shards (--shard I/N).",
        ("shard", "shards"),
        registry=registry,
    )
    info.labels(str(shard.index), str(shard.count)).set(1)
    Gauge(
        "siplocate_watch_domains",
        "Domains this watcher owns (after --shard) and watches.",
        registry=registry,
    ).set(owned)


PROBE_TARGET_LABELS = ("domain", "transport", "host", "address", "port", "tier")


def probe_exposition(report: CheckReport) -> bytes:
    """One on-demand check in the blackbox exporter's shape (``probe_*`` names), as a
    multi-target exporter: the DNS chain's figures, lint counts and one series per target
    (domain, transport, host, address, port, tier) under ``probe_sip_*``."""
    r = CollectorRegistry(auto_describe=True)

    def gauge(name: str, doc: str, value: float) -> None:
        Gauge(name, doc, registry=r).set(value)

    targets = report.targets
    gauge("probe_success", "1 when at least one target answered OPTIONS.", report.success)
    gauge("probe_duration_seconds", "How long the whole check took.", report.seconds)
    gauge("probe_dns_lookup_time_seconds", "Time to resolve the chain.", report.dns_seconds)
    gauge("probe_sip_dns_error", "1 when DNS gave no usable answer.", report.dns_error is not None)
    gauge("probe_sip_targets", "Targets the records lead to.", len(targets))
    gauge("probe_sip_targets_up", "Targets answering OPTIONS.", sum(p.up for _, p in targets))
    gauge("probe_sip_dns_stale_answers", "DNS answers served stale in this check.", report.stale)
    if targets:
        first, answer = targets[0]
        gauge(
            "probe_sip_status_code",
            "Status of the first target in try order (0: none).",
            answer.status or 0,
        )
        gauge(
            "probe_ip_protocol",
            "IP version of the first target in try order.",
            6 if ":" in first.address else 4,
        )
    _probe_dns(r, report)
    _probe_lint(r, report)
    _probe_targets(r, report)
    return generate_latest(r)


def _probe_dns(r: CollectorRegistry, report: CheckReport) -> None:
    """The DNS chain's figures: branches, SRV hosts, lookups by source, record expiry."""
    res = report.resolution
    if res is None:
        return
    Gauge("probe_sip_dns_branches", "Transport branches of the chain.", registry=r).set(
        len(res.branches)
    )
    Gauge("probe_sip_dns_hosts", "Hosts (SRV targets) of the chain.", registry=r).set(
        sum(len(b.hosts) for b in res.branches)
    )
    lookups = Gauge(
        "probe_sip_dns_lookups",
        "DNS lookups of the walk, by where the answer came from (network, cache, ...).",
        ("source",),
        registry=r,
    )
    for entry in res.trace:
        source = getattr(entry, "source", None)
        if source is not None:
            lookups.labels(source).inc()
    if res.expires is not None:
        Gauge(
            "probe_sip_dns_records_expiry_timestamp_seconds",
            "Unix time the shortest TTL of the chain runs out.",
            registry=r,
        ).set(res.expires)


def _probe_lint(r: CollectorRegistry, report: CheckReport) -> None:
    """Lint findings by severity (absent when lint is off or did not finish in time)."""
    if report.findings is None:
        return
    lint = Gauge(
        "probe_sip_lint_findings", "Lint findings of the records.", ("severity",), registry=r
    )
    counts = {"error": 0, "warning": 0, "info": 0}
    for f in report.findings:
        counts[f.severity.value] += 1
    for severity, n in counts.items():
        lint.labels(severity).set(n)


def _probe_targets(r: CollectorRegistry, report: CheckReport) -> None:
    """One series per target, labelled like the watcher's (plus ``tier``: 0 = first)."""
    labels = PROBE_TARGET_LABELS
    up = Gauge("probe_sip_target_up", "1 when the target answered OPTIONS.", labels, registry=r)
    rtt = Gauge("probe_sip_target_duration_seconds", "OPTIONS round-trip time.", labels, registry=r)
    status = Gauge(
        "probe_sip_target_status_code",
        "SIP status code of the target's answer (0: none).",
        labels,
        registry=r,
    )
    tiers = report.resolution.tiers() if report.resolution is not None else {}
    for t, p in report.targets:
        tier = tiers.get((t.transport, t.address, t.port), 0)
        values = (report.domain, t.transport.value, t.host, t.address, str(t.port), str(tier))
        up.labels(*values).set(p.up)
        rtt.labels(*values).set(p.rtt)
        status.labels(*values).set(p.status or 0)
