"""Every bound on the work that DNS data (anybody's, possibly hostile) can make a Resolver do.

One frozen object, passed to the resolver, its cache and its live source, so each bound is
set in one place, shown in one table (README) and hit by one test. When a bound is reached
the walk records a trace note and goes on with what it has; it never raises for it, hangs or
grows without limit.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Domains worked on at once by a many-domain command (``--concurrency``) or the watcher's
#: resolutions: 10,000 domains must not become 10,000 questions at the resolver at once.
DOMAINS_IN_FLIGHT = 64
#: The most ``--concurrency`` (or watch's ``concurrency`` setting) may ask for.
MAX_DOMAINS_IN_FLIGHT = 4096


@dataclass(frozen=True, slots=True)
class Limits:
    """The bounds of one Resolver; the defaults suit a SIP proxy talking to anybody's DNS."""

    naptr_records: int = 64
    """NAPTR records processed per locate, all non-terminal hops together (fan-out)."""
    naptr_depth: int = 3
    """NAPTR lookups in a row through empty-flag (non-terminal) records."""
    cname_chain: int = 8
    """CNAME hops followed for one question, in a reply or across replies, live or offline."""
    rrset_records: int = 32
    """Records used from one SRV or NAPTR RRset (the most preferred ones); the rest ignored."""
    addresses_per_target: int = 8
    """Addresses used per host (after IPv6/IPv4 interleaving)."""
    targets: int = 64
    """Entries in one target list."""
    ttl_min: int = 0
    """Shortest time a positive answer is kept (TTL 0 is always 'use now, do not cache')."""
    ttl_max: int = 86_400
    """Longest time any answer is kept, and the longest TTL a resolution reports."""
    negative_ttl_max: int = 3 * 3600
    """Longest time an NXDOMAIN/NODATA is kept (RFC 2308 §5 suggests 1-3 hours)."""
    cache_entries: int = 10_000
    """Answers held in the cache, and chains held by the resolver."""
    cache_bytes: int = 32 * 2**20
    """Approximate memory of the cached answers (wire size plus per-record overhead)."""
    inflight: int = 256
    """Questions on the network at once, per live source; more wait their turn."""
    deadline: float = 32.0
    """Seconds one locate may take in all (queueing included) before it gives up with a
    DnsError: SIP's Timer B (64*T1), past which the transaction it serves has failed."""
    stale_for: float = 86_400
    """Seconds past expiry an answer may still be served stale during an outage (RFC 8767)."""
    stale_answer_after: float = 1.8
    """RFC 8767 client response timer: wait this long for a refresh before answering stale."""

    def clamp_ttl(self, ttl: int, negative: bool = False) -> int:
        """The TTL as used: 0 stays 0 (do not cache), others within [ttl_min, ttl_max]."""
        if ttl <= 0:
            return 0
        return min(max(ttl, self.ttl_min), self.negative_ttl_max if negative else self.ttl_max)


DEFAULT_LIMITS = Limits()
