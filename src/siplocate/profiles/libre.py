"""baresip's order of SRV targets within a priority, as libre 1.1 (Debian's libre0) states it.

libre sorts the SRV records of one priority by a number, highest first:
``((hash(target) & 0xfff) ^ (hash(from_uri) >> 5)) + weight``, where ``hash`` is Bob
Jenkins' lookup3 ``hashlittle`` seeded with 0x304a0012 (src/hash/func.c ``hash_fast``),
``target`` the SRV target without its trailing dot (src/dns/rrlist.c ``sidx``) and
``from_uri`` the account's address of record (src/sip/dialog.c: a registration's sort key
is the hash of its From URI). So one account always takes the same server, the weight adds
a few units out of 4096, and over many accounts the servers of a priority share about
evenly. Checked against the real baresip: tests/integration/test_profiles_real.py.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Protocol, TypeVar

MASK = 0xFFFFFFFF
SEED = 0x304A0012  # libre 1.1 hash_fast()'s initval


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & MASK


#: mix(): (x, y, z, r) is ``x -= y; x ^= rot(y, r); y += z`` over (a, b, c) = (0, 1, 2).
_MIX = ((0, 2, 1, 4), (1, 0, 2, 6), (2, 1, 0, 8), (0, 2, 1, 16), (1, 0, 2, 19), (2, 1, 0, 4))
#: final(): (x, y, r) is ``x ^= y; x -= rot(y, r)``.
_FINAL = ((2, 1, 14), (0, 2, 11), (1, 0, 25), (2, 1, 16), (0, 2, 4), (1, 0, 14), (2, 1, 24))


def lookup3(data: bytes, initval: int = SEED) -> int:
    """Bob Jenkins' lookup3 ``hashlittle`` (a public-domain algorithm, 2006), 32 bits."""
    v = [(0xDEADBEEF + len(data) + initval) & MASK] * 3
    rest = data
    while len(rest) > 12:
        for i in range(3):
            v[i] = (v[i] + int.from_bytes(rest[4 * i : 4 * i + 4], "little")) & MASK
        for x, y, z, r in _MIX:
            v[x] = ((v[x] - v[y]) & MASK) ^ _rot(v[y], r)
            v[y] = (v[y] + v[z]) & MASK
        rest = rest[12:]
    if not rest:
        return v[2]
    tail = rest + bytes(12 - len(rest))
    for i in range(3):
        v[i] = (v[i] + int.from_bytes(tail[4 * i : 4 * i + 4], "little")) & MASK
    for x, y, r in _FINAL:
        v[x] = ((v[x] ^ v[y]) - _rot(v[y], r)) & MASK
    return v[2]


class Target(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def weight(self) -> int | None: ...


def sort_index(target: str, weight: int, aor: str) -> int:
    """libre's ``sidx`` of one SRV record for the account ``aor``."""
    key = lookup3(aor.encode()) >> 5
    return ((lookup3(target.rstrip(".").encode()) & 0xFFF) ^ key) + weight


T = TypeVar("T", bound=Target)


def order(hosts: Sequence[T], aor: str) -> list[T]:
    """One priority's records in the order the account ``aor`` tries them (ties keep the
    order given, as libre's sort does)."""
    return sorted(hosts, key=lambda h: -sort_index(h.name, h.weight or 0, aor))


def shares(hosts: Sequence[Target]) -> list[float]:
    """How often each record comes first over many accounts: only the low 12 bits of the
    key decide (the rest is the same on both sides), each taken as equally likely."""
    return list(_shares(tuple((h.name.rstrip("."), h.weight or 0) for h in hosts)))


@functools.lru_cache(maxsize=256)
def _shares(records: tuple[tuple[str, int], ...]) -> tuple[float, ...]:
    hashed = [(lookup3(name.encode()) & 0xFFF, weight) for name, weight in records]
    wins = [0] * len(records)
    for k in range(4096):
        scores = [(h ^ k) + w for h, w in hashed]
        wins[scores.index(max(scores))] += 1
    return tuple(n / 4096 for n in wins)
