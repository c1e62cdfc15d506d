"""What was asked, what came back, what was decided and why: the explanation of a resolution."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Query:
    """One DNS question and its answer, as the resolver saw it."""

    name: str
    rdtype: str
    source: str  # network, cache, additional, zone
    ms: float
    rcode: str
    ttl: int
    answer: tuple[str, ...]
    server: str | None = None
    speculative: bool = False  # asked in parallel before it was known to be needed

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": "query",
            "name": self.name,
            "type": self.rdtype,
            "source": self.source,
            "ms": round(self.ms, 3),
            "rcode": self.rcode,
            "ttl": self.ttl,
            "answer": list(self.answer),
            "server": self.server,
            "speculative": self.speculative,
        }

    def cached(self) -> Query:
        """The same question as a later, fully cached resolution sees it."""
        return Query(
            self.name,
            self.rdtype,
            "cache",
            0.0,
            self.rcode,
            self.ttl,
            self.answer,
            None,
            self.speculative,
        )


@dataclass(frozen=True, slots=True)
class Note:
    """A decision and its reason, e.g. why a NAPTR record was discarded."""

    message: str

    def as_dict(self) -> dict[str, object]:
        return {"kind": "note", "message": self.message}


TraceEntry = Query | Note
