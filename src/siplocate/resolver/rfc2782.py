"""RFC 2782 ordering of SRV records: priority groups, weighted random order inside a group.

Pure functions over anything with ``priority`` and ``weight``; randomness comes in as a
``random.Random`` so callers choose seeded, keyed (same key -> same order) or fresh.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Iterable, Sequence
from typing import Protocol, TypeVar


class Weighted(Protocol):
    @property
    def priority(self) -> int | None: ...
    @property
    def weight(self) -> int | None: ...


W = TypeVar("W", bound=Weighted)

_SYSTEM_RANDOM = random.Random()


def rng_for(seed: int | None = None, key: Hashable | None = None) -> random.Random:
    """The random source for one ordering.

    ``key`` (e.g. a Call-ID) gives the same order every time for the same key, as RFC 3263
    §4.4 wants of stateless proxies; ``seed`` makes a run reproducible; neither: fresh.
    """
    if key is not None:
        return random.Random(f"siplocate-key:{key}")
    if seed is not None:
        return random.Random(seed)
    return _SYSTEM_RANDOM


def group_by_priority(records: Iterable[W]) -> list[list[W]]:
    """Records split into groups of equal priority, lowest priority (most preferred) first."""
    groups: dict[int, list[W]] = {}
    for rec in records:
        groups.setdefault(rec.priority or 0, []).append(rec)
    return [groups[p] for p in sorted(groups)]


def weighted_order(group: Sequence[W], rng: random.Random) -> list[W]:
    """RFC 2782's selection, repeated until the group is used up, in O(n log n).

    RFC 2782 draws from 0..S when zero-weight records are present (they sit first in the
    running sum, so together they come next with probability 1/(S+1)) and from 1..S when
    not (each comes next with probability w/S). The same law as a race: every positive
    record finishes at an exponential time of rate w, and the zero-weight records, shuffled,
    finish one after another at the times of a rate-1 clock (a sum of rate-1 exponentials).
    The order of finishing times is RFC 2782's order, each next pick proportional to weight
    among those left (the memorylessness of the exponential), without the quadratic loop.
    """
    if len(group) < 2:
        return list(group)
    zeros = [r for r in group if not r.weight]
    rng.shuffle(zeros)
    keyed: list[tuple[float, int, W]] = []
    clock = 0.0
    for i, rec in enumerate(zeros):
        clock += rng.expovariate(1.0)
        keyed.append((clock, i, rec))
    for i, rec in enumerate(group, len(zeros)):
        if rec.weight:
            keyed.append((rng.expovariate(rec.weight), i, rec))
    keyed.sort()
    return [rec for _, _, rec in keyed]


def srv_order(records: Iterable[W], rng: random.Random) -> list[W]:
    """All records in RFC 2782 try order: ascending priority, weighted order within each."""
    result: list[W] = []
    for group in group_by_priority(records):
        result.extend(weighted_order(group, rng))
    return result


def first_choice_shares(weights: Sequence[int]) -> list[float]:
    """Probability that each record of one priority group is tried first (RFC 2782 rule).

    All positive: w/S. With zero weights: each positive w/(S+1), the zero-weight records
    share 1/(S+1) equally. All zero: uniform.
    """
    if not weights:
        return []
    total = sum(weights)
    if total == 0:
        return [1 / len(weights)] * len(weights)
    zeros = sum(1 for w in weights if w == 0)
    if zeros == 0:
        return [w / total for w in weights]
    return [w / (total + 1) if w else 1 / (zeros * (total + 1)) for w in weights]
