"""ENUM/ISN: number -> domain, DDDS regexp on RE2, NAPTR selection, over zone files."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siplocate.dns.zonefile import ZoneSource
from siplocate.enum import (
    MAX_REGEXP_LENGTH,
    apply_regexp,
    e164_domain,
    enum_lookup,
    isn_domain,
    normalise_e164,
    sip_enumservice,
    split_regexp,
)
from siplocate.errors import BadInput, NotFound
from siplocate.target import SipTarget
from tests.conftest import TEST_ZONES

ZONES = [
    TEST_ZONES / "manage" / "enum-e164.arpa.zone",
    TEST_ZONES / "manage" / "enum-freenum.test.zone",
]


def test_e164_domain() -> None:
    assert str(e164_domain("+44 1632 960083")) == "3.8.0.0.6.9.2.3.6.1.4.4.e164.arpa."
    assert str(e164_domain("+1-555-0100", "e164.example.")) == "0.0.1.0.5.5.5.1.e164.example."


@given(st.text(alphabet="0123456789", min_size=1, max_size=15))
def test_e164_domain_is_the_digits_reversed(digits: str) -> None:
    name = e164_domain("+" + digits)
    labels = [label.decode() for label in name.labels[:-3]]
    assert "".join(reversed(labels)) == digits


@pytest.mark.parametrize("bad", ["441632960083", "+44a", "+1234567890123456", "+", ""])
def test_bad_numbers(bad: str) -> None:
    with pytest.raises(BadInput):
        normalise_e164(bad)


def test_isn_domain_rfc3872() -> None:
    assert str(isn_domain("123*543")) == "3.2.1.543.freenum.org."
    assert str(isn_domain("1234*256", "isn.test")) == "4.3.2.1.256.isn.test."
    for bad in ("123", "12a*5", "1*05", "*5", "1*"):
        with pytest.raises(BadInput):
            isn_domain(bad)


def test_split_regexp_with_escaped_delimiter_and_flags() -> None:
    assert split_regexp("!^.*$!sip:a@b!") == ("^.*$", "sip:a@b", "")
    assert split_regexp("/^a\\/b$/x\\/y/i") == ("^a/b$", "x/y", "i")
    for bad in ("1abc1d1", "!a!b", "!a!b!q", "x" * (MAX_REGEXP_LENGTH + 1)):
        with pytest.raises(ValueError):
            split_regexp(bad)


def test_apply_regexp_backrefs_and_no_match() -> None:
    assert apply_regexp("!^\\+44(.*)$!sip:0\\1@x.test!", "+441632") == "sip:01632@x.test"
    assert apply_regexp("!^\\+1(.*)$!sip:\\1@x!", "+44") is None
    assert apply_regexp("!^(.*)$!\\\\\\1!", "ab") == "\\ab"
    with pytest.raises(ValueError, match="group 2"):
        apply_regexp("!^(.*)$!\\2!", "x")
    with pytest.raises(ValueError, match="RE2"):
        apply_regexp("!^(1)\\1$!x!", "11")


def test_catastrophic_pattern_runs_in_linear_time() -> None:
    start = time.perf_counter()
    assert apply_regexp("!^(a+)+$!sip:x@y!", "a" * 60 + "b") is None
    assert time.perf_counter() - start < 0.5


@given(st.text(max_size=80), st.text(max_size=20))
def test_apply_regexp_on_arbitrary_network_input_never_crashes(field: str, aus: str) -> None:
    try:
        result = apply_regexp(field, aus)
    except ValueError:
        return
    assert result is None or isinstance(result, str)


def test_enumservices() -> None:
    assert sip_enumservice("E2U+sip") == "sip"
    assert sip_enumservice("e2u+SIPS") == "sips"
    assert sip_enumservice("sip+E2U") == "sip"  # RFC 2916 form
    assert sip_enumservice("E2U+pres+sip") == "sip"
    assert sip_enumservice("E2U+email:mailto") is None
    assert sip_enumservice("SIP+D2U") is None


def lookup(number: str, **kw: str) -> object:
    return asyncio.run(enum_lookup(ZoneSource(ZONES), number, **kw))


def test_lookup_orders_by_order_then_preference_and_skips_non_sip() -> None:
    result = asyncio.run(enum_lookup(ZoneSource(ZONES), "+44 1632 960083"))
    assert result.uris == [
        "sips:01632960083@example.test",
        "sip:info@example.test",
        "sip:441632960083@legacy.example.test",
    ]
    for uri in result.uris:
        SipTarget.parse(uri)  # usable by `resolve`
    reasons = [why for _, why in result.skipped]
    assert any("not E2U+sip" in r for r in reasons)
    assert any("does not match" in r for r in reasons)


def test_case_insensitive_flag_non_terminal_and_isn() -> None:
    source = ZoneSource(ZONES)
    assert asyncio.run(enum_lookup(source, "+15550100")).uris == ["sip:1555@freeswitch.test"]
    assert asyncio.run(enum_lookup(source, "+3120123")).uris == ["sip:3120123@nl.example.test"]
    isn = asyncio.run(enum_lookup(source, "123*543", isn_root="freenum.test"))
    assert isn.uris == ["sip:123@isn.example.test"]


def test_unusable_records_give_not_found_with_reasons() -> None:
    with pytest.raises(NotFound, match="RE2"):
        asyncio.run(enum_lookup(ZoneSource(ZONES), "+49301"))
    with pytest.raises(NotFound, match="no NAPTR"):
        asyncio.run(enum_lookup(ZoneSource(ZONES), "+999"))
