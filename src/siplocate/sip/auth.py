"""HTTP Digest for SIP 401/407 challenges (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760).

MD5 and SHA-256 (plus their ``-sess`` variants), with ``qop=auth`` when offered or none
when the server asks for none (RFC 2069 style). Pure functions: the caller supplies cnonce.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable

from sipmessage import AuthChallenge, AuthCredentials, AuthParameters

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


def new_cnonce() -> str:
    return secrets.token_hex(8)


def digest_credentials(
    challenge: AuthChallenge,
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    cnonce: str | None = None,
    nc: int = 1,
) -> AuthCredentials:
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
    return AuthCredentials(scheme="Digest", parameters=AuthParameters(**out))


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
    """Parse WWW-/Proxy-Authenticate values, skipping ones sipmessage cannot read."""
    result = []
    for value in values:
        try:
            result.append(AuthChallenge.parse(value))
        except ValueError:
            continue
    return result
