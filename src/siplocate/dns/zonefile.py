"""Answers straight from zone files, in-process: offline checks, demos and tests.

A zone file is read once into an index (owner name -> records, with each record's file and
line), so every lookup is a dictionary hit, even for NXDOMAIN, empty non-terminals and RFC 4592
wildcards. Record data is checked as the file is read, but turned into dnspython rdata only
when a lookup asks for it: a 100,000-record zone loads in a fraction of what a full parse costs.

The reader accepts what BIND accepts: ``$ORIGIN``, ``$TTL``, ``$INCLUDE`` (relative to the
including file), ``$GENERATE``, parentheses, quoted strings, TTL units, any bytes in comments
and data (Latin-1 as well as UTF-8). It reports every bad line with BIND's line number and
goes on, so one typo does not hide the next.
"""

from __future__ import annotations

import gc
import os
import re
import socket
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import dns.exception
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rdtypes.ANY.CNAME
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.rdtypes.IN.SRV
import dns.rrset
import dns.ttl

from ..errors import BadInput, DnsError
from .source import MAX_CNAME_CHAIN, Answer, Origin

if TYPE_CHECKING:
    import asyncio

MAX_ZONE_BYTES = 512 * 1024 * 1024  # a zone (with its includes) larger than this is refused
MAX_INCLUDE_DEPTH = 8  # $INCLUDE nesting (BIND's own bound is similar); also stops loops
MAX_GENERATE = 65536  # records one $GENERATE line may make
MAX_PROBLEMS = 1000  # bad lines reported per zone; the rest are counted

IN = dns.rdataclass.IN
SOA = dns.rdatatype.SOA
CNAME = dns.rdatatype.CNAME
A = dns.rdatatype.A
AAAA = dns.rdatatype.AAAA
TXT = dns.rdatatype.TXT
ROOT = dns.name.root
SRV = dns.rdatatype.SRV
_inet_pton = socket.inet_pton
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6

_CLASSES = {"IN", "CH", "HS", "CS", "ANY", "NONE"}
_PLAIN = re.compile(r"[^\s\"();\\@$]+\Z")  # a token whose text is its canonical name text
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[()]|;.*|(?:[^\s"();\\]|\\.)+', re.S)
_GEN_MOD = re.compile(r"\$(\$|\{(-?\d+)(?:,(\d+))?(?:,([doxX]))?\}|)")


@dataclass(frozen=True, slots=True)
class ZoneProblem:
    """A line the reader could not take, or a zone-level fault (no SOA, data out of zone).

    ``kind``: syntax, missing-field (``rdtype`` lacks fields: ``fields`` values given),
    no-soa, out-of-zone, cname-and-other, soa-not-at-top. ``line`` is None for zone-level faults.
    """

    file: str
    line: int | None
    message: str
    kind: str = "syntax"
    text: str = ""
    rdtype: str | None = None
    fields: int | None = None

    @property
    def fatal(self) -> bool:
        """Whether a server would refuse to load the zone for it (BIND's verdict)."""
        return self.kind != "out-of-zone"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.message}"


# One record as read: (rdtype, ttl, rdata text, line, origin for relative names, file index).
_Record = tuple[int, int, str, int, dns.name.Name, int]


def _name_key(name: dns.name.Name) -> str:
    """The index key of a name: its presentation text, ASCII-lower-cased, absolute."""
    return name.to_text().lower()


@dataclass
class IndexedZone:
    """One zone read from its file(s): records by owner, with where each came from."""

    origin: dns.name.Name
    files: list[str]
    nodes: dict[str, list[_Record]] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)  # owners and empty non-terminals
    problems: list[ZoneProblem] = field(default_factory=list)
    _cache: dict[tuple[str, int], dns.rdataset.Rdataset | None] = field(default_factory=dict)

    @property
    def origin_key(self) -> str:
        return _name_key(self.origin)

    def __len__(self) -> int:
        return sum(len(recs) for recs in self.nodes.values())

    def exists(self, key: str) -> bool:
        """Whether the name exists (has records, or is an empty non-terminal)."""
        return key in self.names

    def rdatas(self, key: str, rdtype: int) -> list[tuple[dns.rdata.Rdata, int, int]]:
        """(rdata, line, file index) of one RRset, in file order, duplicates dropped."""
        out: list[tuple[dns.rdata.Rdata, int, int]] = []
        seen: set[str] = set()
        for rt, _ttl, text, line, origin, fidx in self.nodes.get(key, ()):
            if rt != rdtype or text in seen:
                continue
            seen.add(text)
            try:
                rd = _make_rdata(rt, text, origin)
            except (dns.exception.DNSException, ValueError):
                continue  # already reported when the file was read
            out.append((rd, line, fidx))
        return out

    def rdataset(self, key: str, rdtype: int) -> dns.rdataset.Rdataset | None:
        """The RRset at ``key`` (an index key), built on first use and kept."""
        cached = self._cache.get((key, rdtype), False)
        if cached is not False:
            return cached  # type: ignore[return-value]
        rds = self.rdatas(key, rdtype)
        result = None
        if rds:
            ttl = min(r[1] for r in self.nodes[key] if r[0] == rdtype)
            result = dns.rdataset.Rdataset(IN, dns.rdatatype.RdataType.make(rdtype))
            for rd, _line, _fidx in rds:
                result.add(rd, ttl)
        self._cache[(key, rdtype)] = result
        return result

    def get_rdataset(
        self, name: dns.name.Name | str, rdtype: dns.rdatatype.RdataType
    ) -> dns.rdataset.Rdataset | None:
        """dnspython-style access by name (absolute, or relative to the origin)."""
        if isinstance(name, str):
            name = dns.name.from_text(name, self.origin)
        return self.rdataset(_name_key(name), rdtype)

    def rdtypes(self, key: str) -> set[int]:
        return {r[0] for r in self.nodes.get(key, ())}

    def where(
        self, name: dns.name.Name, rdtype: int | None = None, rdata: dns.rdata.Rdata | None = None
    ) -> tuple[str, int] | None:
        """(file, line) of a record (or the first of an RRset, or of a name) in this zone;
        a name a wildcard answers for is placed at the wildcard."""
        key = _find_node(self, name)[0] or _name_key(name)
        records = [r for r in self.nodes.get(key, ()) if rdtype is None or r[0] == rdtype]
        if not records:
            return None
        if rdata is not None and rdtype is not None:
            for rd, line, fidx in self.rdatas(key, rdtype):
                if rd == rdata:
                    return self.files[fidx], line
        first = min(records, key=lambda r: (r[5], r[3]))
        return self.files[first[5]], first[3]

    def negative_ttl(self) -> int:
        soa = self.rdataset(self.origin_key, SOA)
        if soa is None:
            return 0
        return int(min(soa.ttl, next(iter(soa)).minimum))


