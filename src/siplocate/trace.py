"""What was asked, what came back, what was decided and why: the explanation of a resolution."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import dns.rcode
import dns.rdatatype


@dataclass(frozen=True, slots=True)
class Query:
    """One DNS question and its answer, as the resolver saw it.

    The records are kept as they came and turned into text only when shown, so tracing
    costs a resolution almost nothing.
    """

    qname: Any  # dns.name.Name, made text only when shown
    qtype: dns.rdatatype.RdataType
    source: str  # network, cache, additional, zone
    ms: float
    qrcode: dns.rcode.Rcode
    ttl: int
    records: tuple[Any, ...]  # dnspython rdata
    empty: str = ""  # what to show without records: NXDOMAIN, NODATA, ...
    server: str | None = None
    speculative: bool = False  # asked in parallel before it was known to be needed

    @property
    def name(self) -> str:
        return str(self.qname.to_text(omit_final_dot=True)) or "."

    @property
    def rdtype(self) -> str:
        return dns.rdatatype.to_text(self.qtype)

    @property
    def rcode(self) -> str:
        return dns.rcode.to_text(self.qrcode)

    @property
    def answer(self) -> tuple[str, ...]:
        """The records as zone-file text, or the reason there are none."""
        return tuple(r.to_text() for r in self.records) or (self.empty,)

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
        return replace(self, source="cache", ms=0.0, server=None)


@dataclass(frozen=True, slots=True)
class Note:
    """A decision and its reason, e.g. why a NAPTR record was discarded."""

    message: str

    def as_dict(self) -> dict[str, object]:
        return {"kind": "note", "message": self.message}


TraceEntry = Query | Note
