"""Take one server out of rotation and put it back, with the drain state kept in the zone.

Strategy: the drained target's SRV records move to priority 65535, behind every other
priority (the off-site tier included), with weight and port unchanged. Priority is the one
SRV field every client honours -- clients that ignore weights (baresip orders by a hash) would
still pick a weight-0 target -- and the server stays a last resort if everything else is down.

State: one TXT record per drained SRV record at ``_siplocate-drain.<domain>``, written in the
SAME update as the SRV change. The update is atomic (RFC 2136 §3.2.4 with exact-RRset
prerequisites), so the zone never holds a drain without its record or the other way round,
and every admin who can read the zone sees the same drains. Drain and undrain work per host
and per record on what the zone holds now, so any order of drains and undrains works, and
an undrain after something else (``zone apply``) restored the records just clears the state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rdtypes.IN.SRV

from ..errors import BadInput, NotFound, OperationFailed
from ..target import TRANSPORTS
from .update import Change, Server, rdataset

DRAIN_PRIORITY = 65535
SRV = dns.rdatatype.SRV
TXT = dns.rdatatype.TXT
MARKER_LABEL = "_siplocate-drain"
MARKER_TAG = b"siplocate-drain/1"
MARKER_TTL = 60
MAX_MARKERS = 1000  # TXT records read from the zone: hostile data, bounded


@dataclass(frozen=True, slots=True)
class Drain:
    """One drained SRV record: where it is, whose it is, and the priority it had."""

    srv_name: dns.name.Name
    host: dns.name.Name
    priority: int
    weight: int
    port: int
    since: float

    def as_dict(self) -> dict[str, object]:
        return {
            "srv": str(self.srv_name),
            "host": str(self.host),
            "priority": self.priority,
            "weight": self.weight,
            "port": self.port,
            "since": self.since,
        }

    def rdata(self) -> dns.rdata.Rdata:
        strings = (
            MARKER_TAG,
            self.srv_name.to_text().encode(),
            self.host.to_text().encode(),
            f"{self.priority} {self.weight} {self.port}".encode(),
            str(int(self.since)).encode(),
        )
        return dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, TXT, strings)

    @classmethod
    def parse(cls, rdata: dns.rdata.Rdata) -> Drain | None:
        """The drain a marker TXT record describes; None if it is not one of ours or garbled."""
        strings: tuple[bytes, ...] = tuple(getattr(rdata, "strings", ()))
        if len(strings) != 5 or strings[0] != MARKER_TAG:
            return None
        try:
            srv_name = dns.name.from_text(strings[1].decode("ascii"))
            host = dns.name.from_text(strings[2].decode("ascii"))
            priority, weight, port = (int(x) for x in strings[3].decode("ascii").split())
            since = float(int(strings[4].decode("ascii")))
        except (dns.exception.DNSException, ValueError, UnicodeError):
            return None
        if not all(0 <= v <= 65535 for v in (priority, weight, port)):
            return None
        return cls(srv_name, host, priority, weight, port, since)


@dataclass(frozen=True, slots=True)
class DrainResult:
    """What drain/undrain changed and when clients that cached the old records let go."""

    zone: dns.name.Name
    host: dns.name.Name
    changes: list[Change]
    done_at: float
    ttl: int
    warnings: list[str] = field(default_factory=list)
    note: str = ""  # why nothing changed (already drained, not drained)

    @property
    def clear_at(self) -> float:
        """Unix time after which no client still holds the pre-change SRV records."""
        return self.done_at + self.ttl


@dataclass(frozen=True, slots=True)
class MarkerProblem:
    """Drain markers that cannot be trusted for one SRV record: markers that disagree on the
    priority to restore, or a marker of ours that does not read (``host`` None: it names no
    readable host, so it may be about any)."""

    host: dns.name.Name | None
    srv_name: dns.name.Name | None
    markers: tuple[dns.rdata.Rdata, ...]
    record: str = ""  # the drained SRV record the markers disagree about

    def describe(self) -> str:
        if not self.record:
            return f"a drain record does not read ({self.markers[0].to_text()})"
        restores = "; ".join(
            f"priority {d.priority} (recorded {_utc(d.since)})"
            for d in sorted(map(_parsed, self.markers), key=lambda d: (d.priority, d.since))
        )
        return f"{len(self.markers)} drain records disagree about {self.record}: {restores}"

    @property
    def fix(self) -> str:
        if self.record:
            return "Keep the right record and delete the other"
        return "Delete the record that does not read"

    def nsupdate(self, marker: dns.name.Name) -> list[str]:
        """The nsupdate lines that delete each of these markers (the admin keeps the right one)."""
        return sorted(f"update delete {marker} TXT {r.to_text()}" for r in self.markers)


def _parsed(rdata: dns.rdata.Rdata) -> Drain:
    drain_ = Drain.parse(rdata)
    assert drain_ is not None  # only readable markers can disagree
    return drain_


@dataclass(frozen=True, slots=True)
class Markers:
    """The TXT records at a domain's marker name, sorted out: readable drains of its SIP SRV
    names, drains naming SRV sets outside it (set aside), problems, and records not ours."""

    drains: list[Drain]
    outside: list[Drain]
    problems: list[MarkerProblem]
    foreign: int = 0  # TXT records without our tag: not ours, left as found

    def problems_of(self, host: dns.name.Name) -> list[MarkerProblem]:
        return [p for p in self.problems if p.host is None or p.host == host]


def read_markers(domain: dns.name.Name, rdatas: Iterable[dns.rdata.Rdata]) -> Markers:
    """Sort the marker TXT records of ``domain``. Two readable markers for the same drained
    record (SRV name, host, weight, port) that restore different priorities conflict: which
    one is true cannot be told from the zone, so neither may be acted on."""
    srv_names = {dns.name.from_text(info.srv_prefix, domain) for info in TRANSPORTS.values()}
    drains: list[Drain] = []
    outside: list[Drain] = []
    malformed: list[MarkerProblem] = []
    foreign = 0
    by_record: dict[tuple[dns.name.Name, dns.name.Name, int, int], list[dns.rdata.Rdata]] = {}
    for rdata in rdatas:
        drain_ = Drain.parse(rdata)
        if drain_ is None:
            strings: tuple[bytes, ...] = tuple(getattr(rdata, "strings", ()))
            if strings[:1] == (MARKER_TAG,):
                malformed.append(MarkerProblem(_name_or_none(strings, 2), None, (rdata,)))
            else:
                foreign += 1
        elif drain_.srv_name not in srv_names:
            outside.append(drain_)
        else:
            drains.append(drain_)
            key = (drain_.srv_name, drain_.host, drain_.weight, drain_.port)
            by_record.setdefault(key, []).append(rdata)
    conflicts = [
        MarkerProblem(host, srv_name, tuple(rds), f"{srv_name} SRV {DRAIN_PRIORITY} {w} {p} {host}")
        for (srv_name, host, w, p), rds in sorted(by_record.items(), key=lambda kv: str(kv[0]))
        if len({_parsed(r).priority for r in rds}) > 1
    ]
    drains.sort(key=lambda d: (d.host.to_text(), d.srv_name.to_text(), d.port))
    return Markers(drains, outside, conflicts + malformed, foreign)


def _name_or_none(strings: tuple[bytes, ...], index: int) -> dns.name.Name | None:
    try:
        return dns.name.from_text(strings[index].decode("ascii"))
    except (IndexError, dns.exception.DNSException, UnicodeError):
        return None


@dataclass(frozen=True, slots=True)
class DrainState:
    """The drains recorded in one zone, plus the live RRsets they were read with."""

    zone: dns.name.Name
    marker: dns.name.Name
    drains: list[Drain]
    live: dict[tuple[dns.name.Name, dns.rdatatype.RdataType], dns.rdataset.Rdataset]
    ignored: int = 0  # marker TXT records that were not readable drains
    markers: Markers = field(default_factory=lambda: Markers([], [], []))

    def of(self, host: dns.name.Name) -> list[Drain]:
        return [d for d in self.drains if d.host == host]

    def refuse_if_unsure(self, host: dns.name.Name) -> None:
        """OperationFailed naming the markers that disagree about ``host`` (or do not read)
        and the nsupdate lines that delete them: acting on either one would be a guess."""
        problems = self.markers.problems_of(host)
        if not problems:
            return
        what = "; ".join(p.describe() for p in problems)
        deletes = "; ".join(line for p in problems for line in p.nsupdate(self.marker))
        exc = OperationFailed(
            f"not undraining {host}: {what}. Nothing changed. {problems[0].fix} with "
            f"nsupdate ({deletes}; send), then undrain again; or restore the SRV records with "
            f"`zone apply` and `undrain {host} --forget`"
        )
        exc.json_extra = {  # type: ignore[attr-defined]
            "conflicts": [
                {
                    "host": None if p.host is None else str(p.host),
                    "srv": None if p.srv_name is None else str(p.srv_name),
                    "record": p.record or None,
                    "markers": [r.to_text() for r in p.markers],
                    "nsupdate": p.nsupdate(self.marker),
                }
                for p in problems
            ]
        }
        raise exc


def check_name(text: str, what: str, origin: dns.name.Name | None = dns.name.root) -> dns.name.Name:
    """A DNS name from user input; BadInput (one line) for empty or over-long labels."""
    try:
        return dns.name.from_text(text, origin)
    except dns.name.EmptyLabel:
        raise BadInput(f"invalid {what} {text!r}: empty label (two dots in a row?)") from None
    except dns.name.LabelTooLong:
        raise BadInput(f"invalid {what} {text!r}: a label is over 63 characters") from None
    except dns.exception.DNSException as exc:
        raise BadInput(f"invalid {what} {text!r}: {exc}") from None


def marker_name(domain: dns.name.Name) -> dns.name.Name:
    """Where the drain state of ``domain`` lives: ``_siplocate-drain.<domain>`` (TXT)."""
    return dns.name.Name((MARKER_LABEL.encode(), *domain.labels))


def read_state(server: Server, domain: dns.name.Name) -> DrainState:
    """The SIP SRV RRsets of ``domain`` and the drains recorded next to them."""
    zone = server.find_zone(domain)
    marker = marker_name(domain)
    names = [dns.name.from_text(info.srv_prefix, domain) for info in TRANSPORTS.values()]
    live = server.read(zone, [(n, SRV) for n in names] + [(marker, TXT)])
    markers = read_markers(domain, list(live.get((marker, TXT), ()))[:MAX_MARKERS])
    malformed = sum(1 for p in markers.problems if not p.record)  # conflicting ones do read
    ignored = markers.foreign + len(markers.outside) + malformed
    return DrainState(zone, marker, markers.drains, live, ignored, markers)


def _srv_rdataset(ttl: int, records: Iterable[dns.rdtypes.IN.SRV.SRV]) -> dns.rdataset.Rdataset:
    return rdataset(SRV, ttl, (r.to_text() for r in records))


def _marker_change(
    state: DrainState, drains: list[Drain], drop: Iterable[dns.rdata.Rdata] = ()
) -> Change | None:
    """The TXT change that makes the recorded drains ``drains`` (None: no change); records
    in ``drop`` (garbled markers of an undrained host) go too."""
    old = state.live.get((state.marker, TXT))
    new = None
    # Not ours, garbled, or about SRV sets outside the domain: leave as found.
    gone = set(drop)
    keep = [r for r in old or () if Drain.parse(r) not in state.drains and r not in gone]
    if drains or keep:
        new = dns.rdataset.Rdataset(dns.rdataclass.IN, TXT)
        for rdata in [*keep, *(d.rdata() for d in drains)]:
            new.add(rdata, MARKER_TTL)
    if old == new and (old is None or new is None or old.ttl == new.ttl):
        return None
    return Change((state.marker, TXT), old, new)


def _in_rotation(rds: Iterable[dns.rdtypes.IN.SRV.SRV]) -> bool:
    return any(r.priority < DRAIN_PRIORITY and r.target != dns.name.root for r in rds)


def drain(
    server: Server, domain: dns.name.Name, host: str, *, now: Callable[[], float] = time.time
) -> DrainResult:
    """Move ``host``'s SRV records (every SIP transport of ``domain``) behind all others."""
    target = check_name(host, "host", domain)
    state = read_state(server, domain)
    recorded = list(state.drains)
    changes: list[Change] = []
    warnings: list[str] = []
    found = False
    empty: list[str] = []  # SRV RRsets this drain leaves with no server in rotation
    started = now()
    for (name, rdtype), old in sorted(state.live.items(), key=lambda kv: kv[0][0].to_text()):
        if rdtype != SRV:
            continue
        mine = [r for r in old if r.target == target]
        found = found or bool(mine)
        moving = [r for r in mine if r.priority != DRAIN_PRIORITY]
        if not moving:
            continue
        records = [r for r in old if r not in moving]
        records += [r.replace(priority=DRAIN_PRIORITY) for r in moving]
        new = _srv_rdataset(old.ttl, records)
        changes.append(Change((name, SRV), old, new))
        # A marker left for a record that is back in rotation (``zone apply``) is stale: the
        # new one replaces it, so the two never disagree.
        stale = {(name, r.weight, r.port) for r in moving}
        recorded = [d for d in recorded if (d.srv_name, d.weight, d.port) not in stale
                    or d.host != target]  # fmt: skip
        recorded += [Drain(name, target, r.priority, r.weight, r.port, started) for r in moving]
        if _in_rotation(old) and not _in_rotation(new):
            empty.append(name.to_text())
    if empty:
        warnings.append(
            f"no server is left in rotation in {', '.join(empty)}: clients still use the "
            f"drained ones (priority {DRAIN_PRIORITY}) because nothing else is there"
        )
    if not changes:
        if not found:
            raise NotFound(f"no SRV record of {domain} names {target}")
        since = state.of(target)
        why = (
            f"{target} is already drained in {domain} (since {_utc(since[0].since)})"
            if since
            else f"{target} is already at priority {DRAIN_PRIORITY} in {domain} "
            "(not by siplocate drain)"
        )
        return DrainResult(state.zone, target, [], now(), 0, warnings, f"{why}; nothing changed")
    marker = _marker_change(state, recorded)
    if marker is not None:
        changes.append(marker)
    server.update(state.zone, changes)
    ttl = max(ch.old.ttl for ch in changes if ch.old is not None and ch.rdtype == SRV)
    return DrainResult(state.zone, target, changes, now(), ttl, warnings)