# --------------------------------------------------------------------------- the reader


class _Problems:
    """The problems found in one zone: at most MAX_PROBLEMS of them, the rest only counted."""

    def __init__(self, files: list[str]) -> None:
        self.files = files  # names by file index, shared with the reader
        self.found: list[ZoneProblem] = []
        self.dropped = 0

    def add(self, fidx: int, line: int | None, message: str, **kw: object) -> None:
        if len(self.found) >= MAX_PROBLEMS:
            self.dropped += 1
            return
        self.found.append(ZoneProblem(self.files[fidx], line, message, **kw))  # type: ignore[arg-type]

    def in_order(self) -> list[ZoneProblem]:
        """Every problem by file (in reading order) and line, zone-level faults last."""
        if self.dropped:  # past the cap by definition: appended, not added
            self.found.append(ZoneProblem(self.files[0], None, f"{self.dropped} more problems "
                                          "not shown"))  # fmt: skip
        order = {name: i for i, name in enumerate(self.files)}
        self.found.sort(key=lambda p: (p.line is None, order.get(p.file, 0), p.line or 0))
        return self.found


class _ZoneFiles:
    """The files of one zone, by index, and their bytes so far (bounded by MAX_ZONE_BYTES)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.problems = _Problems(self.names)
        self.total = 0

    def add(self, path: Path) -> int:
        """The index of a file about to be parsed (records and problems point to it)."""
        self.names.append(str(path))
        return len(self.names) - 1

    def read(self, path: Path, fidx_from: int | None, line: int | None) -> str | None:
        """The text of a zone file; an unreadable $INCLUDE (``fidx_from``:``line``) is a
        problem and None, an unreadable top file or a zone over the size bound is BadInput."""
        try:
            st = os.stat(path)
            if stat.S_ISDIR(st.st_mode) or stat.S_ISFIFO(st.st_mode) or stat.S_ISSOCK(st.st_mode):
                raise BadInput(f"zone file {path}: not a regular file")
            with open(path, "rb") as f:
                data = f.read(MAX_ZONE_BYTES - self.total + 1)
        except OSError as exc:
            if fidx_from is None:
                raise BadInput(f"cannot read zone file {path}: {exc.strerror or exc}") from None
            self.problems.add(fidx_from, line, f"$INCLUDE {path}: {exc.strerror or exc}")
            return None
        self.total += len(data)
        if self.total > MAX_ZONE_BYTES:
            raise BadInput(f"zone file {path}: larger than {MAX_ZONE_BYTES >> 20} MiB")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("latin-1")  # BIND takes bytes: any byte is some character


class _Records:
    """Turns an owner and a record line's tokens into index entries: BIND's TTL, class and
    type rules, record data checked as read."""

    def __init__(self, origin: dns.name.Name | None, problems: _Problems) -> None:
        self.zone_origin = origin  # the SOA owner when not given
        self.problems = problems
        self.nodes: dict[str, list[_Record]] = {}
        self.default_ttl: int | None = None  # $TTL
        self.last_ttl: int | None = None
        self.type_cache: dict[str, int] = {}
        self._okey: tuple[dns.name.Name | None, str] = (None, ".")
        self.soa_owners: list[tuple[str, int, int]] = []  # (owner, line, file) of each SOA

    def owner_key(
        self, token: str, origin: dns.name.Name | None, fidx: int, number: int, raw: str
    ) -> str | None:
        """The index key of an owner name token, or None (reported) when it is not one."""
        if origin is not None and origin is not self._okey[0]:
            self._okey = (origin, _name_key(origin))
        if token == "@":
            if origin is None:
                self.problems.add(fidx, number, "'@' but no $ORIGIN (add $ORIGIN or give "
                                  "--origin)", text=raw.strip())  # fmt: skip
                return None
            return _name_key(origin)
        if origin is None and not token.endswith("."):
            self.problems.add(fidx, number, f"relative name '{token}' but no $ORIGIN (add "
                              "$ORIGIN or give --origin)", text=raw.strip())  # fmt: skip
            return None
        if token.isascii() and _PLAIN.match(token) and ".." not in token and token[0] != ".":
            okey = self._okey[1] if origin is not None else "."
            if token.endswith("."):
                key = token
            else:
                key = f"{token}.{okey}" if okey != "." else f"{token}."
            if len(key) <= 64 or (
                len(key) <= 255 and all(len(label) <= 63 for label in key.split("."))
            ):
                return key.lower()
        try:
            raw_token = token.encode("latin-1", errors="surrogateescape")
        except UnicodeEncodeError:
            raw_token = token.encode("utf-8")
        try:
            return _name_key(dns.name.from_text(raw_token, origin))
        except dns.exception.DNSException as exc:
            self.problems.add(fidx, number, f"bad owner name '{token}': {_why(exc)}",
                              text=raw.strip())  # fmt: skip
            return None

    def record(
        self,
        fidx: int,
        number: int,
        owner: str,
        tokens: list[str],
        origin: dns.name.Name | None,
        raw: str,
    ) -> None:
        """Index one record (``tokens``: [ttl] [class] type data), or report why not."""
        ttl: int | None = None
        j = 0
        count = len(tokens)
        while j < count and j < 2:  # [ttl] [class] in either order
            tok = tokens[j]
            if tok == "IN" or tok == "in":
                j += 1
            elif "0" <= tok[0] <= "9":
                try:
                    ttl = int(tok) if tok.isdigit() else dns.ttl.from_text(tok)
                except (dns.exception.DNSException, ValueError):
                    self.problems.add(fidx, number, f"bad TTL '{tok}'", text=raw.strip())
                    return
                j += 1
            elif tok.upper() in _CLASSES:
                if tok.upper() != "IN":
                    self.problems.add(fidx, number, f"class {tok.upper()}: only IN zones are "
                                      "served here", text=raw.strip())  # fmt: skip
                    return
                j += 1
            else:
                break
        if j >= len(tokens):
            self.problems.add(fidx, number, "unexpected end of input (no record type)",
                              text=raw.strip())  # fmt: skip
            return
        type_text = tokens[j]
        rdtype = self.type_cache.get(type_text)
        if rdtype is None:
            try:
                rdtype = int(dns.rdatatype.from_text(type_text))
            except (dns.exception.DNSException, ValueError):
                self.problems.add(fidx, number, f"unknown RR type '{type_text}'",
                                  text=raw.strip())  # fmt: skip
                return
            self.type_cache[type_text] = rdtype
        data = tokens[j + 1 :]
        error = _check_rdata(rdtype, data, origin)
        if error is not None:
            kind, message, fields = error
            self.problems.add(fidx, number, message, kind=kind, text=raw.strip(),
                              rdtype=_type_text(rdtype), fields=fields)  # fmt: skip
            return
        text = " ".join(data)
        if ttl is None:
            if self.default_ttl is not None:
                ttl = self.default_ttl
            elif rdtype == SOA and len(data) == 7:
                ttl = dns.ttl.from_text(data[6])
            elif self.last_ttl is not None:
                ttl = self.last_ttl
            else:
                self.problems.add(fidx, number, "no TTL specified and no $TTL before it",
                                  text=raw.strip())  # fmt: skip
                return
        else:
            self.last_ttl = ttl
        if rdtype == SOA:
            self.soa_owners.append((owner, number, fidx))
            if self.zone_origin is None:
                self.zone_origin = dns.name.from_text(owner)
        rec: _Record = (rdtype, ttl, text, number, origin if origin is not None else ROOT, fidx)
        node = self.nodes.get(owner)
        if node is None:
            self.nodes[owner] = [rec]
        else:
            node.append(rec)


class _Reader:
    """Reads one zone (a file and its includes) into an IndexedZone; BIND's rules, BIND's lines.

    This part splits lines into tokens and runs the directives; ``_Records`` takes the
    record lines, ``_ZoneFiles`` the file bookkeeping, ``_index_zone`` the zone-level checks.
    """

    def __init__(self, origin: dns.name.Name | None) -> None:
        self.files = _ZoneFiles()
        self.problems = self.files.problems
        self.records = _Records(origin, self.problems)
        self.first_origin: dns.name.Name | None = None  # the zone's origin without an SOA

    def parse(self, path: Path, text: str, origin: dns.name.Name | None, depth: int) -> None:
        """Read the lines of one file (``depth``: its $INCLUDE nesting) into the index."""
        fidx = self.files.add(path)
        problem = self.problems.add
        records = self.records
        lines = text.split("\n")
        count = len(lines)
        owner: str | None = None
        i = 0
        while i < count:
            raw = lines[i]
            number = i + 1
            i += 1
            if "(" in raw or "\\" in raw:
                tokens, i, error = _slow_tokens(lines, i - 1)
                if error:
                    problem(fidx, number, error, text=raw.strip())
                    continue
            elif '"' in raw:
                tokens, error = _quoted_tokens(raw)
                if error:
                    problem(fidx, number, error, text=raw.strip())
                    continue
            else:
                tokens = raw.partition(";")[0].split()
            if not tokens:
                continue
            first = tokens[0]
            if first[0] == "$" and not raw[:1].isspace():
                origin = self.directive(path, fidx, number, tokens, origin, depth)
                continue
            if raw[:1] in (" ", "\t"):
                if owner is None:
                    problem(fidx, number, "no current owner name", text=raw.strip())
                    continue
                rest = tokens
            else:
                key = records.owner_key(first, origin, fidx, number, raw)
                if key is None:
                    owner = None
                    continue
                owner = key
                rest = tokens[1:]
            records.record(fidx, number, owner, rest, origin, raw)

    def directive(
        self,
        path: Path,
        fidx: int,
        number: int,
        tokens: list[str],
        origin: dns.name.Name | None,
        depth: int,
    ) -> dns.name.Name | None:
        """Run $ORIGIN, $TTL, $INCLUDE or $GENERATE; the origin for the lines after it."""
        word = tokens[0].upper()
        args = tokens[1:]
        try:
            if word == "$ORIGIN" and len(args) == 1:
                new = dns.name.from_text(args[0], origin)
                if not new.is_absolute():
                    raise ValueError("$ORIGIN is not absolute")
                if self.first_origin is None:
                    self.first_origin = new
                return new
            if word == "$TTL" and len(args) == 1:
                self.records.default_ttl = dns.ttl.from_text(args[0])
                return origin
            if word == "$INCLUDE" and 1 <= len(args) <= 2:
                self.include(path, fidx, number, args, origin, depth)
                return origin  # BIND: the includer's origin is restored afterwards
            if word == "$GENERATE" and len(args) >= 4:
                self.generate(fidx, number, args, origin)
                return origin
        except (dns.exception.DNSException, ValueError) as exc:
            self.problems.add(fidx, number, f"{tokens[0]}: {_why(exc)}", text=" ".join(tokens))
            return origin
        self.problems.add(fidx, number, f"{tokens[0]}: unknown directive or wrong arguments",
                          text=" ".join(tokens))  # fmt: skip
        return origin

    def include(
        self,
        path: Path,
        fidx: int,
        number: int,
        args: list[str],
        origin: dns.name.Name | None,
        depth: int,
    ) -> None:
        """$INCLUDE file [origin]: the file is relative to the including file's directory."""
        if depth + 1 > MAX_INCLUDE_DEPTH:
            self.problems.add(fidx, number, f"$INCLUDE nested deeper than {MAX_INCLUDE_DEPTH}")
            return
        target = Path(args[0].strip('"'))
        if not target.is_absolute():
            target = path.parent / target
        sub_origin = dns.name.from_text(args[1], origin) if len(args) == 2 else origin
        text = self.files.read(target, fidx, number)
        if text is not None:
            self.parse(target, text, sub_origin, depth + 1)

    def generate(
        self, fidx: int, number: int, args: list[str], origin: dns.name.Name | None
    ) -> None:
        """$GENERATE start-stop[/step] lhs [ttl] [class] type rhs (BIND's form)."""
        numbers = _generate_range(args)
        lhs, middle, rhs = args[1], args[2:-1], args[-1]
        for n in numbers:
            key = self.records.owner_key(_substitute(lhs, n), origin, fidx, number, lhs)
            if key is None:
                return
            self.records.record(fidx, number, key, [*middle, _substitute(rhs, n)], origin,
                                " ".join(args))  # fmt: skip

    def finish(self) -> IndexedZone:
        """The zone as read, with its zone-level faults added to the problems."""
        records, problems = self.records, self.problems
        origin = records.zone_origin
        if origin is None:
            origin = self.first_origin or dns.name.root
            if records.nodes or problems.found:
                problems.add(0, None, f"no SOA record: no server loads a zone without one "
                             f"(add `@ IN SOA ...` at {origin})", kind="no-soa")  # fmt: skip
            else:
                problems.add(0, None, "nothing in zone: no records at all (an empty file?)",
                             kind="no-soa")  # fmt: skip
        names = _index_names(records.nodes, origin, problems)
        _check_zone(records, origin, problems)
        return IndexedZone(origin, self.files.names, records.nodes, names, problems.in_order())


