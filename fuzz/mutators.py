"""Structure-aware mutators for the two fuzz inputs (see dns_world.py for their formats).

Byte-level mutation alone rarely gets a DNS reply past its parser with a meaningful change,
so most mutations parse a reply with dnspython, change what an attacker or a broken server
would change (class CH, undecodable NAPTR text, names that overflow 255 octets once
``_sip._udp.`` is prefixed, huge RRsets, CNAME loops, extreme TTLs, additional records for
other owners, self-referencing empty-flag NAPTRs, rcodes, flags, sections) and write it back.
The rest are byte-level (libFuzzer's own ``Mutate`` under atheris) on one reply or the URIs.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from .dns_world import World, frame_question, reply_for

ByteMutate = Callable[[bytes, int], bytes]

INTERESTING_TTLS = (0, 1, 2**31 - 1, 2**31, 2**32 - 1)
RCODES = (0, 1, 2, 3, 4, 5, 6, 9, 15)


def simple_byte_mutate(data: bytes, max_size: int, rng: random.Random | None = None) -> bytes:
    """Flip, insert, delete or overwrite a few bytes (the engine without atheris)."""
    rng = rng or random.Random()
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:
            buf[pos % len(buf)] ^= 1 << rng.randrange(8)
        elif op == 1:
            buf[pos:pos] = bytes([rng.randrange(256)])
        elif op == 2 and buf:
            del buf[pos % len(buf) : pos % len(buf) + rng.randint(1, 8)]
        elif op == 3 and buf:
            buf[pos % len(buf)] = rng.choice((0, 0xFF, 0x7F, 0x80, 0xC0, 0x3F, 0x2E))
        elif buf:
            start = rng.randrange(len(buf))
            chunk = buf[start : start + rng.randint(1, 16)]
            buf[pos:pos] = chunk
    return bytes(buf[:max_size])


# -- reply inputs ------------------------------------------------------------------------------


def mutate_reply(data: bytes, max_size: int, seed: int, byte_mutate: ByteMutate) -> bytes:
    """One mutation of a reply input (structural most of the time)."""
    rng = random.Random(seed)
    w = World.decode(data)
    if not w.uris:
        w.uris = [b"sip:victim.test"]
    roll = rng.random()
    if roll < 0.08:
        with contextlib.suppress(Exception):
            _mutate_uris(w, rng, byte_mutate)
    elif roll < 0.35 or not w.frames:
        if w.frames:
            i = rng.randrange(len(w.frames))
            w.frames[i] = byte_mutate(w.frames[i], len(w.frames[i]) + 64)
        else:
            w.frames.append(reply_for("victim.test", "NAPTR"))
    elif roll < 0.42:
        with contextlib.suppress(Exception):
            _add_frame(w, rng)
    elif roll < 0.45 and len(w.frames) > 1:
        del w.frames[rng.randrange(len(w.frames))]
    else:
        i = rng.randrange(len(w.frames))
        msg = _parse(w.frames[i])
        if msg is None:
            w.frames[i] = byte_mutate(w.frames[i], len(w.frames[i]) + 64)
        else:
            try:
                rng.choice(STRUCTURAL)(msg, rng, w)
                w.frames[i] = msg.to_wire(max_size=65535)
            except Exception:
                w.frames[i] = byte_mutate(w.frames[i], len(w.frames[i]) + 64)
    return w.encode()[:max_size]


def crossover_reply(a: bytes, b: bytes, max_size: int, seed: int) -> bytes:
    """Two worlds in one: URIs of both (bounded), replies of both."""
    rng = random.Random(seed)
    wa, wb = World.decode(a), World.decode(b)
    uris = (wa.uris + wb.uris)[: rng.randint(1, 3)]
    frames = wa.frames + wb.frames
    rng.shuffle(frames)
    return World(uris, frames[:24]).encode()[:max_size]


def _parse(wire: bytes) -> dns.message.Message | None:
    try:
        return dns.message.from_wire(wire, ignore_trailing=True)
    except Exception:
        return None


def _host_of(uri: bytes) -> str:
    text = uri.decode("latin-1")
    host = text.split(":", 1)[-1].split("@")[-1].split(";")[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _long_name(base: str, rng: random.Random, total: int | None = None) -> str:
    """A name of ``total`` wire octets (default 240-255) ending in ``base``."""
    total = total or rng.randint(240, 255)
    tail = dns.name.from_text(base)
    room = total - len(tail.to_wire())  # type: ignore[arg-type]
    labels: list[str] = []
    while room > 1:
        size = min(63, room - 1)
        labels.append(rng.choice("abcxyz") * size)
        room -= size + 1
    return ".".join([*labels, base.rstrip(".")]) + "."


def _mutate_uris(w: World, rng: random.Random, byte_mutate: ByteMutate) -> None:
    i = rng.randrange(len(w.uris))
    host = _host_of(w.uris[i]) or "victim.test"
    choice = rng.randrange(8)
    if choice == 0:
        w.uris[i] = byte_mutate(w.uris[i], len(w.uris[i]) + 16).replace(b"\n", b"")
    elif choice == 1:
        w.uris[i] = f"sip:{_long_name(host, rng).rstrip('.')}".encode()
    elif choice == 2:
        w.uris[i] = f"sips:{host}".encode()
    elif choice == 3:
        w.uris[i] = f"sip:{host};transport={rng.choice(['udp', 'tcp', 'tls', 'sctp'])}".encode()
    elif choice == 4:
        w.uris[i] = f"sip:{host}:{rng.choice([0, 1, 5060, 65535, 65536])}".encode()
    elif choice == 5:
        w.check = not w.check
    elif choice == 6 and len(w.uris) < 3:
        w.uris.append(rng.choice([b"sip:victim.test", w.uris[0]]))
    else:
        w.uris[i] = f"sip:x@{host};maddr={rng.choice(['victim.test', host, '127.0.0.1'])}".encode()
    w.uris = [u for u in w.uris if u][:3] or [b"sip:victim.test"]


def _names_in(w: World) -> list[dns.name.Name]:
    """Names the replies point at (targets, replacements, owners): where to add replies."""
    names: list[dns.name.Name] = []
    for frame in w.frames[:8]:
        msg = _parse(frame)
        if msg is None:
            continue
        for section in (msg.answer, msg.additional):
            for rrset in section:
                names.append(rrset.name)
                for rd in rrset:
                    for attr in ("target", "replacement"):
                        value = getattr(rd, attr, None)
                        if isinstance(value, dns.name.Name) and value != dns.name.root:
                            names.append(value)
    for uri in w.uris:
        with contextlib.suppress(dns.exception.DNSException):
            names.append(dns.name.from_text(_host_of(uri)))
    return names


def _add_frame(w: World, rng: random.Random) -> None:
    """A reply for a name the world mentions and does not answer yet (or a random one)."""
    names = _names_in(w) or [dns.name.from_text("victim.test")]
    name = rng.choice(names)
    have = {frame_question(f) for f in w.frames}
    for rdtype in rng.sample(["NAPTR", "SRV", "A", "AAAA", "CNAME"], 5):
        key = (tuple(label.lower() for label in name.labels), dns.rdatatype.from_text(rdtype))
        if key not in have:
            break
    owner = name.to_text()
    data = {
        "NAPTR": f'10 10 "s" "SIP+D2U" "" _sip._udp.{owner}',
        "SRV": f"0 {rng.randint(0, 10)} 5060 h{rng.randint(0, 3)}.{owner}",
        "A": f"127.0.0.{rng.randint(1, 254)}",
        "AAAA": f"::{rng.randint(1, 65535):x}",
        "CNAME": f"alias{rng.randint(0, 3)}.{owner}",
    }[rdtype]
    with contextlib.suppress(dns.exception.DNSException, ValueError):
        w.frames.append(reply_for(name, rdtype, [f"{owner} 300 IN {rdtype} {data}"]))


def _any_rrset(msg: dns.message.Message, rng: random.Random) -> dns.rrset.RRset | None:
    rrsets = [r for s in (msg.answer, msg.authority, msg.additional) for r in s]
    return rng.choice(rrsets) if rrsets else None


def _qname(msg: dns.message.Message) -> dns.name.Name:
    return msg.question[0].name if msg.question else dns.name.from_text("victim.test")


def _replace_rrset(
    section: list[dns.rrset.RRset], old: dns.rrset.RRset, new: dns.rrset.RRset
) -> None:
    for i, r in enumerate(section):
        if r is old:
            section[i] = new


def _rebuild(rrset: dns.rrset.RRset, rds: list[dns.rdata.Rdata], **kw: object) -> dns.rrset.RRset:
    new = dns.rrset.RRset(
        kw.get("name", rrset.name),  # type: ignore[arg-type]
        kw.get("rdclass", rrset.rdclass),  # type: ignore[arg-type]
        rrset.rdtype,
    )
    for rd in rds:
        new.add(rd)
    new.ttl = int(kw.get("ttl", rrset.ttl))  # type: ignore[call-overload]
    return new


def m_class_ch(msg: dns.message.Message, rng: random.Random, w: World) -> None:
    """An RRset of class CH (or HS, ANY) where IN was expected."""
    rrset = _any_rrset(msg, rng)
    if rrset is not None:
        rrset.rdclass = rng.choice([dns.rdataclass.CH, dns.rdataclass.HS, dns.rdataclass.ANY])


def m_bad_text(msg: dns.message.Message, rng: random.Random, w: World) -> None:
    """Undecodable bytes in NAPTR flags, service or regexp."""
    for section in (msg.answer, msg.additional):
        for rrset in section:
            if rrset.rdtype == dns.rdatatype.NAPTR and len(rrset):
                rds = list(rrset)
                j = rng.randrange(len(rds))
                field = rng.choice(["flags", "service", "regexp"])
                junk = rng.choice([b"\xff", b"\xc3", b"S\x80", b"SIP+D2U\xfe", b"\x00", b"s\xe9"])
                rds[j] = rds[j].replace(**{field: junk})
                _replace_rrset(section, rrset, _rebuild(rrset, rds))
                return
    _add_naptr(msg, rng, flags=b"\xff")


def _add_naptr(msg: dns.message.Message, rng: random.Random, flags: bytes = b"s") -> None:
    q = _qname(msg)
    rd = dns.rdata.from_text(
        "IN", "NAPTR", f'10 10 "s" "SIP+D2U" "" _sip._udp.{q.to_text()}'
    ).replace(flags=flags)
    rrset = dns.rrset.RRset(q, dns.rdataclass.IN, dns.rdatatype.NAPTR)
    rrset.add(rd, 300)
    msg.answer.append(rrset)


def m_long_names(msg: dns.message.Message, rng: random.Random, w: World) -> None:
    """Targets/replacements 240-255 octets long: valid, but no room for ``_sip._udp.``."""
    q = _qname(msg)
    for section in (msg.answer, msg.additional):
        for rrset in section:
            rds = list(rrset)
            changed = False
            for j, rd in enumerate(rds):
                for attr in ("replacement", "target"):
                    if isinstance(getattr(rd, attr, None), dns.name.Name):
                        long = dns.name.from_text(_long_name(q.to_text(), rng))
                        rds[j] = rd.replace(**{attr: long})
                        changed = True
            if changed:
                _replace_rrset(section, rrset, _rebuild(rrset, rds))
                return
    other = _any_rrset(msg, rng)
    if other is not None:
        other.name = dns.name.from_text(_long_name(q.to_text(), rng))


def m_huge_rrset(msg: dns.message.Message, rng: random.Random, w: World) -> None:
    """Many records in one RRset (up to what fits in 64 KB)."""
    q = _qname(msg)
    qtype = msg.question[0].rdtype if msg.question else dns.rdatatype.SRV
    count = rng.choice([20, 20, 20, 100, 100, 300, 2000])
    owner = q.to_text()
    rrset = dns.rrset.RRset(q, dns.rdataclass.IN, qtype)
    for k in range(count):
        text = {
            dns.rdatatype.SRV: f"{k % 7} {k % 50} 5060 t{k}.{owner}",
            dns.rdatatype.A: f"10.{k >> 16 & 255}.{k >> 8 & 255}.{k & 255}",
            dns.rdatatype.AAAA: f"2001:db8::{k:x}",
            dns.rdatatype.NAPTR: f'{k} {k} "s" "SIP+D2U" "" _sip._udp.t{k}.{owner}',
        }.get(qtype)
        if text is None:
            return
        rrset.add(dns.rdata.from_text(dns.rdataclass.IN, qtype, text), 300)
    msg.answer = [r for r in msg.answer if (r.name, r.rdtype) != (q, qtype)] + [rrset]
    if rng.random() < 0.3:
        msg.flags |= dns.flags.TC


def m_cname(msg: dns.message.Message, rng: random.Random, w: World) -> None:
    """A CNAME loop at the question name, or a chain longer than anyone should follow."""
    q = _qname(msg)
    qtype = msg.question[0].rdtype if msg.question else dns.rdatatype.A
    hops = rng.choice([1, 2, 8, 9, 10, 30])
    names = [q] + [dns.name.from_text(f"c{k}.{q.to_text()}") for k in range(1, hops)]
    loop = rng.random() < 0.5
    msg.answer = []
    for k, name in enumerate(names):
        nxt = names[(k + 1) % len(names)] if loop or k + 1 < len(names) else None
        if nxt is None:
            nxt = dns.name.from_text(f"end.{q.to_text()}")
        rrset = dns.rrset.RRset(name, dns.rdataclass.IN, dns.rdatatype.CNAME)
        rrset.add(dns.rdata.from_text("IN", "CNAME", nxt.to_text()), 300)
        msg.answer.append(rrset)
    if not loop and qtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        end = dns.rrset.RRset(dns.name.from_text(f"end.{q.to_text()}"), dns.rdataclass.IN, qtype)
        addr = "127.0.0.7" if qtype == dns.rdatatype.A else "::7"
        end.add(dns.rdata.from_text("IN", qtype, addr), 300)
        msg.answer.append(end)


def m_ttl(msg: dns.message.Message, rng: random.Random, w: World) -> None:
    """TTL 0, 1, 2^31-1, 2^31 or 2^32-1 on one RRset."""
    rrset = _any_rrset(msg, rng)
    if rrset is not None:
        rrset.ttl = rng.choice(INTERESTING_TTLS)


def m_poison(msg: dns.message.Message, rng: random.Random, w: World) -> None:
    """Additional records for another owner (another URI's domain): cache poisoning."""
    hosts = [_host_of(u) for u in w.uris] + ["victim.test"]
    victim = rng.choice(hosts).rstrip(".") + "."
    q = _qname(msg).to_text()
    lines = [
        f'{victim} 86400 IN NAPTR 1 1 "s" "SIP+D2U" "" _sip._udp.{victim}',
        f"_sip._udp.{victim} 86400 IN SRV 0 0 5060 attacker.{q}",
        f"attacker.{q} 86400 IN A 127.0.0.99",
        f"{victim} 86400 IN A 127.0.0.98",
        f"_sip._tcp.{victim} 86400 IN SRV 0 0 5060 attacker.{q}",
    ]
    for line in rng.sample(lines, rng.randint(1, len(lines))):
        owner, ttl, rdclass, rdtype, data = line.split(None, 4)
        rrset = dns.rrset.from_text(owner, int(ttl), rdclass, rdtype, data)
        msg.additional.append(rrset)


def m_fanout(msg: dns.message.Message, rng: random.Random, w: World) -> None:
    """N empty-flag NAPTRs pointing back at their own owner (or a small cycle)."""
    q = _qname(msg)
    n = rng.choice([2, 3, 5, 8, 12, 20, 30])
    other = dns.name.from_text(f"loop.{q.to_text()}")
    rrset = dns.rrset.RRset(q, dns.rdataclass.IN, dns.rdatatype.NAPTR)
    for k in range(n):
        target = q if rng.random() < 0.8 else other
        text = f'{k} {k} "" "SIP+D2U" "" {target.to_text()}'
        rrset.add(dns.rdata.from_text("IN", "NAPTR", text), 300)
    msg.answer = [rrset]


def m_sections(msg: dns.message.Message, rng: random.Random, w: World) -> None:
    """Rcode, flags and sections an odd server might send."""
    choice = rng.randrange(6)
    if choice == 0:
        msg.set_rcode(rng.choice(RCODES))  # type: ignore[arg-type]
    elif choice == 1:
        msg.flags ^= rng.choice([dns.flags.TC, dns.flags.AA, dns.flags.QR, dns.flags.RD])
    elif choice == 2:
        msg.authority, msg.answer = msg.answer, msg.authority
    elif choice == 3:
        msg.additional, msg.answer = msg.answer, msg.additional
    elif choice == 4:
        soa = dns.rrset.from_text(
            _qname(msg),
            rng.choice(INTERESTING_TTLS),
            "IN",
            "SOA",
            f". . 1 1 1 1 {rng.choice(INTERESTING_TTLS)}",
        )
        msg.authority = [soa]
        msg.answer = []
    else:
        for section in (msg.answer, msg.additional):
            rng.shuffle(section)


def m_retarget(msg: dns.message.Message, rng: random.Random, w: World) -> None:
    """Point a target/replacement at the root, the question, another URI or another name."""
    names = [*_names_in(w), dns.name.root, _qname(msg)]
    for section in (msg.answer, msg.additional):
        for rrset in section:
            rds = list(rrset)
            for j, rd in enumerate(rds):
                for attr in ("replacement", "target"):
                    if isinstance(getattr(rd, attr, None), dns.name.Name) and rng.random() < 0.5:
                        rds[j] = rd.replace(**{attr: rng.choice(names)})
            _replace_rrset(section, rrset, _rebuild(rrset, rds))


def m_naptr_fields(msg: dns.message.Message, rng: random.Random, w: World) -> None:
    """NAPTR flags/services a client must skip or accept (case, unknown, empty)."""
    for section in (msg.answer, msg.additional):
        for rrset in section:
            if rrset.rdtype == dns.rdatatype.NAPTR and len(rrset):
                rds = list(rrset)
                j = rng.randrange(len(rds))
                rds[j] = rds[j].replace(
                    flags=rng.choice([b"", b"s", b"S", b"a", b"A", b"u", b"se", b"p", b"sa"]),
                    service=rng.choice(
                        [
                            b"SIP+D2U",
                            b"sips+d2t",
                            b"SIP+D2T",
                            b"SIP+D2S",
                            b"SIP+D2W",
                            b"E2U+sip",
                            b"SIP+DTU",
                            b"SIPS+D2U",
                            b"",
                            b"SIP+",
                        ]
                    ),
                    order=rng.choice([0, 1, 65535]),
                    preference=rng.choice([0, 1, 65535]),
                )
                _replace_rrset(section, rrset, _rebuild(rrset, rds))
                return


STRUCTURAL = (
    m_class_ch,
    m_bad_text,
    m_long_names,
    m_huge_rrset,
    m_cname,
    m_ttl,
    m_poison,
    m_fanout,
    m_sections,
    m_retarget,
    m_naptr_fields,
)


# -- zone inputs -------------------------------------------------------------------------------

ZONE_TOKENS = (
    "CH",
    "HS",
    "IN",
    "0",
    "2147483647",
    "4294967295",
    "-1",
    "65535",
    "65536",
    '""',
    '"',
    '"\\255"',
    '"\\200SIP+D2U"',
    "(",
    ")",
    ";",
    "@",
    "*",
    ".",
    "\\",
    "\\000",
    "\\.",
    "a" * 63,
    "a" * 64,
    "_sip._udp",
    "$ORIGIN",
    "$TTL",
    "NAPTR",
    "SRV",
    "CNAME",
    "A",
    "AAAA",
    "\xff",
    "\xe9",
)

ZONE_LINES = (
    '@ IN NAPTR 10 10 "" "SIP+D2U" "" @',
    '@ IN NAPTR 11 10 "" "SIP+D2U" "" @',
    '@ IN NAPTR 10 10 "s" "SIP+D2U" "" _sip._udp',
    '@ IN NAPTR 10 10 "\\255" "SIP+D2U" "" _sip._udp',
    '@ IN NAPTR 10 10 "s" "SIP+D2U\\200" "" _sip._udp',
    "_sip._udp IN SRV 0 0 5060 h1",
    "_sip._udp IN SRV 0 0 5060 .",
    "_sip._udp CH SRV 0 0 5060 h1",
    "h1 IN A 192.0.2.1",
    "h1 IN CNAME h2",
    "h2 IN CNAME h1",
    "* IN A 192.0.2.9",
    "*._udp IN SRV 0 0 5060 h1",
    "h1 2147483647 IN A 192.0.2.2",
    "$TTL 2147483647",
    "$TTL 0",
    "$GENERATE 1-200 h$ IN A 192.0.2.1",
    "$GENERATE 1-200 _sip._udp IN SRV 0 $ 5060 h$",
    "$ORIGIN " + "a" * 60 + "." + "b" * 60 + "." + "c" * 60 + ".fuzz.test.",
    "$INCLUDE /etc/hostname",
    '@ IN NAPTR 10 10 "s" "SIP+D2U" "" ' + "x" * 63 + "." + "y" * 63 + "." + "z" * 63 + ".",
    "deep.a.b.c.d.e.f.g IN A 192.0.2.3",
)


def mutate_zone(data: bytes, max_size: int, seed: int, byte_mutate: ByteMutate) -> bytes:
    """Line-level edits of zone text with tokens and lines that break zone tools."""
    rng = random.Random(seed)
    if rng.random() < 0.3:
        return byte_mutate(data, max_size)
    lines = data.split(b"\n")
    i = rng.randrange(len(lines))
    op = rng.randrange(6)
    if op == 0:
        lines.insert(i, rng.choice(ZONE_LINES).encode())
    elif op == 1 and len(lines) > 1:
        del lines[i]
    elif op == 2:
        lines.insert(i, lines[rng.randrange(len(lines))])
    elif op == 3:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    else:
        tokens = lines[i].split()
        tok = rng.choice(ZONE_TOKENS).encode("latin-1")
        if tokens:
            k = rng.randrange(len(tokens))
            if op == 4:
                tokens[k] = tok
            else:
                tokens.insert(k, tok)
        else:
            tokens = [tok]
        lines[i] = b" ".join(tokens)
    return b"\n".join(lines)[:max_size]


def crossover_zone(a: bytes, b: bytes, max_size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    la, lb = a.split(b"\n"), b.split(b"\n")
    cut_a, cut_b = rng.randrange(len(la) + 1), rng.randrange(len(lb) + 1)
    return b"\n".join(la[:cut_a] + lb[cut_b:])[:max_size]
