"""Which watcher owns which domain when ``watch --shard I/N`` splits a list across processes.

Prometheus (or whatever starts the instances) decides how many there are; every instance is
given the same list and keeps its share, so nothing of ours coordinates or elects. The rule
must give the same answer in every process, on every machine and in every version of
siplocate and Python: ``hash()`` is salted per process, so it is not used.

The rule (the README documents it; the golden values in the unit tests pin it):

    shard(domain, N) = int.from_bytes(sha256(key)[:8], "big") % N
    key = the domain in lower-case A-labels (IDNA 2008, UTS #46), without a trailing dot,
          encoded as ASCII

so ``Example.COM.``, ``example.com`` and ``sip:example.com`` fall in one shard, and so do
``bücher.example`` and ``xn--bcher-kva.example``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import BadInput
from ..target import to_a_label

MAX_SHARDS = 10_000  # far beyond any fleet; keeps the metric label and the page sane


def shard_key(domain: str) -> bytes:
    """The bytes the shard is computed from: lower-case A-labels, no trailing dot."""
    return to_a_label(domain.strip().rstrip(".")).lower().encode("ascii")


def shard_of(domain: str, shards: int) -> int:
    """The shard (0 .. ``shards`` - 1) that owns ``domain``: the first 8 bytes of SHA-256 of
    its key, big-endian, modulo ``shards``."""
    if shards < 1:
        raise ValueError("shards must be at least 1")
    digest = hashlib.sha256(shard_key(domain)).digest()
    return int.from_bytes(digest[:8], "big") % shards


@dataclass(frozen=True, slots=True)
class Shard:
    """This instance's part: ``index`` of ``count`` (0-based); ``Shard(0, 1)`` owns all."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``I/N`` with 0 <= I < N <= MAX_SHARDS; BadInput (one line) otherwise."""
        index, sep, count = text.strip().partition("/")
        ok = sep and all(p.isascii() and p.isdigit() for p in (index, count))
        if not ok:
            raise BadInput(f"--shard wants I/N, e.g. 0/3 (0-based), not {text!r}")
        i, n = int(index), int(count)
        if not 0 < n <= MAX_SHARDS:
            raise BadInput(f"--shard {text}: N must be between 1 and {MAX_SHARDS}")
        if not i < n:
            raise BadInput(f"--shard {text}: I counts from 0, so it must be below N ({n})")
        return cls(i, n)

    def owns(self, domain: str) -> bool:
        return self.count == 1 or shard_of(domain, self.count) == self.index

    def select(self, domains: Iterable[str]) -> list[str]:
        """The domains of ``domains`` this shard owns, in their order."""
        return [d for d in domains if self.owns(d)]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def page_note(html: bytes, shard: Shard) -> bytes:
    """The status page with its shard named in the header's title (unchanged unsharded)."""
    if shard.count == 1:
        return html
    note = f' <small class="shard" title="watch --shard">shard {shard}</small></h1>'
    return html.replace(b"</h1>", note.encode(), 1)