def _generate_range(args: list[str]) -> range:
    """The numbers of a $GENERATE line, after checking its range and ${...} modifiers."""
    match = re.fullmatch(r"(\d+)-(\d+)(?:/(\d+))?", args[0])
    if match is None:
        raise ValueError(f"bad range {args[0]!r}")
    start, stop, step = int(match[1]), int(match[2]), int(match[3] or 1)
    if stop < start or step < 1 or (stop - start) // step + 1 > MAX_GENERATE:
        raise ValueError(f"range {args[0]} is empty or makes more than {MAX_GENERATE} records")
    for field_text in (args[1], args[-1]):
        for mod in re.findall(r"\$\{([^}]*)\}", field_text):
            if not re.fullmatch(r"-?\d+(?:,\d+(?:,[doxX])?)?", mod):
                raise ValueError(f"${{{mod}}}: only ${{offset,width,base}} with base "
                                 "d, o, x or X is supported")  # fmt: skip
    return range(start, stop + 1, step)


def _index_names(
    nodes: dict[str, list[_Record]], origin: dns.name.Name, problems: _Problems
) -> set[str]:
    """The names that exist in the zone (owners and empty non-terminals); owners outside
    it are dropped from ``nodes`` and reported, as servers ignore them."""
    okey = _name_key(origin)
    suffix = "." + okey if okey != "." else ""
    names: set[str] = set()
    outside: list[str] = []
    for key in nodes:
        if key == okey or (suffix and key.endswith(suffix)) or (not suffix and key != "."):
            names.add(key)
            if "\\" in key:
                parent = dns.name.from_text(key).parent()
                while parent != origin and parent.is_subdomain(origin):
                    pk = _name_key(parent)
                    if pk in names:
                        break
                    names.add(pk)
                    parent = parent.parent()
                continue
            k = key
            while len(k) > len(okey):
                k = k.partition(".")[2] or "."
                if k in names:
                    break
                names.add(k)
        else:
            outside.append(key)
    for key in outside:
        recs = nodes.pop(key)
        first = recs[0]
        problems.add(first[5], first[3], f"{key} is outside the zone {okey}: servers ignore "
                     "this record (out-of-zone data)", kind="out-of-zone")  # fmt: skip
    return names


