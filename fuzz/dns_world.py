"""Fuzz inputs for the resolver, and the code that runs one: no fuzzing engine needed here.

A *reply input* is a small DNS world: one line of SIP URIs, then DNS replies, each a 2-byte
big-endian length and the wire message. Every question the resolver asks is answered by the
first reply whose question section matches it, put through the very functions live replies
go through (``decode_reply``, ``answer_from``), then ``CachingSource`` and
``Resolver.locate``; a question no reply matches gets NXDOMAIN. A *zone input* is zone-file
text, put through ``load_zone``, ``lint_zone_files`` and ``Resolver(zones=...)``.

``run_reply`` / ``run_zone`` return normally or raise: anything other than a
``SiplocateError`` escaping them is a finding. The fuzz runner (``fuzz_dns.py``) and the
regression tests (``tests/unit/test_fuzz_regressions_dns.py``) share this module.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from siplocate import Resolver
from siplocate.dns.live import EDNS_PAYLOAD, answer_from, decode_reply
from siplocate.dns.source import Answer, name_key
from siplocate.errors import DnsError, SiplocateError

MAX_URIS = 3  # URIs located, in order, on one Resolver (so one can poison the next)
MAX_FRAMES = 64  # replies read from one input
CHECK = b"+check"  # a word in the URI line: also run the lint traversal on the first URI
QUERY_ID = 0x5150  # fixed, so a run is reproducible; every reply gets this ID (see _with_id)
FUZZ_SERVER = "fuzz"

QuestionKey = tuple[tuple[bytes, ...], int]


@dataclass
class World:
    """The decoded form of a reply input: URIs to locate and the replies on offer."""

    uris: list[bytes]
    frames: list[bytes] = field(default_factory=list)
    check: bool = False  # also run the lint traversal (what `siplocate check` does)

    @classmethod
    def decode(cls, data: bytes) -> World:
        """Any bytes decode (the fuzzer mutates freely); a short last frame is kept short."""
        head, _, rest = data.partition(b"\n")
        frames: list[bytes] = []
        i = 0
        while i + 2 <= len(rest) and len(frames) < MAX_FRAMES:
            size = int.from_bytes(rest[i : i + 2], "big")
            frames.append(rest[i + 2 : i + 2 + size])
            i += 2 + size
        words = head.split()
        uris = [u for u in words if u != CHECK][:MAX_URIS]
        return cls(uris, frames, CHECK in words)

    def encode(self) -> bytes:
        out = bytearray(b" ".join([*self.uris, CHECK] if self.check else self.uris) + b"\n")
        for frame in self.frames:
            frame = frame[:0xFFFF]
            out += len(frame).to_bytes(2, "big") + frame
        return bytes(out)


def frame_question(wire: bytes) -> QuestionKey | None:
    """(lower-cased name labels, rdtype) of a reply's first question, or None if unreadable."""
    if len(wire) < 12 or wire[4:6] == b"\0\0":
        return None
    try:
        name, used = dns.name.from_wire(wire, 12)
    except dns.exception.DNSException:
        return None
    end = 12 + used
    if len(wire) < end + 4:
        return None
    return name_key(name), int.from_bytes(wire[end : end + 2], "big")


def _with_id(wire: bytes, qid: int) -> bytes:
    return qid.to_bytes(2, "big") + wire[2:] if len(wire) >= 2 else wire


