"""Apply record changes to a live primary: read, diff, one RFC 2136 UPDATE signed with TSIG.

Every replaced RRset carries an exact-RRset prerequisite (RFC 2136 §2.4.2) and every created
one an "RRset does not exist" prerequisite (§2.4.3), so if anyone changed those RRsets since
we read them the server rejects the whole update (NXRRSET/YXRRSET) and nothing is half-applied.
Nothing here is BIND-specific: plain RFC 2136 + RFC 8945, any primary.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.tsig
import dns.update
import dns.xfr
import dns.zone

from ..dns.live import parse_nameserver
from ..errors import BadInput, DnsError, OperationFailed
from .keys import TsigKey
from .plan import RecordKey, RecordMap

TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Change:
    """One RRset to create (old None), delete (new None) or replace."""

    key: RecordKey
    old: dns.rdataset.Rdataset | None
    new: dns.rdataset.Rdataset | None

    @property
    def name(self) -> dns.name.Name:
        return self.key[0]

    @property
    def rdtype(self) -> dns.rdatatype.RdataType:
        return self.key[1]

    def lines(self) -> list[str]:
        """Unified-diff lines: ``-`` for records that go, ``+`` for records that come."""
        kind = dns.rdatatype.to_text(self.rdtype)

        def text(rds: dns.rdataset.Rdataset | None) -> list[str]:
            if rds is None:
                return []
            return sorted(f"{self.name} {rds.ttl} IN {kind} {r.to_text()}" for r in rds)

        old, new = text(self.old), text(self.new)
        return [f"-{x}" for x in old if x not in new] + [f"+{x}" for x in new if x not in old]


@dataclass
class Server:
    """A primary to update: address, port, key, and the zone that holds the names."""

    address: str
    port: int
    key: TsigKey | None  # None: unsigned (only for servers that allow updates by address)
    timeout: float = TIMEOUT
    use_axfr: bool = True  # False: read by queries only (primaries that refuse transfers)

    @classmethod
    def parse(cls, text: str, key: TsigKey | None, timeout: float = TIMEOUT) -> Server:
        address, port = parse_nameserver(text)
        return cls(address, port, key, timeout)

    def _oserror(self, exc: OSError, doing: str = "") -> DnsError:
        """``connection refused``, never ``[Errno 111] Connection refused``."""
        why = exc.strerror or str(exc) or type(exc).__name__
        why = why[:1].lower() + why[1:]
        return DnsError(f"{self.where}: {doing}{why}")

    @property
    def where(self) -> str:
        return (
            f"[{self.address}]:{self.port}"
            if ":" in self.address
            else (f"{self.address}:{self.port}")
        )

    def _send(self, message: dns.message.Message) -> dns.message.Message:
        try:
            return dns.query.tcp(message, self.address, port=self.port, timeout=self.timeout)
        except (dns.tsig.PeerError, dns.tsig.BadSignature) as exc:
            raise self._tsig_error(exc) from None
        except dns.exception.Timeout:
            raise DnsError(f"{self.where} did not answer within {self.timeout:g} s") from None
        except OSError as exc:
            raise self._oserror(exc) from None
        except dns.exception.DNSException as exc:
            raise DnsError(f"{self.where}: {exc}") from None

    def _tsig_error(self, exc: Exception) -> OperationFailed:
        """One line naming the TSIG error the server sent back (never the secret)."""
        key = f"key {self.key}"
        if isinstance(exc, dns.tsig.PeerBadKey):
            why = f"NOTAUTH (BADKEY): the server does not know {key}; check name and algorithm"
        elif isinstance(exc, dns.tsig.PeerBadSignature):
            why = f"NOTAUTH (BADSIG): the secret of {key} is not the one the server has"
        elif isinstance(exc, dns.tsig.PeerBadTime):
            why = "NOTAUTH (BADTIME): the clocks here and on the server differ by over 300 s"
        else:
            why = f"a TSIG failure ({type(exc).__name__}) with {key}"
        return OperationFailed(f"{self.where} answered {why}")

    def find_zone(self, name: dns.name.Name) -> dns.name.Name:
        """The zone (on this server) that holds ``name``: from the SOA in the reply."""
        reply = self._send(dns.message.make_query(name, dns.rdatatype.SOA))
        if reply.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise DnsError(
                f"{self.where} answered {dns.rcode.to_text(reply.rcode())} for {name} SOA: "
                "is it the primary for this domain?"
            )
        for rrset in list(reply.answer) + list(reply.authority):
            if rrset.rdtype == dns.rdatatype.SOA and name.is_subdomain(rrset.name):
                return rrset.name
        raise DnsError(f"{self.where} is not authoritative for {name} (no SOA in its reply)")

    def read(self, zone: dns.name.Name, keys: Iterable[RecordKey]) -> RecordMap:
        """The live RRsets for ``keys``: by a TSIG-signed AXFR, else by one query per RRset.

        AXFR sees the zone's real contents; plain queries would also see wildcard-synthesised
        answers, which are ignored when a wildcard owner answers.
        """
        keys = list(keys)
        if not self.use_axfr:
            return self._read_by_query(zone, keys)
        try:
            xfr = dns.query.xfr(
                self.address, zone, port=self.port, keyring=self._keyring(), timeout=self.timeout,
                lifetime=self.timeout * 4, relativize=False,
            )  # fmt: skip
            content = dns.zone.from_xfr(xfr, relativize=False)
        except (dns.xfr.TransferError, dns.exception.FormError, EOFError, ConnectionError):
            return self._read_by_query(zone, keys)
        except (dns.tsig.PeerError, dns.tsig.BadSignature) as exc:
            raise self._tsig_error(exc) from None
        except dns.exception.Timeout:
            raise DnsError(f"{self.where} did not answer within {self.timeout:g} s") from None
        except OSError as exc:
            raise self._oserror(exc, f"zone transfer of {zone} failed: ") from None
        except dns.exception.DNSException as exc:
            raise DnsError(f"{self.where}: zone transfer of {zone} failed: {exc}") from None
        out: RecordMap = {}
        for name, rdtype in keys:
            rds = content.get_rdataset(name, rdtype)
            if rds is not None:
                out[(name, rdtype)] = rds
        return out

    def _keyring(self) -> dict[dns.name.Name, dns.tsig.Key] | None:
        return {self.key.tsig.name: self.key.tsig} if self.key is not None else None

    def _query(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
    ) -> dns.rdataset.Rdataset | None:
        reply = self._send(dns.message.make_query(name, rdtype))
        if reply.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise DnsError(
                f"{self.where} answered {dns.rcode.to_text(reply.rcode())} for {name} "
                f"{dns.rdatatype.to_text(rdtype)}"
            )
        rrset = reply.get_rrset(reply.answer, name, dns.rdataclass.IN, rdtype)
        if rrset is None:
            return None
        return rdataset(rdtype, rrset.ttl, (r.to_text() for r in rrset))

    def _read_by_query(self, zone: dns.name.Name, keys: list[RecordKey]) -> RecordMap:
        """One query per RRset. An answer equal to a wildcard's own RRset (``*._tcp``, the
        DooxSwitch "no such service" idiom) is taken as synthesised, i.e. absent: an update
        can neither require nor delete a synthesised RRset (bounded: two ancestors)."""
        out: RecordMap = {}
        for name, rdtype in keys:
            rds = self._query(name, rdtype)
            if rds is None:
                continue
            parent = name.parent() if name != zone else None
            synthesised = False
            for _ in range(2):
                if parent is None or not parent.is_subdomain(zone):
                    break
                wildcard = self._query(dns.name.Name((b"*", *parent.labels)), rdtype)
                if wildcard is not None and wildcard == rds and wildcard.ttl == rds.ttl:
                    synthesised = True
                    break
                parent = parent.parent() if parent != zone else None
            if not synthesised:
                out[(name, rdtype)] = rds
        return out

    def update(self, zone: dns.name.Name, changes: list[Change]) -> None:
        """Send ``changes`` as ONE signed UPDATE with prerequisites; raise on any failure."""
        if not changes:
            return
        message = dns.update.UpdateMessage(zone)
        for ch in changes:
            if ch.old is not None:
                # Exact RRset as read; RFC 2136 §2.4.2 wants TTL 0 in prerequisites.
                message.present(ch.name, rdataset(ch.rdtype, 0, (r.to_text() for r in ch.old)))
            else:
                message.absent(ch.name, ch.rdtype)
        for ch in changes:
            if ch.old is not None:
                message.delete(ch.name, ch.rdtype)
            if ch.new is not None:
                message.add(ch.name, ch.new)
        reply = self._send(_signed(message, self.key))
        rcode = reply.rcode()
        if rcode == dns.rcode.NOERROR:
            return
        name = dns.rcode.to_text(rcode)
        if rcode in (dns.rcode.NXRRSET, dns.rcode.YXRRSET, dns.rcode.NXDOMAIN, dns.rcode.YXDOMAIN):
            raise OperationFailed(
                f"{self.where} rejected the update with {name}: the records changed since they "
                "were read (someone else edited the zone); nothing was applied, run again to "
                "see the new difference"
            )
        signer = f"signed by key {self.key}" if self.key else "unsigned (no --key)"
        if rcode == dns.rcode.REFUSED:
            raise OperationFailed(
                f"{self.where} REFUSED the update ({signer}): it does not allow that for "
                f"{zone}; sign with a key in its allow-update / update-policy"
            )
        if rcode == dns.rcode.NOTAUTH:
            raise OperationFailed(
                f"{self.where} answered NOTAUTH for the update ({signer}): it is not the "
                f"primary for {zone} or does not accept the key"
            )
        if rcode == dns.rcode.NOTZONE:
            raise OperationFailed(f"{self.where} answered NOTZONE: a name is outside {zone}")
        raise OperationFailed(f"{self.where} rejected the update with {name}")


def _signed(message: dns.message.Message, key: TsigKey | None) -> dns.message.Message:
    if key is not None:
        message.use_tsig(key.tsig)
    return message


def diff(live: RecordMap, wanted: RecordMap, keys: Iterable[RecordKey]) -> list[Change]:
    """Changes that turn ``live`` into ``wanted`` over ``keys`` (TTL changes included)."""
    changes = []
    for key in sorted(set(keys), key=lambda k: (k[0].to_text(), k[1])):
        old, new = live.get(key), wanted.get(key)
        if old is None and new is None:
            continue
        if old is not None and new is not None and old == new and old.ttl == new.ttl:
            continue
        changes.append(Change(key, old, new))
    return changes


def rdataset(
    rdtype: dns.rdatatype.RdataType, ttl: int, texts: Iterable[str]
) -> dns.rdataset.Rdataset:
    """An Rdataset from record texts; BadInput on malformed text."""
    rds = dns.rdataset.Rdataset(dns.rdataclass.IN, rdtype)
    try:
        for text in texts:
            rds.add(dns.rdata.from_text(dns.rdataclass.IN, rdtype, text), ttl)
    except dns.exception.DNSException as exc:
        raise BadInput(f"bad {dns.rdatatype.to_text(rdtype)} record: {exc}") from None
    return rds