def _check_zone(records: _Records, origin: dns.name.Name, problems: _Problems) -> None:
    """The faults that stop a server loading the zone: SOA missing or not at the top, a
    CNAME beside other data."""
    okey = _name_key(origin)
    nodes = records.nodes
    if records.zone_origin is not None:
        soa = [r for r in nodes.get(okey, ()) if r[0] == SOA]
        if not soa:
            problems.add(0, None, f"no SOA record at the zone's origin {okey}", kind="no-soa")
    for owner, number, fidx in records.soa_owners:
        if owner != okey and owner in nodes:  # out-of-zone owners are reported above
            problems.add(fidx, number, f"SOA record not at top of zone ({owner}): the zone "
                         "does not load", kind="soa-not-at-top")  # fmt: skip
    for key, recs in nodes.items():
        types = {r[0] for r in recs}
        if CNAME in types and len(types - {CNAME, dns.rdatatype.RRSIG, dns.rdatatype.NSEC}):
            first = next(r for r in recs if r[0] == CNAME)
            problems.add(first[5], first[3], f"{key} has a CNAME and other data: the zone "
                         "does not load (RFC 1034 §3.6.2)", kind="cname-and-other")  # fmt: skip


def _make_rdata(rdtype: int, text: str, origin: dns.name.Name) -> dns.rdata.Rdata:
    """Rdata from checked record text: the common types built directly (about three times
    faster than dnspython's tokenizer), the others through ``dns.rdata.from_text``."""
    if rdtype == A:
        return dns.rdtypes.IN.A.A(IN, A, text)  # type: ignore[no-untyped-call]
    if rdtype == AAAA:
        return dns.rdtypes.IN.AAAA.AAAA(IN, AAAA, text)  # type: ignore[no-untyped-call]
    if rdtype == SRV and "\\" not in text:
        priority, weight, port, target = text.split()
        name = dns.name.from_text(target, origin)
        return dns.rdtypes.IN.SRV.SRV(IN, SRV, int(priority), int(weight), int(port), name)  # type: ignore[no-untyped-call]
    if rdtype == CNAME and "\\" not in text:
        return dns.rdtypes.ANY.CNAME.CNAME(IN, CNAME, dns.name.from_text(text.strip(), origin))  # type: ignore[no-untyped-call]
    return dns.rdata.from_text(IN, _rdtype(rdtype), text, origin=origin, relativize=False)


