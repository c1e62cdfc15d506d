"""The result of locating a SIP target: the DNS chain found, and the ordered target list.

A ``Chain`` is what DNS said (branches -> hosts -> addresses), fixed until ``expires``; the
target list is that chain put in RFC 2782 order with a random source, so a cached chain
gives a fresh (or keyed) order on every call without asking DNS again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from .resolver.rfc2782 import first_choice_shares, group_by_priority, weighted_order
from .target import SipUri, Target, Transport, Via
from .trace import TraceEntry


@dataclass(frozen=True, slots=True)
class Naptr:
    """A NAPTR record as used by RFC 3263 (text fields already decoded)."""

    order: int
    preference: int
    flags: str
    service: str
    regexp: str
    replacement: str
    replacement_name: Any = field(default=None, compare=False, repr=False)  # dns.name.Name

    def __str__(self) -> str:
        return (
            f'NAPTR {self.order} {self.preference} "{self.flags}" "{self.service}" '
            f'"{self.regexp}" {self.replacement}'
        )


@dataclass(frozen=True, slots=True)
class Host:
    """One SRV record (or the host of an address fallback) with the addresses it resolved to."""

    name: str  # without the trailing dot
    port: int
    priority: int | None
    weight: int | None
    addresses: tuple[str, ...]
    targets: tuple[Target, ...]  # one per address, ready to hand out
    notes: tuple[str, ...] = ()  # e.g. "CNAME -> x", "no A/AAAA records: skipped"

    @classmethod
    def build(
        cls,
        transport: Transport,
        via: Via,
        name: str,
        port: int,
        priority: int | None,
        weight: int | None,
        addresses: tuple[str, ...],
        notes: tuple[str, ...] = (),
    ) -> Host:
        targets = tuple(
            Target(transport, name, port, addr, priority, weight, via) for addr in addresses
        )
        return cls(name, port, priority, weight, addresses, targets, notes)


@dataclass(frozen=True, slots=True)
class Branch:
    """One way into the service: a NAPTR record, an SRV name, or the address fallback."""

    transport: Transport
    via: Via
    srv_name: str | None  # the SRV owner name asked, if any
    hosts: tuple[Host, ...]  # canonical order (priority, name, port)
    naptr: Naptr | None = None
    not_offered: bool = False  # SRV answered with the lone target "."
    groups: tuple[tuple[Host, ...], ...] = field(default=(), repr=False)

    @classmethod
    def build(
        cls,
        transport: Transport,
        via: Via,
        srv_name: str | None,
        hosts: list[Host],
        naptr: Naptr | None = None,
        not_offered: bool = False,
    ) -> Branch:
        hosts.sort(key=lambda h: (h.priority or 0, h.name, h.port, h.weight or 0))
        usable = [h for h in hosts if h.targets]
        groups = tuple(tuple(g) for g in group_by_priority(usable))
        return cls(transport, via, srv_name, tuple(hosts), naptr, not_offered, groups)


def order_targets(
    branches: tuple[Branch, ...], rng: random.Random, limit: int | None = None
) -> list[Target]:
    """The target list: branches in order, each in RFC 2782 order, duplicates keep first
    place, at most ``limit`` entries."""
    seen: set[tuple[Transport, str, int]] = set()
    out: list[Target] = []
    for branch in branches:
        for group in branch.groups:
            hosts = group if len(group) == 1 else weighted_order(group, rng)
            for host in hosts:
                for t in host.targets:
                    key = (t.transport, t.address, t.port)
                    if key not in seen:
                        seen.add(key)
                        out.append(t)
                        if len(out) == limit:
                            return out
    return out


@dataclass(frozen=True, slots=True)
class Share:
    """How often a host is the first one tried within its priority tier (RFC 2782 weights)."""

    transport: Transport
    host: str
    port: int
    priority: int | None
    weight: int | None
    share: float  # within its tier
    first_tier: bool  # the tier that gets first attempts for this branch

    def as_dict(self) -> dict[str, object]:
        return {
            "transport": self.transport.value,
            "host": self.host,
            "port": self.port,
            "priority": self.priority,
            "weight": self.weight,
            "share": round(self.share, 6),
            "first_tier": self.first_tier,
        }


@dataclass(slots=True)
class Resolution:
    """What ``Resolver.locate`` returns: the ordered targets, the chain behind them, the trace."""

    uri: SipUri  # what was asked for (not to be confused with ``targets``, the answer)
    targets: list[Target]
    branches: tuple[Branch, ...]
    trace: tuple[TraceEntry, ...]
    expires: float | None  # Unix time when the shortest TTL involved runs out; None: never

    def shares(self) -> list[Share]:
        """Each host's share of first attempts within its tier, per branch."""
        out: list[Share] = []
        for branch in self.branches:
            for tier, group in enumerate(branch.groups):
                weights = [h.weight or 0 for h in group]
                for host, share in zip(group, first_choice_shares(weights), strict=True):
                    out.append(
                        Share(
                            branch.transport,
                            host.name,
                            host.port,
                            host.priority,
                            host.weight,
                            share,
                            tier == 0,
                        )
                    )
        return out

    def tiers(self) -> dict[tuple[Transport, str, int], int]:
        """Each target's priority tier: the rank of its SRV priority within its transport
        branch (0: the tier clients try first), keyed (transport, address, port); a target
        reached by two branches of one transport keeps the better rank. The one tier rule:
        the page, the metrics' ``tier`` label and ``/probe`` all read it here."""
        out: dict[tuple[Transport, str, int], int] = {}
        for branch in self.branches:
            for tier, group in enumerate(branch.groups):
                for host in group:
                    for t in host.targets:
                        k = (t.transport, t.address, t.port)
                        out[k] = min(tier, out.get(k, tier))
        return out

    def as_dict(self) -> dict[str, object]:
        """The public JSON shape (documented in the README)."""
        return {
            "target": str(self.uri),
            "targets": [t.as_dict() for t in self.targets],
            "trace": [e.as_dict() for e in self.trace],
            "expires": self.expires,
        }