class FuzzSource:
    """A DnsSource answering from a ``World``: what a nameserver sending those bytes gives.

    Mirrors ``LiveSource.answer``: the same query (EDNS, 1232 bytes), ``decode_reply``, a
    truncated reply answered again "over TCP" (the next matching frame, or the same one
    with TC still set, as BIND sends an RRset over 64 KB: an error), ``answer_from``; a
    speculative question waits for ``defer``; DNS exceptions become ``DnsError`` as they
    do live. Anything else escapes, as it would live.
    """

    def __init__(self, world: World) -> None:
        self.replies: dict[QuestionKey, list[bytes]] = {}
        for frame in world.frames:
            key = frame_question(frame)
            if key is not None:
                self.replies.setdefault(key, []).append(frame)
        self.questions = 0

    async def answer(
        self,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        defer: asyncio.Event | None = None,
    ) -> Answer:
        self.questions += 1
        query = dns.message.make_query(name, rdtype, use_edns=0, payload=EDNS_PAYLOAD)
        query.id = QUERY_ID
        frames = self.replies.get((name_key(name), int(rdtype)))
        where = FUZZ_SERVER
        if defer is not None:  # a speculative question: held until the walk wants it
            await defer.wait()
        try:
            if not frames:
                return answer_from(name, rdtype, _nxdomain(query), where, 0.0)
            reply = decode_reply(query, _with_id(frames[0], QUERY_ID))
            if reply.flags & dns.flags.TC:  # the whole answer "over TCP"
                reply = decode_reply(query, _with_id(frames[min(1, len(frames) - 1)], QUERY_ID))
                where += "/tcp"
                if reply.flags & dns.flags.TC:
                    raise DnsError(f"{where}: answer truncated even over TCP")
        except dns.exception.DNSException as exc:
            raise DnsError(f"{where}: {exc}") from None
        return answer_from(name, rdtype, reply, where, 0.0)


def _nxdomain(query: dns.message.Message) -> dns.message.Message:
    reply = dns.message.make_response(query)
    reply.set_rcode(dns.rcode.NXDOMAIN)
    return reply


# -- building worlds (seed recording, structural mutation, regression tests) -------------------


def reply_for(
    qname: str | dns.name.Name,
    qtype: str | dns.rdatatype.RdataType,
    answer: Iterable[str] = (),
    additional: Iterable[str] = (),
    authority: Iterable[str] = (),
    rcode: dns.rcode.Rcode = dns.rcode.NOERROR,
    flags: int = 0,
) -> bytes:
    """A reply's wire form from records in zone-file syntax (``"owner TTL IN TYPE data"``)."""
    query = dns.message.make_query(qname, qtype, use_edns=0, payload=EDNS_PAYLOAD)
    reply = dns.message.make_response(query)
    reply.set_rcode(rcode)
    reply.flags |= flags | dns.flags.AA
    for section, lines in (
        (reply.answer, answer),
        (reply.additional, additional),
        (reply.authority, authority),
    ):
        for line in lines:
            owner, ttl, rdclass, rdtype, data = _split_rr(line)
            # Records of another class are written with IN's rdata format: what a server
            # that got the class field wrong would send.
            rrset = dns.rrset.from_text(owner, ttl, "IN", rdtype, data)
            rrset.rdclass = dns.rdataclass.from_text(rdclass)
            _merge(section, rrset)
    return reply.to_wire(max_size=65535)


def _split_rr(line: str) -> tuple[str, int, str, str, str]:
    owner, ttl, rdclass, rdtype, data = line.split(None, 4)
    return owner if owner.endswith(".") else owner + ".", int(ttl), rdclass, rdtype, data


def _merge(section: list[dns.rrset.RRset], rrset: dns.rrset.RRset) -> None:
    for existing in section:
        if (existing.name, existing.rdclass, existing.rdtype) == (
            rrset.name,
            rrset.rdclass,
            rrset.rdtype,
        ):
            existing.union_update(rrset)  # type: ignore[no-untyped-call]
            return
    section.append(rrset)


def world(uris: Sequence[str], *replies: bytes) -> bytes:
    """A reply input from URIs and wire replies (see ``reply_for``)."""
    return World([u.encode() for u in uris], list(replies)).encode()


# -- running one input -------------------------------------------------------------------------


