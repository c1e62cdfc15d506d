"""One RFC 3263 §4.1/§4.2 walk (NAPTR -> SRV -> A/AAAA for one SIP URI) as a pure machine.

The machine does no I/O and keeps no time of its own (aioquic's connection is the model): it
says which DNS questions it needs (``Ask``), is handed their answers (``receive``), and ends
with the branches it found, the trace of every question and decision, the shortest TTL and
the glue. What is already known (the cache, looked up through ``known``; this walk's glue)
is used at once. Independent questions are asked together: the NAPTR with the fallback SRV
names (``speculative``: their replies may stay unread until ``Release``, and are dropped
with ``Drop`` when the NAPTR makes them moot), every target's A and AAAA. When a reply's
additional section gave one address family only, the walk goes on with it and says
``AskLater`` for the other, for the driver to fold in later. Every bound comes from
``Limits`` and is noted when hit.

Inside, each concurrent part of the walk is a generator that yields what it waits for (an
answer, or other parts to finish); a small scheduler resumes each part when that is there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.IN.NAPTR
import dns.rdtypes.IN.SRV

from ..dns.source import Answer, NameKey, Origin, name_key
from ..errors import DnsError
from ..limits import Limits
from ..resolution import Branch, Host, Naptr
from ..target import SipUri, Target, Transport, Via
from ..trace import Note, Query, TraceEntry
from .rules import (
    DnsMode,
    decode_naptr,
    default_transport,
    fallback_transports,
    interleave,
    naptr_rank,
    naptr_unusable,
    service_transport,
    srv_name,
    srv_transport,
    text,
)

NAPTR = dns.rdatatype.NAPTR
SRV = dns.rdatatype.SRV
A = dns.rdatatype.A
AAAA = dns.rdatatype.AAAA
Key = tuple[NameKey, dns.rdatatype.RdataType]
Asked = tuple[Answer | None, list[str]]  # an answer (None: none to be had) and alias notes
Known = Callable[[dns.name.Name, dns.rdatatype.RdataType], Answer | None]
T = TypeVar("T")


# -- what the machine says ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Question:
    """One DNS question the walk needs answered. ``speculative``: asked before it is known
    to matter; its reply may be held unread until ``Release`` (and dropped by ``Drop``)."""

    name: dns.name.Name
    rdtype: dns.rdatatype.RdataType
    speculative: bool = False
    key: Key = field(init=False, compare=False, repr=False)  # cheap to hash, made once

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (name_key(self.name), self.rdtype))


@dataclass(frozen=True, slots=True)
class Ask:
    """Ask this question; hand its answer (or the DnsError) to ``receive``."""

    question: Question


@dataclass(frozen=True, slots=True)
class Drop:
    """The walk no longer needs this question: stop asking, its reply goes unread."""

    question: Question


@dataclass(frozen=True, slots=True)
class Release:
    """The NAPTR answer has been read: speculative replies may be read now."""


@dataclass(frozen=True, slots=True)
class AskLater:
    """Ask this address question in the background; the walk does not wait for it."""

    question: Question


Effect = Ask | Drop | Release | AskLater


# -- the scheduler's vocabulary (inside the machine only) -----------------------------------


@dataclass(frozen=True, slots=True)
class _Fetch:
    question: Question


@dataclass(slots=True)
class _Task:
    """One concurrent part of the walk: a generator, and what it ended with."""

    gen: Generator[Any, Any, Any]
    waiting: Key | None = None
    joiner: _Task | None = None
    joined: tuple[_Task, ...] = ()
    done: bool = False
    result: Any = None
    error: BaseException | None = None


@dataclass(frozen=True, slots=True)
class _Spawn:
    gen: Generator[Any, Any, Any]


@dataclass(frozen=True, slots=True)
class _Join:
    tasks: tuple[_Task, ...]


Step = Generator[_Fetch | _Spawn | _Join, Any, T]


class Machine:
    """A pure scheduler of generators: each concurrent part of a walk yields what it waits
    for (``_Fetch`` an answer, ``_Spawn`` a part, ``_Join`` parts) and is resumed when that
    is there. Subclasses give the root part (``_main``); the driver sees only ``start``,
    ``receive`` and the effects they return."""

    def __init__(self) -> None:
        self.started: float | None = None  # when start() was called: the RFC 8767 timer's
        self._released = False
        self._ready: list[tuple[_Task, Any, BaseException | None]] = []  # first in, first run
        self._waiting: dict[Key, tuple[Question, list[_Task]]] = {}
        self._effects: list[Effect] = []
        self._root: _Task | None = None

    def _main(self) -> Step[None]:
        raise NotImplementedError
        yield  # a generator

    @property
    def done(self) -> bool:
        return self._root is not None and self._root.done

    def start(self, now: float) -> list[Effect]:
        """Begin the walk at ``now`` (the driver's monotonic time); the first effects."""
        self.started = now
        self._root = _Task(self._main())
        self._ready.append((self._root, None, None))
        return self._run()

    def receive(self, question: Question, answer: Answer | DnsError) -> list[Effect]:
        """The answer to an asked question (or why there is none); the effects that follow.
        An answer nobody waits for any more (dropped) is ignored."""
        asked = self._waiting.pop(question.key, None)
        if asked is None:
            return []
        for i, task in enumerate(asked[1]):
            task.waiting = None
            given = answer
            if i and isinstance(answer, Answer) and answer.source is not Origin.STALE:
                given = answer.with_source(Origin.CACHE)  # shared, as a cache shares it
            self._ready.append((task, given, None))
        return self._run()

    def pending(self) -> list[Question]:
        """The questions asked and not answered yet."""
        return [q for q, _ in self._waiting.values()]

    # -- the scheduler -----------------------------------------------------------------------

    def _run(self) -> list[Effect]:
        while self._ready:
            ready, self._ready = self._ready, []
            for task, value, error in ready:
                self._step(task, value, error)
        if self.done:
            self._finish()
        effects, self._effects = self._effects, []
        assert self._root is not None
        if self._root.error is not None:
            raise self._root.error
        return effects

    def _step(self, task: _Task, value: Any, error: BaseException | None) -> None:
        """Run ``task`` until it waits for an answer or for other tasks, or ends."""
        while True:
            try:
                request = task.gen.throw(error) if error is not None else task.gen.send(value)
            except StopIteration as stop:
                self._end(task, stop.value, None)
                return
            except Exception as exc:  # e.g. NotFound: this task's caller gets it
                self._end(task, None, exc)
                return
            value, error = None, None
            if isinstance(request, _Spawn):
                child = _Task(request.gen)
                self._ready.append((child, None, None))
                value = child
            elif isinstance(request, _Join):
                if all(t.done for t in request.tasks):
                    value, error = _joined(request.tasks)
                else:
                    task.joined = request.tasks
                    for t in request.tasks:
                        t.joiner = task
                    return
            else:
                q = request.question
                task.waiting = q.key
                waiting = self._waiting.get(q.key)
                if waiting is None:
                    self._waiting[q.key] = (q, [task])
                    self._effects.append(Ask(q))
                else:
                    waiting[1].append(task)
                return

    def _end(self, task: _Task, result: Any, error: BaseException | None) -> None:
        task.done, task.result, task.error = True, result, error
        joiner = task.joiner
        if joiner is not None and joiner.joined and all(t.done for t in joiner.joined):
            joined, joiner.joined = joiner.joined, ()
            self._ready.append((joiner, *_joined(joined)))

    def _cancel(self, task: _Task) -> None:
        """Stop a task that waits for an answer; the question is dropped if nobody else
        waits for it."""
        if task.done:
            return
        if task.waiting is not None:
            question, waiters = self._waiting[task.waiting]
            waiters.remove(task)
            if not waiters:
                del self._waiting[task.waiting]
                self._effects.append(Drop(question))
        task.gen.close()
        task.done = True

    def _finish(self) -> None:
        """The walk is over: questions still asked are dropped, speculative replies freed."""
        for _, waiters in list(self._waiting.values()):
            for t in list(waiters):
                self._cancel(t)
        self._release()

    def _release(self) -> None:
        if not self._released:
            self._released = True
            self._effects.append(Release())

    def gather(self, parts: Sequence[Step[T]]) -> Step[list[T]]:
        """Run ``parts`` side by side; their results in order (the first error raised)."""
        tasks = []
        for part in parts:
            tasks.append((yield _Spawn(part)))
        results: list[T] = yield _Join(tuple(tasks))
        return results


class WalkState(Machine):
    """What one walk has been told and has decided: the trace, the shortest TTL used, the
    errors, this walk's glue; asking (through what is known, the glue, then a question)
    and the rules that note as they decide."""

    def __init__(
        self,
        uri: SipUri,
        transports: Sequence[Transport],
        limits: Limits,
        *,
        known: Known = lambda name, rdtype: None,
        glue: dict[Key, Answer] | None = None,
        mode: DnsMode = DnsMode.NAPTR,
        static: tuple[Target, ...] = (),
        also: Sequence[tuple[dns.name.Name, dns.rdatatype.RdataType]] = (),
    ) -> None:
        super().__init__()
        self.uri = uri
        self.transports = tuple(transports)
        self.limits = limits
        self.known = known
        self.mode = mode
        self.static = static  # the configured addresses of DnsMode.STATIC, in order
        self.also = tuple(also)
        self.trace: list[TraceEntry] = []
        self.ttl: float = math.inf
        self.errors: list[str] = []
        self.unanswered: dict[dns.name.Name, str] = {}  # names no server answered for
        self.answers: list[Answer] = []  # every answer used, as it came (for observe())
        self.stale = False
        self.glue: dict[Key, Answer] = dict(glue) if glue else {}
        self.background: list[Question] = []  # asked later, for the driver to fold in
        self.folding = glue is not None
        self.branches: list[Branch] = []
        self.looked: list[Branch | None] = []
        self._speculative: list[tuple[dns.name.Name, _Task]] = []
        self._nxdomain: set[NameKey] = set()
        self._naptr_owners: set[NameKey] = set()
        self._naptrs_used = 0

    # -- questions ---------------------------------------------------------------------------

    def ask(
        self,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        network: bool = True,
        speculative: bool = False,
    ) -> Step[Asked]:
        """The answer at the end of any CNAME chain (at most ``limits.cname_chain`` hops),
        from what is known, this walk's glue or (when ``network``) the nameservers; and notes
        on the aliases seen. Without ``network``, an unknown answer is ``(None, ["?"])``."""
        notes: list[str] = []
        hops = 0
        while True:
            answer = self.known(name, rdtype) or self.glue.get((name_key(name), rdtype))
            if answer is None:
                if not network:
                    return None, ["?"]
                got = yield _Fetch(Question(name, rdtype, speculative))
                if isinstance(got, DnsError):
                    self.errors.append(str(got))
                    self.unanswered.setdefault(name, str(got))
                    self.note(str(got))
                    return None, notes
                answer = got
                self.learn(answer)
            self.record(answer)
            for alias, canonical in answer.cnames:
                notes.append(f"{text(alias)} is a CNAME for {text(canonical)}")
            hops += len(answer.cnames)
            if hops > self.limits.cname_chain:
                self.note(f"CNAME chain from {text(name)} longer than {self.limits.cname_chain}")
                return None, notes
            if not answer.chain_unfinished:
                return answer, notes
            name = answer.canonical

    def record(self, answer: Answer) -> None:
        """Put a question and its answer in the trace; count its TTL towards the chain's."""
        self.trace.append(query_entry(answer))
        self.trace.extend(Note(n) for n in answer.notes)
        self.answers.append(answer)
        if answer.ttl < self.ttl:
            self.ttl = answer.ttl
        if answer.source is Origin.STALE:
            self.stale = True
        if answer.nxdomain:
            self._nxdomain.add(name_key(answer.name))

    def learn(self, answer: Answer) -> None:
        """Keep the additional records this reply carries for names its own records point
        at (NAPTR -> SRV -> A/AAAA), for this walk only (RFC 2181 §5.4.1)."""
        if not answer.additional or answer.rrset is None:
            return
        extra = {
            (name_key(r.name), r.rdtype): r
            for r in answer.additional
            if r.rdclass == dns.rdataclass.IN
        }
        wanted: list[tuple[dns.name.Name, dns.rdatatype.RdataType]] = []
        for rd in answer.rrset:
            if isinstance(rd, dns.rdtypes.IN.NAPTR.NAPTR):
                wanted += [(rd.replacement, SRV), (rd.replacement, A), (rd.replacement, AAAA)]
            elif isinstance(rd, dns.rdtypes.IN.SRV.SRV):
                wanted += [(rd.target, A), (rd.target, AAAA)]
        for owner, rdtype in wanted:  # grows by SRV targets: bounded by the reply's records
            rrset = extra.pop((name_key(owner), rdtype), None)
            if rrset is None:
                continue
            ttl = self.limits.clamp_ttl(rrset.ttl)
            self.glue[(name_key(owner), rdtype)] = Answer(
                owner, rdtype, dns.rcode.NOERROR, rrset, ttl, Origin.ADDITIONAL, 0.0,
                answer.server,
            )  # fmt: skip
            if rdtype == SRV:
                wanted += [(rd.target, t) for rd in rrset for t in (A, AAAA)]

    def note(self, message: str) -> None:
        self.trace.append(Note(message))

    def drop_speculative(self, keep: Collection[NameKey] = ()) -> None:
        """Cancel the parallel SRV questions a NAPTR made moot (their replies go unread),
        except those for names in ``keep`` (the NAPTR records point there too)."""
        dropped = []
        for name, task in self._speculative:
            if not task.done and name_key(name) not in keep:
                self._cancel(task)
                dropped.append(text(name))
        if dropped:
            self.note(f"NAPTR records found: parallel SRV questions dropped ({', '.join(dropped)})")
        self._speculative = []

    def naptr_records(self, answer: Answer) -> list[Naptr]:
        """The NAPTR records of an answer, decoded; malformed ones skipped with a note, and
        no more than the walk's NAPTR budget (fan-out) and records-per-RRset allow."""
        out: list[Naptr] = []
        for rd in answer.records:
            try:
                out.append(decode_naptr(rd))
            except (UnicodeDecodeError, AttributeError, ValueError):
                self.note(f"malformed NAPTR at {text(answer.name)} skipped: {rd.to_text()!r}")
        out.sort(key=naptr_rank)
        keep = min(
            len(out),
            self.limits.rrset_records,
            max(0, self.limits.naptr_records - self._naptrs_used),
        )
        if keep < len(out):
            self.note(
                f"{len(out) - keep} NAPTR record(s) at {text(answer.name)} not used: at most "
                f"{self.limits.rrset_records} per RRset and {self.limits.naptr_records} per locate"
            )
        self._naptrs_used += keep
        return out[:keep]

    def usable_naptrs(self, records: list[Naptr]) -> list[tuple[Naptr, Transport]]:
        """RFC 3263 §4.1 filter (records arrive sorted by order and preference)."""
        usable: list[tuple[Naptr, Transport]] = []
        for rec in records:
            why = naptr_unusable(rec, self.uri.secure, self.transports)
            if why is not None:
                self.note(f"{rec}: {why}, ignored")
                continue
            if rec.regexp:
                self.note(f"{rec}: regexp ignored, SIP NAPTRs use the replacement (RFC 3263)")
            transport = service_transport(rec.service)
            assert transport is not None  # naptr_unusable said it names one
            usable.append((rec, transport))
        return usable

    def ask_later(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> None:
        """Ask one address family in the background; the chain is completed when it comes."""
        if any(q.name == name and q.rdtype == rdtype for q in self.background):
            return
        question = Question(name, rdtype)
        self.background.append(question)
        self._effects.append(AskLater(question))
        kind = dns.rdatatype.to_text(rdtype)
        self.note(
            f"{kind} for {text(name)} not known yet: asked in the background, the chain "
            "goes on with the other family (RFC 2782: use what the additional data gave)"
        )

    # -- helpers -----------------------------------------------------------------------------

    def may_fall_back(self, names: list[dns.name.Name | None]) -> bool:
        """RFC 3263 §4.2 falls back to A/AAAA when no SRV records *were found*; a question
        that got no answer at all (timeout, SERVFAIL, truncated over TCP) found nothing
        either way, so it is not a reason to try port 5060 on the domain's address."""
        failed = [text(n) for n in names if n is not None and n in self.unanswered]
        if failed:
            self.note(f"no answer for {', '.join(failed)}: no A/AAAA fallback (RFC 3263 §4.2)")
        return not failed

    def srv_name(self, transport: Transport, domain: dns.name.Name) -> dns.name.Name | None:
        """``_sip._udp.<domain>`` etc., or None (noted) when that would exceed 255 octets."""
        name = srv_name(transport, domain)
        if name is None:
            self.note(f"{transport}: SRV name for {text(domain)} would be too long: skipped")
        return name

    def choose_default(self, given: Transport | None) -> Transport:
        """The URI's transport, else UDP for sip and TLS for sips (RFC 3263 §4.1)."""
        transport, note = default_transport(given, self.uri.secure, self.transports, self.uri)
        if note:
            self.note(note)
        return transport

    def reason(self) -> str:
        """One line saying why nothing usable came out."""
        branches = self.branches
        host = self.uri.lookup_host
        if not self.uri.is_numeric and name_key(dns.name.from_text(host)) in self._nxdomain:
            return f"{host} does not exist (NXDOMAIN)"
        if branches and all(b.not_offered for b in branches):
            return f"{host} says SIP is not offered there (SRV target '.')"
        names = sorted({h.name for b in branches for h in b.hosts})
        if all(b.srv_name is None for b in branches):
            lead = "no usable NAPTR or SRV records, and "
            if self.mode is DnsMode.A:
                lead = "DNS mode a (no NAPTR or SRV asked): "
            elif self.uri.port:
                lead = ""
            return f"{lead}{', '.join(names or [host])} has no A/AAAA records"
        return f"no address for any target of {host}: {', '.join(names)} have no A/AAAA records"


class Rfc3263(WalkState):
    """One RFC 3263 resolution of ``uri`` for a client speaking ``transports``.

    ``start(now)`` and ``receive(question, answer)`` return the effects to apply; when
    ``done``, ``branches`` (and ``looked``, for the ``also`` questions) hold the result.
    ``known`` answers from what is already known (a cache's peek) without asking; ``glue``
    is additional data from an earlier walk of this URI (a fold: nothing more is asked in
    the background).
    """

    def _main(self) -> Step[None]:
        self.branches = yield from self.run()
        if self.also:
            self.looked = yield from self.gather([self.look(n, t) for n, t in self.also])

    def run(self) -> Step[list[Branch]]:
        sip = self.uri
        host = sip.lookup_host
        if self.mode is DnsMode.STATIC:
            listed = ", ".join(t.hostport for t in self.static)
            self.note(f"DNS mode static: configured addresses {listed}, no DNS")
            return static_branches(self.static)
        if sip.maddr:
            self.note(f"maddr={sip.maddr}: resolving it instead of {sip.host} (RFC 3263 §4)")
        if sip.is_numeric:
            transport = self.choose_default(sip.transport)
            port = sip.port or transport.default_port
            self.note(f"{host} is an IP address: no DNS; {transport} to port {port}")
            literal = Host.build(transport, Via.LITERAL, host, port, None, None, (host,))
            return [Branch.build(transport, Via.LITERAL, None, [literal])]
        name = dns.name.from_text(host)
        if sip.port is not None:
            transport = self.choose_default(sip.transport)
            self.note(f"explicit port {sip.port}: no NAPTR or SRV, A/AAAA only (RFC 3263 §4.2)")
            return [(yield from self.address_branch(transport, Via.A, name, sip.port))]
        if self.mode is DnsMode.A:
            transport = self.choose_default(sip.transport)
            self.note(
                f"DNS mode a: no NAPTR or SRV, A/AAAA for {host} with {transport} "
                f"port {transport.default_port}"
            )
            port = transport.default_port
            return [(yield from self.address_branch(transport, Via.A, name, port))]
        if sip.transport is not None:
            return (yield from self.given_transport(name))
        return (yield from self.naptr_or_srv(name))

    def given_transport(self, name: dns.name.Name) -> Step[list[Branch]]:
        """transport= in the URI: its SRV name, else the domain's A/AAAA (RFC 3263 §4.1)."""
        transport = self.choose_default(self.uri.transport)
        srv = self.srv_name(transport, name)
        branch = None
        if srv is not None:
            self.note(f"transport={transport} given: SRV {text(srv)}, else A/AAAA")
            branch = yield from self.srv_branch(transport, Via.SRV, srv)
        if branch is not None:
            return [branch]
        if not self.may_fall_back([srv]):
            return []
        port = transport.default_port
        self.note(f"no SRV records: A/AAAA for {self.uri.lookup_host}, port {port}")
        return [(yield from self.address_branch(transport, Via.A, name, transport.default_port))]

    def naptr_or_srv(self, name: dns.name.Name) -> Step[list[Branch]]:
        """NAPTR (in DnsMode.NAPTR), else the SRV names in fallback order, else A/AAAA."""
        fallback = [
            (t, n)
            for t in fallback_transports(self.transports, self.uri.secure)
            if (n := self.srv_name(t, name)) is not None
        ]
        # RFC 3263 §4.1 asks NAPTR first and SRV only when there is none; both are asked at
        # once so that a domain without NAPTR costs one round trip, not two.
        for _, n in fallback:
            task = yield _Spawn(self.ask(n, SRV, speculative=True))
            self._speculative.append((n, task))
        speculative = [task for _, task in self._speculative]
        branches = None
        if self.mode is DnsMode.NAPTR:
            try:
                branches = yield from self.naptr_branches(name, 0)
            finally:
                self._release()
        else:
            self._release()
            names = ", ".join(text(n) for _, n in fallback) or "none"
            self.note(f"DNS mode srv: NAPTR not asked; SRV for {names}")
        if branches is not None:
            return branches
        found = []
        asked: list[Asked] = yield _Join(tuple(speculative))
        for (transport, srv), got in zip(fallback, asked, strict=True):
            branch = yield from self.srv_branch(transport, Via.SRV, srv, None, got)
            if branch is not None:
                found.append(branch)
        if found:
            return found
        if not self.may_fall_back([name, *(n for _, n in fallback)]):
            return []
        transport = self.choose_default(None)
        self.note(
            f"no NAPTR or SRV records: A/AAAA for {self.uri.lookup_host} with {transport} "
            f"port {transport.default_port} (RFC 3263 §4.2)"
        )
        return [(yield from self.address_branch(transport, Via.A, name, transport.default_port))]

    def look(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> Step[Branch | None]:
        """Ask one more question for ``observe()``; an SRV name's targets are resolved too,
        and its branch returned (None: no SRV records there, or not an SRV question)."""
        if rdtype != SRV:
            yield from self.ask(name, rdtype)
            return None
        transport = srv_transport(name) or Transport.UDP
        return (yield from self.srv_branch(transport, Via.SRV, name))

    def naptr_branches(self, name: dns.name.Name, depth: int) -> Step[list[Branch] | None]:
        """Branches from the usable NAPTR records at ``name``, or None when there are none."""
        owner = name_key(name)
        if owner in self._naptr_owners:
            self.note(f"NAPTR at {text(name)} reached again: loop ignored")
            return []
        self._naptr_owners.add(owner)
        answer, _ = yield from self.ask(name, NAPTR)
        if answer is None or answer.rrset is None:
            return None
        usable = self.usable_naptrs(self.naptr_records(answer))
        if not usable:
            self.note(
                f"NAPTR records at {text(name)} but none usable by this client "
                f"({', '.join(t.value for t in self.transports)}): treated as no NAPTR"
            )
            return None
        if depth == 0 and self._speculative:
            glued = {k for k, t in self.glue if t == SRV}
            needed = {name_key(r.replacement_name) for r, _ in usable} - glued
            self.drop_speculative(keep=needed)
            self._release()
        jobs: list[Step[Branch | list[Branch] | None]] = []
        for rec, transport in usable:
            flag = rec.flags.lower()
            if flag == "s":
                jobs.append(self.srv_branch(transport, Via.NAPTR, rec.replacement_name, rec))
            elif flag == "a":
                port = transport.default_port
                jobs.append(
                    self.address_branch(transport, Via.NAPTR, rec.replacement_name, port, rec)
                )
            else:
                jobs.append(self.nested_naptr(rec, depth))
        branches: list[Branch] = []
        for result in (yield from self.gather(jobs)):
            if isinstance(result, Branch):
                branches.append(result)
            elif result:
                branches.extend(result)
        if not any(b.groups for b in branches):
            self.note("the NAPTR records lead to no usable SRV or address records")
        return branches

    def nested_naptr(self, rec: Naptr, depth: int) -> Step[list[Branch]]:
        if depth + 1 >= self.limits.naptr_depth:
            self.note(f"{rec}: non-terminal NAPTR chain deeper than {self.limits.naptr_depth}")
            return []
        self.note(f"{rec}: empty flag, next NAPTR lookup at {rec.replacement}")
        return (yield from self.naptr_branches(rec.replacement_name, depth + 1)) or []

    def srv_branch(
        self,
        transport: Transport,
        via: Via,
        name: dns.name.Name,
        naptr: Naptr | None = None,
        asked: Asked | None = None,
    ) -> Step[Branch | None]:
        """The hosts of one SRV name, each with its addresses; None when there are no SRV."""
        answer, notes = asked or (yield from self.ask(name, SRV))
        for n in notes:
            self.note(f"{n} (RFC 2782: SRV owner names should not be aliases)")
        if answer is None or answer.rrset is None:
            return None
        records = [r for r in answer.records if isinstance(r, dns.rdtypes.IN.SRV.SRV)]
        if len(records) == 1 and records[0].target == dns.name.root:
            self.note(
                f"SRV {text(name)} has the lone target '.': "
                f"{transport} service not offered there (RFC 2782)"
            )
            return Branch.build(transport, via, text(name), [], naptr, not_offered=True)
        real = [r for r in records if r.target != dns.name.root]
        if len(real) < len(records):
            self.note(f"SRV {text(name)} mixes '.' with real targets: '.' skipped")
        if len(real) > self.limits.rrset_records:
            real.sort(key=lambda r: (r.priority, -r.weight))
            self.note(
                f"SRV {text(name)} has {len(real)} records: the "
                f"{self.limits.rrset_records} most preferred used"
            )
            real = real[: self.limits.rrset_records]
        names = list(dict.fromkeys(rec.target for rec in real))
        found = dict(
            zip(names, (yield from self.gather([self.addresses(n) for n in names])), strict=True)
        )
        hosts = []
        for rec in real:
            addresses, host_notes = found[rec.target]
            hosts.append(
                Host.build(
                    transport,
                    via,
                    text(rec.target),
                    rec.port,
                    rec.priority,
                    rec.weight,
                    addresses,
                    tuple(host_notes),
                )
            )
        return Branch.build(transport, via, text(name), hosts, naptr)

    def address_branch(
        self,
        transport: Transport,
        via: Via,
        name: dns.name.Name,
        port: int,
        naptr: Naptr | None = None,
    ) -> Step[Branch]:
        addresses, notes = yield from self.addresses(name, srv_target=False)
        host = Host.build(transport, via, text(name), port, None, None, addresses, tuple(notes))
        return Branch.build(transport, via, None, [host], naptr)

    def addresses(
        self, name: dns.name.Name, srv_target: bool = True
    ) -> Step[tuple[tuple[str, ...], list[str]]]:
        """A and AAAA of ``name``, interleaved IPv6-first per RFC 8305 (at most
        ``limits.addresses_per_target``). When the cache or this walk's glue has one family
        and not the other, the walk goes on with the one it has and asks the other in the
        background; with neither, both are asked together and awaited."""
        results = {}
        for rdtype in (AAAA, A):
            results[rdtype] = yield from self.ask(name, rdtype, network=False)  # at once
        missing = [t for t, (_, n) in results.items() if n == ["?"]]
        have = any(a is not None and a.rrset for a, _ in results.values())
        if missing and have and not self.folding:
            self.ask_later(name, missing[0])
        elif missing:  # nothing to go on with: ask and wait
            asked = yield from self.gather([self.ask(name, t) for t in missing])
            results.update(zip(missing, asked, strict=True))
        (v6, notes6), (v4, notes4) = results[AAAA], results[A]
        notes = list(dict.fromkeys(n for n in notes6 + notes4 if n != "?"))
        if notes and srv_target:
            notes = [f"{n}: RFC 2782 says SRV targets must not be aliases" for n in notes]
        for n in notes:
            self.note(n)
        six = [r.to_text() for r in v6.records if r.rdtype == AAAA] if v6 else []
        four = [r.to_text() for r in v4.records if r.rdtype == A] if v4 else []
        merged = interleave(six, four)
        if len(merged) > self.limits.addresses_per_target:
            self.note(
                f"{text(name)} has {len(merged)} addresses: the first "
                f"{self.limits.addresses_per_target} used"
            )
            merged = merged[: self.limits.addresses_per_target]
        if not merged:
            self.note(f"{text(name)} has no A or AAAA records: skipped")
            notes.append("no A/AAAA records: skipped")
        return tuple(merged), notes


def static_branches(static: Sequence[Target]) -> list[Branch]:
    """DnsMode.STATIC: the configured addresses, primary first, one branch each so the
    order stays as configured (no DNS, no weighted shuffle)."""
    return [
        Branch.build(
            t.transport,
            Via.LITERAL,
            None,
            [Host.build(t.transport, Via.LITERAL, t.host, t.port, None, None, (t.address,))],
        )
        for t in static
    ]


def _joined(tasks: tuple[_Task, ...]) -> tuple[Any, BaseException | None]:
    """What a join of finished tasks gives: their results, or the first error."""
    for t in tasks:
        if t.error is not None:
            return None, t.error
    return [t.result for t in tasks], None


def query_entry(answer: Answer) -> Query:
    """An answer as a trace entry."""
    return Query(
        answer.name,
        answer.rdtype,
        answer.source.value,
        answer.latency * 1000,
        answer.rcode,
        answer.ttl,
        tuple(answer.rrset) if answer.rrset is not None else (),
        "" if answer.rrset is not None else answer.describe(),
        answer.server,
    )