def _rdtype(value: int) -> dns.rdatatype.RdataType:
    return dns.rdatatype.RdataType.make(value)


def _type_text(value: int) -> str:
    return dns.rdatatype.to_text(_rdtype(value))


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[0].lower() + text[1:] if text else text


def _slow_tokens(lines: list[str], i: int) -> tuple[list[str], int, str | None]:
    """Tokens of the record starting at ``lines[i]``, across ``( ... )``; (tokens, next, error)."""
    tokens: list[str] = []
    depth = 0
    start = i
    while i < len(lines):
        line = lines[i]
        i += 1
        pos = 0
        for m in _TOKEN.finditer(line):
            tok = m.group()
            if line[pos : m.start()].strip():
                return [], i, "unbalanced quotes"
            pos = m.end()
            if tok[0] == ";":
                break
            if tok == "(":
                depth += 1
            elif tok == ")":
                depth -= 1
                if depth < 0:
                    return [], i, "unbalanced parentheses"
            else:
                tokens.append(tok)
        else:
            if line[pos:].strip():
                return [], i, "unbalanced quotes"
        if depth == 0:
            return tokens, i, None
        if i - start > 1000:
            break
    return [], i, "unbalanced parentheses (no closing ')')"


_QUOTED = re.compile(r'"[^"]*"|;.*|[^\s";]+')


