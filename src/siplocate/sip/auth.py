"""HTTP Digest for SIP 401/407 challenges (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760).

MD5 and SHA-256 (plus their ``-sess`` variants), with ``qop=auth`` when offered or none
when the server asks for none (RFC 2069 style). Pure functions: the caller supplies cnonce.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass

from sipmessage import AuthChallenge, AuthParameters

from ..errors import OperationFailed

HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda data: hashlib.md5(data).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
}


class AuthError(OperationFailed):
    """A challenge we cannot answer, or credentials the server rejected.

    ``outcome`` (set by the client) holds the attempts made, for ``--json`` output.
    """

    outcome: object | None = None


#: In a set of realms, the one that stands for any realm (the default: today's behaviour).
ANY_REALM = "*"


def realm_allowed(realm: str, realms: Collection[str]) -> bool:
    """Is ``realm`` (a challenge's protection space, RFC 3261 §22.1) one the credentials are
    for? Compared exactly: RFC 2617 §1.2 calls the realm value case-sensitive."""
    return ANY_REALM in realms or realm in realms


def new_cnonce() -> str:
    return secrets.token_hex(8)


#: RFC 7616 §3.4: these credential parameters are quoted-strings; the rest are tokens.
QUOTED = ("username", "realm", "nonce", "uri", "response", "cnonce", "opaque")


@dataclass(frozen=True)
class DigestCredentials:
    """An Authorization / Proxy-Authorization value, quoted exactly as RFC 7616 says."""

    params: dict[str, str]

    def __getitem__(self, name: str) -> str:
        return self.params[name]

    def __str__(self) -> str:
        parts = []
        for name, value in self.params.items():
            if name in QUOTED:
                escaped = value.replace("\\", "\\\\").replace('"', '\\"')
                parts.append(f'{name}="{escaped}"')
            else:
                parts.append(f"{name}={value}")
        return "Digest " + ", ".join(parts)


def digest_credentials(
    challenge: AuthChallenge,
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    cnonce: str | None = None,
    nc: int = 1,
) -> DigestCredentials:
    """The Authorization value answering ``challenge`` for ``method`` on ``uri``."""
    if challenge.scheme.lower() != "digest":
        raise AuthError(f"unsupported authentication scheme {challenge.scheme!r}")
    params = challenge.parameters
    realm = params.get("realm", "")
    nonce = params.get("nonce")
    if nonce is None:
        raise AuthError("digest challenge without nonce")
    algorithm = params.get("algorithm", "MD5")
    base, sess = _algorithm(algorithm)
    h = HASHES[base]
    qops = [q.strip().lower() for q in params.get("qop", "").split(",") if q.strip()]
    if qops and "auth" not in qops:
        raise AuthError(f"unsupported qop {params['qop']!r} (only auth is supported)")
    qop = "auth" if qops else None
    cnonce = cnonce or new_cnonce()
    ha1 = h(f"{username}:{realm}:{password}".encode())
    if sess:
        ha1 = h(f"{ha1}:{nonce}:{cnonce}".encode())
    ha2 = h(f"{method}:{uri}".encode())
    nc_text = f"{nc:08x}"
    if qop:
        response = h(f"{ha1}:{nonce}:{nc_text}:{cnonce}:{qop}:{ha2}".encode())
    else:
        response = h(f"{ha1}:{nonce}:{ha2}".encode())
    out: dict[str, str] = {
        "username": username,
        "realm": realm,
        "nonce": nonce,
        "uri": uri,
        "response": response,
        "algorithm": algorithm,
    }
    if "opaque" in params:
        out["opaque"] = params["opaque"]
    if qop:
        out.update(qop=qop, nc=nc_text, cnonce=cnonce)
    return DigestCredentials(out)


def _algorithm(name: str) -> tuple[str, bool]:
    upper = name.upper()
    sess = upper.endswith("-SESS")
    base = upper.removesuffix("-SESS")
    if base not in HASHES:
        raise AuthError(f"unsupported digest algorithm {name!r} (supported: MD5, SHA-256)")
    return base, sess


def pick_challenge(challenges: list[AuthChallenge]) -> AuthChallenge:
    """RFC 8760 §2.4: prefer SHA-256 over MD5 when a server offers both."""
    usable = []
    for c in challenges:
        if c.scheme.lower() != "digest":
            continue
        try:
            base, _ = _algorithm(c.parameters.get("algorithm", "MD5"))
        except AuthError:
            continue
        usable.append((0 if base == "SHA-256" else 1, c))
    if not usable:
        names = ", ".join(f"{c.scheme} {c.parameters.get('algorithm', 'MD5')}" for c in challenges)
        raise AuthError(f"no supported digest challenge (offered: {names or 'none'})")
    return min(usable, key=lambda pair: pair[0])[1]


def parse_challenges(values: list[str]) -> list[AuthChallenge]:
    """Parse WWW-/Proxy-Authenticate values, skipping ones we cannot read.

    Our own tokenizer, because quoted values may contain commas (``qop="auth,auth-int"``).
    """
    result = []
    for value in values:
        challenge = parse_challenge(value)
        if challenge is not None:
            result.append(challenge)
    return result


def parse_challenge(value: str) -> AuthChallenge | None:
    """``Digest realm="r", nonce="n", qop="auth,auth-int"`` -> AuthChallenge, or None."""
    scheme, _, rest = value.strip().partition(" ")
    if not scheme or not rest.strip():
        return None
    params: dict[str, str] = {}
    i, n = 0, len(rest)
    while i < n:
        while i < n and rest[i] in " \t,":
            i += 1
        if i >= n:
            break
        eq = rest.find("=", i)
        if eq < 0:
            return None
        name = rest[i:eq].strip().lower()
        i = eq + 1
        while i < n and rest[i] in " \t":
            i += 1
        if i < n and rest[i] == '"':
            i += 1
            chars = []
            while i < n and rest[i] != '"':
                if rest[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(rest[i])
                i += 1
            if i >= n:
                return None  # unterminated quoted-string
            i += 1
            val = "".join(chars)
        else:
            end = rest.find(",", i)
            end = n if end < 0 else end
            val = rest[i:end].strip()
            i = end
        if not name:
            return None
        params[name] = val
    return AuthChallenge(scheme=scheme, parameters=AuthParameters(**params))
