"""Digest answers checked against the published RFC examples (RFC 2617 §3.5, RFC 7616 §3.9.1)."""

from __future__ import annotations

import pytest
from sipmessage import AuthChallenge

from siplocate.sip.auth import (
    AuthError,
    digest_credentials,
    parse_challenge,
    parse_challenges,
    pick_challenge,
)

RFC7616 = dict(
    realm="http-auth@example.org",
    nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
    cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
)


def challenge(algorithm: str) -> AuthChallenge:
    return parse(
        f'Digest realm="{RFC7616["realm"]}", qop="auth, auth-int", algorithm={algorithm}, '
        f'nonce="{RFC7616["nonce"]}", opaque="{RFC7616["opaque"]}"'
    )


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_examples(algorithm: str, expected: str) -> None:
    creds = digest_credentials(
        challenge(algorithm),
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        password="Circle of Life",
        cnonce=RFC7616["cnonce"],
    )
    p = creds
    assert p["response"] == expected
    assert p["qop"] == "auth" and p["nc"] == "00000001" and p["opaque"] == RFC7616["opaque"]
    assert p["algorithm"] == algorithm
    text = str(creds)
    assert text.startswith("Digest ") and f'response="{expected}"' in text
    assert "qop=auth," in text and "nc=00000001" in text  # tokens, not quoted (RFC 7616 §3.4)


def test_rfc2617_example() -> None:
    ch = parse(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    creds = digest_credentials(
        ch,
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        password="Circle Of Life",
        cnonce="0a4f113b",
    )
    assert creds["response"] == "6629fae49393a05397450978507c4ef1"


def test_no_qop_uses_rfc2069_form() -> None:
    ch = AuthChallenge.parse('Digest realm="r", nonce="n"')
    creds = digest_credentials(ch, method="REGISTER", uri="sip:r", username="u", password="p")
    assert "qop" not in creds.params and "cnonce" not in creds.params
    import hashlib

    ha1 = hashlib.md5(b"u:r:p").hexdigest()
    ha2 = hashlib.md5(b"REGISTER:sip:r").hexdigest()
    assert creds["response"] == hashlib.md5(f"{ha1}:n:{ha2}".encode()).hexdigest()


def test_unsupported_challenges_are_clear_errors() -> None:
    with pytest.raises(AuthError, match="qop"):
        digest_credentials(
            AuthChallenge.parse('Digest realm="r", nonce="n", qop="auth-int"'),
            method="REGISTER",
            uri="sip:r",
            username="u",
            password="p",
        )
    with pytest.raises(AuthError, match="no supported digest challenge"):
        pick_challenge([AuthChallenge.parse('Digest realm="r", nonce="n", algorithm=SHA-512-256')])


def test_sha256_preferred_over_md5() -> None:
    both = parse_challenges(
        [
            'Digest realm="r", nonce="a", algorithm=MD5',
            'Digest realm="r", nonce="b", algorithm=SHA-256',
            "not a challenge",
        ]
    )
    assert len(both) == 2
    assert pick_challenge(both).parameters["nonce"] == "b"


def parse(value: str) -> AuthChallenge:
    ch = parse_challenge(value)
    assert ch is not None
    return ch


def test_challenge_parser_handles_commas_and_escapes_in_quotes() -> None:
    ch = parse(r'Digest realm="a, \"b\"", nonce=xyz, qop="auth,auth-int", stale=TRUE')
    assert dict(ch.parameters) == {
        "realm": 'a, "b"',
        "nonce": "xyz",
        "qop": "auth,auth-int",
        "stale": "TRUE",
    }
    assert parse_challenge("Digest") is None
    assert parse_challenge('Digest realm="unterminated') is None