def _quoted_tokens(line: str) -> tuple[list[str], str | None]:
    """Tokens of a one-line record with quotes but no parentheses or escapes."""
    tokens = _QUOTED.findall(line)
    for n, tok in enumerate(tokens):
        if tok[0] == ";":
            del tokens[n:]
            break
    if '"' in _QUOTED.sub(" ", line):
        return [], "unbalanced quotes"
    return tokens, None


def _substitute(template: str, n: int) -> str:
    """$GENERATE's $ / ${offset,width,base} / $$ in one field."""

    def one(m: re.Match[str]) -> str:
        if m.group(1) == "$":
            return "$"
        value = n + int(m.group(2) or 0)
        width = int(m.group(3) or 0)
        base = m.group(4) or "d"
        return format(value, f"0{width}{base}")

    return _GEN_MOD.sub(one, template)


def _is_name(token: str) -> bool:
    """A cheap, exact-enough check that a token is a domain name (labels <= 63, name <= 255)."""
    if token == "@" or token == ".":
        return True
    if len(token) <= 63 and token.isascii() and "\\" not in token and ".." not in token:
        return token[0] != "."
    if token.isascii() and "\\" not in token:
        body = token[:-1] if token.endswith(".") else token
        return bool(body) and len(token) <= 255 and all(0 < len(x) <= 63 for x in body.split("."))
    try:
        dns.name.from_text(token.encode("latin-1", errors="replace"), dns.name.root)
    except dns.exception.DNSException:
        return False
    return True


