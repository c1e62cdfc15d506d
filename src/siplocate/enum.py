"""ENUM (RFC 6116) and ISN (RFC 3872): telephone numbers -> SIP URIs through NAPTR records.

``+44 1632 960083`` -> ``3.8.0.0.6.9.2.3.6.1.4.4.e164.arpa`` -> NAPTR ``E2U+sip`` with flag
``u`` -> DDDS regexp (RFC 3402) applied to ``+441632960083`` -> ``sip:...``. The regexp comes
from the network, so it runs on RE2 (linear time, no backtracking) with size caps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import dns.name
import dns.rdatatype
import re2

from .dns.source import DnsSource
from .errors import BadInput, NotFound
from .target import SipTarget

DEFAULT_SUFFIX = "e164.arpa"
DEFAULT_ISN_ROOT = "freenum.org"
MAX_E164_DIGITS = 15  # ITU-T E.164
MAX_ISN_LENGTH = 64
MAX_REGEXP_LENGTH = 255  # a NAPTR character-string cannot be longer anyway
MAX_URI_LENGTH = 2048
MAX_HOPS = 5  # non-terminal NAPTR chains followed at most this far
RE2_MAX_MEM = 1 << 20

SIP_ENUMSERVICES = ("sip", "sips")


@dataclass(frozen=True, slots=True)
class EnumRecord:
    """One usable NAPTR: its order/preference/service and the SIP URI its regexp produced."""

    order: int
    preference: int
    service: str
    uri: str
    domain: str

    def as_dict(self) -> dict[str, object]:
        return {
            "order": self.order,
            "preference": self.preference,
            "service": self.service,
            "uri": self.uri,
            "domain": self.domain,
        }


@dataclass
class EnumResult:
    """URIs in the order to try them, plus every NAPTR skipped and why (for ``--json``)."""

    number: str
    aus: str
    domain: dns.name.Name
    records: list[EnumRecord] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def uris(self) -> list[str]:
        return [r.uri for r in self.records]

    def as_dict(self) -> dict[str, object]:
        return {
            "number": self.number,
            "aus": self.aus,
            "domain": str(self.domain),
            "records": [r.as_dict() for r in self.records],
            "skipped": [{"record": rec, "reason": why} for rec, why in self.skipped],
        }


# --------------------------------------------------------------------------- numbers -> names


def normalise_e164(number: str) -> str:
    """``+44 (1632) 960-083`` -> ``+441632960083``; BadInput unless it is a full E.164 number."""
    text = number.strip()
    if len(text) > 64:
        raise BadInput("number longer than 64 characters")
    digits = re.sub(r"[\s().\-/]", "", text)
    if not digits.startswith("+"):
        raise BadInput(
            f"{number!r}: give the full E.164 number with + and country code, e.g. +441632960083"
        )
    digits = digits[1:]
    if not digits.isdigit() or not digits.isascii():
        raise BadInput(f"{number!r}: an E.164 number has only digits after the +")
    if len(digits) > MAX_E164_DIGITS:
        raise BadInput(f"{number!r}: E.164 numbers have at most {MAX_E164_DIGITS} digits")
    return "+" + digits


def e164_domain(number: str, suffix: str = DEFAULT_SUFFIX) -> dns.name.Name:
    """RFC 6116 §2.4: digits reversed, dot-separated, under ``suffix``."""
    digits = normalise_e164(number)[1:]
    return dns.name.from_text(".".join(reversed(digits)), _suffix(suffix))


def is_isn(number: str) -> bool:
    return "*" in number


def isn_domain(isn: str, root: str = DEFAULT_ISN_ROOT) -> dns.name.Name:
    """RFC 3872: ``123*543`` -> ``3.2.1.543.<root>`` (subscriber digits reversed, then ITAD)."""
    text = isn.strip()
    if len(text) > MAX_ISN_LENGTH:
        raise BadInput(f"ISN longer than {MAX_ISN_LENGTH} characters")
    local, star, itad = text.partition("*")
    if not star or not local.isdigit() or not itad.isdigit() or not (local + itad).isascii():
        raise BadInput(f"{isn!r}: an ISN is digits*ITAD, e.g. 1234*256")
    if itad.startswith("0"):
        raise BadInput(f"{isn!r}: an ITAD number has no leading zero")
    return dns.name.from_text(".".join(reversed(local)) + "." + itad, _suffix(root))


def _suffix(text: str) -> dns.name.Name:
    try:
        return dns.name.from_text(text)
    except dns.exception.DNSException as exc:
        raise BadInput(f"invalid suffix {text!r}: {exc}") from None


# --------------------------------------------------------------------------- DDDS regexp


def split_regexp(field_text: str) -> tuple[str, str, str]:
    """RFC 3402 §3.2 ``delim ERE delim replacement delim flags`` -> (ERE, replacement, flags).

    The delimiter is the first character (not a digit, not a flag, not backslash); inside the
    ERE and replacement it is escaped with a backslash.
    """
    if len(field_text) > MAX_REGEXP_LENGTH:
        raise ValueError(f"regexp longer than {MAX_REGEXP_LENGTH} characters")
    if len(field_text) < 3:
        raise ValueError("regexp too short")
    delim = field_text[0]
    if delim.isdigit() or delim in "\\i":
        raise ValueError(f"{delim!r} cannot delimit a regexp")
    parts: list[str] = []
    current: list[str] = []
    i = 1
    while i < len(field_text):
        ch = field_text[i]
        if ch == "\\" and i + 1 < len(field_text):
            nxt = field_text[i + 1]
            current.append(nxt if nxt == delim else ch + nxt)
            i += 2
            continue
        if ch == delim and len(parts) < 2:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    if len(parts) != 2:
        raise ValueError(f"regexp needs three {delim!r} delimiters")
    flags = "".join(current)
    if flags not in ("", "i"):
        raise ValueError(f"unknown regexp flags {flags!r}")
    return parts[0], parts[1], flags


def apply_regexp(field_text: str, aus: str) -> str | None:
    """The DDDS substitution on ``aus``; None when the ERE does not match.

    Runs on RE2 with POSIX leftmost-longest semantics and a memory cap; raises ValueError on
    a regexp RE2 rejects (e.g. ERE back-references) or an oversized result.
    """
    ere, replacement, flags = split_regexp(field_text)
    options = re2.Options()
    options.longest_match = True  # POSIX ERE semantics
    options.max_mem = RE2_MAX_MEM
    options.case_sensitive = flags != "i"
    options.log_errors = False
    try:
        pattern = re2.compile(ere, options)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode(errors="replace")
        raise ValueError(f"regexp {ere!r} rejected by RE2: {detail}") from None
    match = pattern.search(aus)
    if match is None:
        return None
    out: list[str] = []
    i = 0
    while i < len(replacement):
        ch = replacement[i]
        if ch == "\\" and i + 1 < len(replacement):
            nxt = replacement[i + 1]
            if nxt.isdigit() and nxt != "0":
                group = int(nxt)
                if group > pattern.groups:
                    raise ValueError(f"replacement refers to group {group}, the ERE has fewer")
                out.append(match.group(group) or "")
            else:
                out.append(nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    result = "".join(out)
    if len(result) > MAX_URI_LENGTH:
        raise ValueError(f"result longer than {MAX_URI_LENGTH} characters")
    return result


def sip_enumservice(service: str) -> str | None:
    """``E2U+sip``/``E2U+sips`` (RFC 6116, with ``:subtype`` allowed) or the RFC 2916 form
    ``sip+E2U`` -> ``sip``/``sips``; None for every other service."""
    s = service.lower()
    if s.startswith("e2u+"):
        types = s[4:].split("+")
    elif s.endswith("+e2u"):
        types = s[:-4].split("+")
    else:
        return None
    for t in types:
        base = t.split(":", 1)[0]
        if base in SIP_ENUMSERVICES:
            return base
    return None


# --------------------------------------------------------------------------- lookup


async def enum_lookup(
    source: DnsSource,
    number: str,
    *,
    suffix: str = DEFAULT_SUFFIX,
    isn_root: str = DEFAULT_ISN_ROOT,
) -> EnumResult:
    """Look a number up: ISN when it contains ``*``, else E.164. NotFound when no SIP URI."""
    if is_isn(number):
        aus, domain = number.strip(), isn_domain(number, isn_root)
    else:
        aus = normalise_e164(number)
        domain = e164_domain(aus, suffix)
    result = EnumResult(number, aus, domain)
    names = [domain]
    seen: set[dns.name.Name] = {domain}
    for _ in range(MAX_HOPS):
        if not names:
            break
        name = names.pop(0)
        answer = await source.answer(name, dns.rdatatype.NAPTR)
        # Sorted, so the URIs and the skipped list come out the same whatever the rotation.
        records: list[Any] = sorted(
            answer.records, key=lambda rd: (rd.order, rd.preference, rd.to_text())
        )
        for rd in records:
            text = f"{name} NAPTR {rd.to_text()}"
            flags = rd.flags.decode(errors="replace").lower()
            service = rd.service.decode(errors="replace")
            if flags == "" and rd.replacement != dns.name.root:
                if rd.replacement in seen:
                    result.skipped.append((text, f"loop: {rd.replacement} was already asked"))
                else:
                    seen.add(rd.replacement)
                    names.append(rd.replacement)  # non-terminal: ask there next
                continue
            kind = sip_enumservice(service)
            if kind is None:
                result.skipped.append((text, f"service {service!r} is not E2U+sip/E2U+sips"))
                continue
            if flags != "u":
                result.skipped.append((text, f'flags "{flags}": ENUM SIP records use "u"'))
                continue
            try:
                uri = apply_regexp(rd.regexp.decode(errors="replace"), aus)
            except ValueError as exc:
                result.skipped.append((text, str(exc)))
                continue
            if uri is None:
                result.skipped.append((text, f"regexp does not match {aus}"))
                continue
            if not uri.lower().startswith(("sip:", "sips:")):
                result.skipped.append((text, f"result {uri!r} is not a sip:/sips: URI"))
                continue
            try:
                SipTarget.parse(uri)
            except BadInput as exc:
                result.skipped.append((text, f"result is not a usable SIP URI: {exc}"))
                continue
            result.records.append(EnumRecord(rd.order, rd.preference, service, uri, str(name)))
    for name in names:  # still queued after MAX_HOPS questions
        result.skipped.append((str(name), f"not asked: more than {MAX_HOPS} NAPTR hops"))
    result.records.sort(key=lambda r: (r.order, r.preference))
    if not result.records:
        why = "; ".join(f"{why}" for _, why in result.skipped[:3]) or "no NAPTR records"
        raise NotFound(f"{number}: no SIP URI at {domain} ({why})")
    return result
