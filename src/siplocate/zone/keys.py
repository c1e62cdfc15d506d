"""TSIG keys from the files ``tsig-keygen`` (BIND ``key`` clause) or ``dnssec-keygen`` write.

The secret is kept inside ``TsigKey`` and never appears in its repr, in messages or logs.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import dns.name
import dns.tsig

from ..errors import BadInput
from ..localfile import exposed, read_text

#: Algorithm names as key files spell them -> dnspython's algorithm names.
ALGORITHMS: dict[str, dns.name.Name] = {
    "hmac-md5": dns.tsig.HMAC_MD5,
    "hmac-md5.sig-alg.reg.int": dns.tsig.HMAC_MD5,
    "hmac-sha1": dns.tsig.HMAC_SHA1,
    "hmac-sha224": dns.tsig.HMAC_SHA224,
    "hmac-sha256": dns.tsig.HMAC_SHA256,
    "hmac-sha384": dns.tsig.HMAC_SHA384,
    "hmac-sha512": dns.tsig.HMAC_SHA512,
}
#: dnssec-keygen's "Algorithm: 157 (HMAC_MD5)" numbers.
_PRIVATE_ALGORITHMS = {157: "hmac-md5", 161: "hmac-sha1", 162: "hmac-sha224",
                       163: "hmac-sha256", 164: "hmac-sha384", 165: "hmac-sha512"}  # fmt: skip
DEFAULT_ALGORITHM = "hmac-sha256"

# The body excludes braces, so a failed match stops at the next brace: linear on any input.
_KEY_CLAUSE = re.compile(r'key\s+"?([A-Za-z0-9._-]+)"?\s*\{([^{}]*)\}\s*;')
#: tsig-keygen writes about 100 bytes per key; 1 MiB is a whole keyring and then some.
MAX_KEY_BYTES = 1024 * 1024
_ALGORITHM = re.compile(r"algorithm\s+\"?([A-Za-z0-9.-]+)\"?\s*;", re.I)
_SECRET = re.compile(r'secret\s+"([^"]*)"\s*;', re.I)


@dataclass(frozen=True)
class TsigKey:
    """A TSIG key: name, algorithm and secret (hidden from repr)."""

    name: str
    algorithm: str
    secret: bytes = field(repr=False)
    warnings: tuple[str, ...] = ()

    @property
    def tsig(self) -> dns.tsig.Key:
        return dns.tsig.Key(self.name, self.secret, ALGORITHMS[self.algorithm])

    def __str__(self) -> str:
        return f"{self.name} ({self.algorithm})"


def load_key(path: Path | str, name: str | None = None) -> TsigKey:
    """Read a key file; BadInput (never showing the secret) when it cannot be used.

    Warnings (returned on the key, for the CLI to print): the file is readable by group or
    others, or the algorithm is hmac-md5 (broken hash; accepted for old servers only).
    """
    path = Path(path)
    text = read_text(path, "key file", MAX_KEY_BYTES)
    loose = exposed(path, "key file", "anyone who reads it can change the zone")
    warnings = [loose] if loose is not None else []
    if os.path.basename(path).endswith(".private") or text.lstrip().startswith("Private-key"):
        key_name, algorithm, secret_text = _parse_private(text, path)
    else:
        key_name, algorithm, secret_text = _parse_clause(text, path, name)
    algorithm = algorithm.lower()
    if algorithm not in ALGORITHMS:
        known = ", ".join(sorted(a for a in ALGORITHMS if "." not in a))
        raise BadInput(f"key file {path}: unsupported algorithm {algorithm!r} (known: {known})")
    if ALGORITHMS[algorithm] == dns.tsig.HMAC_MD5:
        algorithm = "hmac-md5"
        warnings.append(
            f"key {key_name} uses hmac-md5, which is obsolete (RFC 8945 §6): make a new one with "
            f"tsig-keygen -a {DEFAULT_ALGORITHM} {key_name}"
        )
    try:
        secret = base64.b64decode(secret_text, validate=True)
    except (binascii.Error, ValueError):
        raise BadInput(f"key file {path}: the secret of key {key_name} is not base64") from None
    if not secret:
        raise BadInput(f"key file {path}: key {key_name} has an empty secret")
    return TsigKey(key_name, algorithm, secret, tuple(warnings))


def _parse_clause(text: str, path: Path, name: str | None) -> tuple[str, str, str]:
    clauses = _KEY_CLAUSE.findall(text)
    if not clauses:
        raise BadInput(
            f"key file {path}: no key clause found; expected what `tsig-keygen -a "
            f'{DEFAULT_ALGORITHM} NAME` writes: key "NAME" {{ algorithm ...; secret "..."; }};'
        )
    if name is not None:
        clauses = [c for c in clauses if c[0].rstrip(".") == name.rstrip(".")]
        if not clauses:
            raise BadInput(f"key file {path}: no key named {name!r}")
    elif len(clauses) > 1:
        names = ", ".join(c[0] for c in clauses)
        raise BadInput(f"key file {path} holds several keys ({names}): pick one with --key-name")
    key_name, body = clauses[0]
    algorithm = _ALGORITHM.search(body)
    secret = _SECRET.search(body)
    if secret is None:
        raise BadInput(f'key file {path}: key {key_name} has no secret "..."; line')
    return key_name, algorithm.group(1) if algorithm else DEFAULT_ALGORITHM, secret.group(1)


def _parse_private(text: str, path: Path) -> tuple[str, str, str]:
    """dnssec-keygen ``K<name>.+157+NNNNN.private`` (the FreeSWITCH wiki's HMAC-MD5 recipe)."""
    fields = dict(
        (k.strip(), v.strip()) for k, _, v in (ln.partition(":") for ln in text.splitlines()) if v
    )
    number = re.match(r"\d+", fields.get("Algorithm", ""))
    algorithm = _PRIVATE_ALGORITHMS.get(int(number.group())) if number else None
    if algorithm is None or "Key" not in fields:
        raise BadInput(f"key file {path}: not a dnssec-keygen HMAC .private file")
    match = re.match(r"K(.+?)\.?\+\d+\+\d+\.private$", path.name)
    if match is None:
        raise BadInput(f"key file {path}: cannot tell the key name from the file name")
    return match.group(1), algorithm, fields["Key"]