_SIMPLE_FIELDS: dict[int, tuple[str, ...]] = {
    dns.rdatatype.SRV: ("u16", "u16", "u16", "name"),
    dns.rdatatype.MX: ("u16", "name"),
    dns.rdatatype.CNAME: ("name",),
    dns.rdatatype.NS: ("name",),
    dns.rdatatype.PTR: ("name",),
    dns.rdatatype.DNAME: ("name",),
}
_FIELD_NAMES: dict[int, str] = {
    dns.rdatatype.SRV: "priority, weight, port and target",
    dns.rdatatype.NAPTR: "order, preference, flags, service, regexp and replacement",
}
_NEEDED: dict[int, int] = {dns.rdatatype.SRV: 4, dns.rdatatype.NAPTR: 6}


def _check_rdata(
    rdtype: int, data: list[str], origin: dns.name.Name | None
) -> tuple[str, str, int | None] | None:
    """None if the record data is valid, else (kind, BIND-like message, fields given)."""
    if rdtype == A:
        if len(data) == 1:
            try:
                _inet_pton(_AF_INET, data[0])
                return None
            except (OSError, ValueError):  # ValueError: a NUL in the text
                return "syntax", f"near '{data[0]}': bad dotted quad", None
        return "syntax", _count_message(len(data), 1), None
    if rdtype == AAAA:
        if len(data) == 1:
            try:
                _inet_pton(_AF_INET6, data[0])
                return None
            except (OSError, ValueError):  # ValueError: a NUL in the text
                return "syntax", f"near '{data[0]}': bad IPv6 address", None
        return "syntax", _count_message(len(data), 1), None
    if rdtype == TXT:
        return None if data else ("syntax", "near eol: unexpected end of input", None)
    needed = _NEEDED.get(rdtype)
    if needed is not None and len(data) < needed:
        what = _FIELD_NAMES[rdtype]
        return "missing-field", f"{_type_text(rdtype)} needs {what}", len(data)
    fields = _SIMPLE_FIELDS.get(rdtype)
    if fields is not None:
        if len(data) != len(fields):
            return "syntax", _count_message(len(data), len(fields)), None
        for kind, tok in zip(fields, data, strict=True):
            if kind == "u16":
                if not (tok.isascii() and tok.isdigit() and int(tok) <= 65535):
                    return "syntax", f"near '{tok}': not a valid number", None
            elif not _is_name(tok):
                return "syntax", f"near '{tok}': bad name", None
        if origin is None and not data[-1].endswith("."):
            return "syntax", f"relative name '{data[-1]}' but no $ORIGIN", None
        return None
    try:
        dns.rdata.from_text(
            IN,
            _rdtype(rdtype),
            " ".join(data),
            origin=origin,
            relativize=False,
        )
    except (dns.exception.DNSException, ValueError) as exc:
        return "syntax", _why(exc), None
    return None


def _count_message(have: int, want: int) -> str:
    return "near eol: unexpected end of input" if have < want else "extra input text"


def load_zone(path: Path | str, origin: str | dns.name.Name | None = None) -> IndexedZone:
    """Read one zone file (and its $INCLUDEs) into an index; problems are kept, not raised.

    The origin is ``origin`` when given, else the owner of the SOA record (as written, or
    after the file's ``$ORIGIN``); never the file's name. Raises BadInput only when the file
    cannot be read at all.
    """
    path = Path(path)
    base = dns.name.from_text(origin) if isinstance(origin, str) else origin
    reader = _Reader(base)
    text = reader.files.read(path, None, None)
    assert text is not None
    # Millions of small tuples and no cycles: the cyclic collector would rescan the growing
    # index again and again (most of the time on a 1.5M-record zone), so it waits.
    collecting = gc.isenabled()
    gc.disable()
    try:
        reader.parse(path, text, base, 0)
        return reader.finish()
    finally:
        if collecting:
            gc.enable()