class _NeverRetrieved(logging.Handler):
    """Counts asyncio's "Task exception was never retrieved" (and similar) error logs."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


class NeverRetrieved(Exception):
    """A run left an exception in a task nobody awaited (asyncio logged it)."""


@dataclass
class Runner:
    """Runs inputs on one event loop (a new loop per input would cost more than the input)."""

    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="siplocate-fz-")))

    def __post_init__(self) -> None:
        self.logs = _NeverRetrieved()
        logging.getLogger("asyncio").addHandler(self.logs)
        self.loop.set_exception_handler(self._loop_error)

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        self.logs.messages.append(str(context.get("message")))

    def reset(self) -> None:
        """A fresh loop, after an input was interrupted half-way (hang, memory)."""
        self.loop.close()
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(self._loop_error)

    def reply(self, data: bytes) -> list[str]:
        """Run one reply input; returns one outcome line per URI (for tests and -v)."""
        return self._finish(self.loop.run_until_complete(locate_world(World.decode(data))))

    def zone(self, data: bytes) -> list[str]:
        """Run one zone input through load_zone, lint and the resolver."""
        path = self.workdir / "fuzz.test.zone"
        path.write_bytes(data)
        return self._finish(run_zone(path, self.loop))

    def _finish(self, outcomes: list[str]) -> list[str]:
        pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        import gc

        if self.logs.messages:
            gc.collect()  # never-retrieved exceptions are logged when the task is collected
        if self.logs.messages:
            messages, self.logs.messages = self.logs.messages, []
            raise NeverRetrieved("; ".join(dict.fromkeys(messages))[:500])
        return outcomes


async def locate_world(w: World) -> list[str]:
    """Locate each URI of the world on one Resolver; then the lint traversal of the first.

    Returns "uri: targets" or "uri: ErrorClass: message" lines; raises anything else.
    """
    from siplocate.zone.lint import gather, lint_snapshot

    source = FuzzSource(w)
    resolver = Resolver(source=source)
    outcomes: list[str] = []
    try:
        for raw in w.uris:
            uri = raw.decode("latin-1")
            try:
                res = await resolver.locate(uri, seed=1)
            except SiplocateError as exc:
                outcomes.append(f"{uri}: {type(exc).__name__}: {exc}")
            else:
                outcomes.append(
                    f"{uri}: "
                    + " ".join(f"{t.transport}:{t.address}:{t.port}" for t in res.targets)
                )
        if w.check and w.uris:
            try:
                sip = resolver.parse(w.uris[0].decode("latin-1"))
                domain = dns.name.from_text(sip.lookup_host)
            except (SiplocateError, dns.exception.DNSException):
                return outcomes
            try:
                snap = await gather(FuzzSource(w), [domain])
                findings = lint_snapshot(snap)
            except SiplocateError as exc:
                outcomes.append(f"check: {type(exc).__name__}: {exc}")
            else:
                outcomes.append(f"check: {len(findings)} finding(s)")
    finally:
        resolver.close()
    return outcomes


ZONE_ORIGIN = "fuzz.test."  # the zone every fuzzed zone file is read as


def run_zone(path: Path, loop: asyncio.AbstractEventLoop) -> list[str]:
    """load_zone, lint_zone_files, then locate the zone's SIP domains (at most three).

    The file is read as the zone ``fuzz.test.`` (as ``--origin`` would give it): the origin
    never comes from the file name, and a mutated file may have lost its $ORIGIN and SOA.
    """
    from siplocate.dns.zonefile import ZoneSource, load_zone_strict
    from siplocate.zone.lint import lint_zone_files, sip_domains

    outcomes: list[str] = []
    try:
        zone = load_zone_strict(path, ZONE_ORIGIN)
    except SiplocateError as exc:
        outcomes.append(f"load: {type(exc).__name__}: {exc}")
        zone = None
    try:
        findings, _ = lint_zone_files([path], ZONE_ORIGIN)
        outcomes.append(f"lint: {sorted({f.code for f in findings})}")
    except SiplocateError as exc:
        outcomes.append(f"lint: {type(exc).__name__}: {exc}")
    if zone is None:
        return outcomes
    domains = [d.to_text(omit_final_dot=True) for d in sip_domains(zone)[:MAX_URIS]]
    resolver = Resolver(source=ZoneSource([zone]))
    for domain in domains or [str(zone.origin).rstrip(".")]:
        try:
            res = loop.run_until_complete(resolver.locate(f"sip:{domain}", seed=1))
            outcomes.append(f"{domain}: {len(res.targets)} target(s)")
        except SiplocateError as exc:
            outcomes.append(f"{domain}: {type(exc).__name__}: {exc}")
    return outcomes


__all__ = [
    "FuzzSource",
    "NeverRetrieved",
    "Runner",
    "World",
    "frame_question",
    "locate_world",
    "reply_for",
    "run_zone",
    "world",
]
