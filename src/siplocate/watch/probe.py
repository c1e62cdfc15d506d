"""OPTIONS probing through the SIP client's public API (the watcher's only tie to client.py),
and what one probe and one ``/probe`` check report."""

from __future__ import annotations

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
