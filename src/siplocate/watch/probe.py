"""OPTIONS probing through the SIP client's public API (the watcher's only tie to the client
package), and what one probe and one ``/probe`` check report."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..resolution import Resolution
from ..target import Target
from ..zone.findings import Finding


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One OPTIONS probe: did the target answer (any status but 503), with what, how fast."""

    up: bool
    status: int | None
    error: str | None
    rtt: float  # seconds


@dataclass
class CheckReport:
    """What ``/probe`` reports: the resolution's cost and every target's answer."""

    domain: str
    success: bool = False
    seconds: float = 0.0
    dns_seconds: float = 0.0
    stale: int = 0  # answers served stale
    dns_error: str | None = None
    resolution: Resolution | None = None  # the chain behind the targets (tiers, TTLs, trace)
    targets: list[tuple[Target, ProbeResult]] = field(default_factory=list)
    findings: list[Finding] | None = None  # lint findings; None: lint off or not in time


class LintCache:
    """Lint findings of ``/probe`` checks, per domain, reused while its records stay the same
    (the watcher's own rule: lint again when the chain's lines change), and at most
    ``max_age`` seconds, so what the chain does not show (other transports' records, TTLs)
    is looked at again now and then. At most ``size`` domains (least recently used go)."""

    def __init__(self, size: int = 10_000, max_age: float = 3600.0) -> None:
        self.size = size
        self.max_age = max_age
        self._items: OrderedDict[str, tuple[tuple[str, ...], float, list[Finding]]] = OrderedDict()

    def get(self, domain: str, records: Sequence[str], now: float) -> list[Finding] | None:
        """The findings linted at most ``max_age`` before ``now`` (monotonic) for exactly
        these ``records``, or None."""
        item = self._items.get(domain)
        if item is None or item[0] != tuple(records) or now - item[1] > self.max_age:
            return None
        self._items.move_to_end(domain)
        return item[2]

    def put(self, domain: str, records: Sequence[str], now: float, found: list[Finding]) -> None:
        self._items[domain] = (tuple(records), now, found)
        self._items.move_to_end(domain)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class Prober(Protocol):
    async def probe(self, domain: str, target: Target, timeout: float) -> ProbeResult: ...

    async def close(self) -> None: ...

    async def forget(self, domain: str) -> None: ...


class SipProber:
    """One ``SipClient`` per domain (From: the domain), each probing with ``SipClient.probe``."""

    def __init__(self, locator: object, ca_file: Path | None = None) -> None:
        self.locator = locator  # the watcher's Resolver: the clients never resolve on their own
        self.ca_file = ca_file  # CA bundle for TLS targets (default: the system's)
        self._clients: dict[str, object] = {}

    def _client(self, domain: str) -> object:
        client = self._clients.get(domain)
        if client is None:
            from ..client import SipClient

            client = SipClient(
                f"sip:siplocate@{domain}",
                resolver=self.locator,  # type: ignore[arg-type]
                ca_file=self.ca_file,
            )
            self._clients[domain] = client
        return client

    async def probe(self, domain: str, target: Target, timeout: float) -> ProbeResult:
        from ..client import SipClient
        from ..client.health import answered

        client = self._client(domain)
        assert isinstance(client, SipClient)
        attempt = await client.probe(target, timeout)
        return ProbeResult(answered(attempt), attempt.status, attempt.error, attempt.ms / 1000)

    async def forget(self, domain: str) -> None:
        """Close the flows of one domain (e.g. its targets changed)."""
        client = self._clients.pop(domain, None)
        if client is not None:
            await client.close()  # type: ignore[attr-defined]

    async def close(self) -> None:
        for domain in list(self._clients):
            await self.forget(domain)
