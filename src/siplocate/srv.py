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
    """RFC 2782's selection, repeated until the group is used up.

    Zero-weight records sit first in the running-sum list and a number is drawn from
    0..S when any are present (so together they come first with probability 1/(S+1)),
    from 1..S when all weights are positive (so each comes first with probability w/S).
    All zero: uniform. Zero-weight records are shuffled among themselves first so which
    of them wins is fair too.
    """
    if len(group) < 2:
        return list(group)
    zeros = [r for r in group if not r.weight]
    rng.shuffle(zeros)
    remaining = zeros + [r for r in group if r.weight]
    n_zero = len(zeros)
    total = sum(r.weight or 0 for r in remaining)
    ordered: list[W] = []
    while len(remaining) > 1:
        low = 0 if n_zero else 1
        pick = low + int(rng.random() * (total - low + 1))
        running = index = 0
        while True:  # ends: the running sum reaches total >= pick
            running += remaining[index].weight or 0
            if running >= pick:
                break
            index += 1
        chosen = remaining.pop(index)
        ordered.append(chosen)
        if chosen.weight:
            total -= chosen.weight
        else:
            n_zero -= 1
    ordered.extend(remaining)
    return ordered


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