def undrain(
    server: Server,
    domain: dns.name.Name,
    host: str,
    *,
    forget: bool = False,
    now: Callable[[], float] = time.time,
) -> DrainResult:
    """Give ``host``'s drained SRV records their priority back and clear their drain record.

    Records that are no longer at 65535 (``zone apply`` or someone restored them) are left as
    they are; ``forget`` only clears the drain record and touches no SRV record.
    """
    target = check_name(host, "host", domain)
    state = read_state(server, domain)
    warnings: list[str] = []
    for outside in state.markers.outside:
        if outside.host == target:
            warnings.append(
                f"a drain record names {outside.srv_name}, which is not a SIP SRV name of "
                f"{domain}: ignored"
            )
    if not forget:
        state.refuse_if_unsure(target)
    mine = state.of(target)
    # --forget also clears the garbled markers that name this host (nothing is restored).
    garbled = [r for p in state.markers.problems if p.host == target for r in p.markers]
    if not mine and not garbled:
        drained_srv = any(
            r.target == target and r.priority == DRAIN_PRIORITY
            for (_, rdtype), rds in state.live.items()
            if rdtype == SRV
            for r in rds
        )
        hint = (
            f"; its records ARE at priority {DRAIN_PRIORITY}: restore them with `zone apply`"
            if drained_srv
            else ""
        )
        note = f"{target} is not drained in {domain} (no drain record){hint}; nothing changed"
        return DrainResult(state.zone, target, [], now(), 0, warnings, note)
    changes: list[Change] = []
    gone: list[str] = []  # drained records no longer at 65535 (zone apply or a hand edit)
    if not forget:
        for name in sorted({d.srv_name for d in mine}, key=lambda n: n.to_text()):
            old = state.live.get((name, SRV))
            records = list(old or ())
            changed = False
            # Markers that agree (same record, same priority) restore it once.
            restores = dict.fromkeys((d.weight, d.port, d.priority) for d in mine
                                     if d.srv_name == name)  # fmt: skip
            for weight, port, priority in restores:
                drained = dns.rdata.from_text(
                    dns.rdataclass.IN, SRV, f"{DRAIN_PRIORITY} {weight} {port} {target}"
                )
                if drained in records:
                    records[records.index(drained)] = drained.replace(priority=priority)
                    changed = True
                else:
                    gone.append(name.to_text())
            if changed and old is not None:
                changes.append(Change((name, SRV), old, _srv_rdataset(old.ttl, records)))
    if gone:
        where = ", ".join(dict.fromkeys(gone))
        warnings.append(
            f"{target} is no longer at priority {DRAIN_PRIORITY} in {where} "
            "(restored by `zone apply` or by hand since the drain): left as it is"
        )
    marker = _marker_change(state, [d for d in state.drains if d.host != target], garbled)
    if marker is not None:
        changes.append(marker)
    server.update(state.zone, changes)
    srv_ttls = [ch.old.ttl for ch in changes if ch.old is not None and ch.rdtype == SRV]
    return DrainResult(state.zone, target, changes, now(), max(srv_ttls, default=0), warnings)


def _utc(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def drained_hosts(server: Server, domain: dns.name.Name) -> list[Drain]:
    """The drains recorded for ``domain`` on ``server`` (for ``zone apply``'s warning)."""
    try:
        return read_state(server, domain).drains
    except NotFound:
        return []


__all__ = [
    "DRAIN_PRIORITY",
    "Drain",
    "DrainResult",
    "DrainState",
    "MarkerProblem",
    "Markers",
    "check_name",
    "drain",
    "drained_hosts",
    "marker_name",
    "read_markers",
    "read_state",
    "undrain",
]