def load_zone_strict(path: Path | str, origin: str | None = None) -> IndexedZone:
    """``load_zone``, raising BadInput (file:line: what) when a server would refuse the zone."""
    zone = load_zone(path, origin)
    fatal = [p for p in zone.problems if p.fatal]
    if fatal:
        more = f" (and {len(fatal) - 1} more)" if len(fatal) > 1 else ""
        raise BadInput(f"zone file {fatal[0]}{more}")
    return zone


class ZoneSource:
    """A DnsSource over zone files, answering as their authoritative server would."""

    def __init__(self, zones: Iterable[IndexedZone | Path | str]) -> None:
        self.zones: list[IndexedZone] = [
            z if isinstance(z, IndexedZone) else load_zone_strict(z) for z in zones
        ]
        # Longest origin first, so the most specific zone answers.
        self.zones.sort(key=lambda z: len(z.origin), reverse=True)

    def zone_for(self, name: dns.name.Name) -> IndexedZone | None:
        for zone in self.zones:
            if name.is_subdomain(zone.origin):
                return zone
        return None

    def where(
        self, name: dns.name.Name, rdtype: int | None = None, rdata: dns.rdata.Rdata | None = None
    ) -> tuple[str, int] | None:
        """(file, line) where a record, an RRset or a name is written, if in these zones."""
        zone = self.zone_for(name)
        return zone.where(name, rdtype, rdata) if zone is not None else None

    async def answer(
        self,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        defer: asyncio.Event | None = None,
    ) -> Answer:
        return self.lookup(name, rdtype)  # no reply to parse: nothing to defer

    def lookup(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> Answer:
        """Synchronous answer, following CNAMEs inside the loaded zones."""
        chain: list[tuple[dns.name.Name, dns.name.Name]] = []
        current = name
        for _ in range(MAX_CNAME_CHAIN + 1):
            zone = self.zone_for(current)
            if zone is None:
                if chain:  # alias leads out of the loaded zones: let the caller ask again
                    return Answer(
                        name,
                        rdtype,
                        dns.rcode.NOERROR,
                        None,
                        0,
                        Origin.ZONE,
                        server="zone",
                        cnames=tuple(chain),
                    )
                known = ", ".join(str(z.origin) for z in self.zones) or "none"
                raise DnsError(f"{name} is outside the loaded zones ({known})")
            key, exists = _find_node(zone, current)
            if key is None:
                rcode = dns.rcode.NOERROR if exists else dns.rcode.NXDOMAIN
                return Answer(
                    name,
                    rdtype,
                    rcode,
                    None,
                    zone.negative_ttl(),
                    Origin.ZONE,
                    server="zone",
                    cnames=tuple(chain),
                )
            rds = zone.rdataset(key, rdtype)
            if rds is not None:
                rrset = dns.rrset.from_rdata_list(current, rds.ttl, list(rds))
                return Answer(
                    name,
                    rdtype,
                    dns.rcode.NOERROR,
                    rrset,
                    rds.ttl,
                    Origin.ZONE,
                    server="zone",
                    cnames=tuple(chain),
                )
            cname = zone.rdataset(key, CNAME)
            if cname is None or rdtype == CNAME:
                return Answer(
                    name,
                    rdtype,
                    dns.rcode.NOERROR,
                    None,
                    zone.negative_ttl(),
                    Origin.ZONE,
                    server="zone",
                    cnames=tuple(chain),
                )
            target = next(iter(cname)).target
            chain.append((current, target))
            current = target
        # Longer than a reply would carry: stop mid-chain, as a live server's reply does, and
        # let the resolver's own CNAME limit decide (the same offline and live).
        return Answer(
            name,
            rdtype,
            dns.rcode.NOERROR,
            None,
            0,
            Origin.ZONE,
            server="zone",
            cnames=tuple(chain),
        )


def _find_node(zone: IndexedZone, name: dns.name.Name) -> tuple[str | None, bool]:
    """The index key for ``name`` (or the wildcard that synthesises it) and whether it exists.

    RFC 4592: a wildcard applies only when the name does not exist, not even as an empty
    non-terminal, and matches below the closest encloser. Every step is a dictionary hit.
    """
    key = _name_key(name)
    if key in zone.nodes:
        return key, True
    if zone.exists(key):  # empty non-terminal
        return None, True
    # Closest encloser: the longest existing ancestor (explicit or empty non-terminal).
    candidate = name
    while candidate != zone.origin and len(candidate) > 1:
        candidate = candidate.parent()
        ckey = _name_key(candidate)
        if zone.exists(ckey):
            wildcard = "*." + ckey if ckey != "." else "*."
            if wildcard in zone.nodes:
                return wildcard, True
            return None, False
    return None, False
