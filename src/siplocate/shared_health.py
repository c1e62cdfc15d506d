"""The fleet health contract in Redis (README: "Shared health in Redis"): one prober writes,
many clients read. Pure parts only (names, encoding, expiry, reconnect backoff); the I/O is
in ``watch.publish`` (writer) and ``client.shared_health`` (reader).

Hash ``siplocate:health``: field ``TRANSPORT:ADDRESS:PORT`` (IPv6 in brackets), value JSON
``{"up", "since", "expires", "rtt_ms", "by"}``; the same JSON plus ``"field"`` goes out on the
pub/sub channel ``siplocate:health``. Health is per (transport, address, port), never per
domain or NAPTR; an entry past ``expires`` (Unix time) says nothing.
"""

from __future__ import annotations

import ipaddress
import json
import random
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import ModuleType

from .clock import Clock
from .errors import BadInput
from .target import Transport

HASH = "siplocate:health"
CHANNEL = "siplocate:health"
#: Longest field or value read from Redis; longer ones are not ours and are ignored.
MAX_TEXT = 1024
TRANSPORTS = frozenset(t.value for t in Transport)  # as the client keys them (failover.key)

TargetKey = tuple[str, str, int]


def encode_field(key: TargetKey) -> str:
    """``udp:192.0.2.1:5060``, ``tcp:[2001:db8::1]:5060``: the hash field of one target."""
    transport, address, port = key
    host = f"[{address}]" if ":" in address else address
    return f"{transport}:{host}:{port}"


def decode_field(text: str) -> TargetKey:
    """The target key of a hash field; ValueError when it is not one."""
    if len(text) > MAX_TEXT:
        raise ValueError("field too long")
    transport, _, rest = text.partition(":")
    host, sep, port_text = rest.rpartition(":")
    if transport not in TRANSPORTS or not sep or not port_text.isdigit():
        raise ValueError(f"not TRANSPORT:ADDRESS:PORT: {text!r}")
    bracketed = host.startswith("[") and host.endswith("]")
    address = ipaddress.ip_address(host[1:-1] if bracketed else host)
    if (address.version == 6) != bracketed:
        raise ValueError(f"IPv6 addresses go in brackets, IPv4 without: {text!r}")
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"port out of range: {text!r}")
    return transport, str(address), port


@dataclass(frozen=True, slots=True)
class Entry:
    """One target's shared verdict: up or down since ``since``, good until ``expires``."""

    up: bool
    since: float
    expires: float
    rtt_ms: float | None
    by: str

    def fresh(self, now: float) -> bool:
        """Whether the entry still says anything at wall time ``now``."""
        return now < self.expires

    def as_dict(self) -> dict[str, object]:
        rtt = None if self.rtt_ms is None else round(self.rtt_ms, 2)
        return {
            "up": self.up,
            "since": round(self.since, 3),
            "expires": round(self.expires, 3),
            "rtt_ms": rtt,
            "by": self.by,
        }

    def encode(self) -> str:
        return json.dumps(self.as_dict(), separators=(",", ":"))

    @classmethod
    def decode(cls, text: str | bytes) -> Entry:
        """An entry from its JSON; ValueError when it is not one."""
        if len(text) > MAX_TEXT:
            raise ValueError("value too long")
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return _entry(data)


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    return float(value)


def _entry(data: dict[str, object]) -> Entry:
    up, by, rtt = data.get("up"), data.get("by"), data.get("rtt_ms")
    if not isinstance(up, bool):
        raise ValueError("up must be true or false")
    if not isinstance(by, str):
        raise ValueError("by must be a string")
    return Entry(
        up,
        _number(data.get("since"), "since"),
        _number(data.get("expires"), "expires"),
        None if rtt is None else _number(rtt, "rtt_ms"),
        by,
    )


def encode_message(field: str, entry: Entry) -> str:
    """What goes out on the channel: the entry's JSON plus its hash field."""
    return json.dumps({"field": field, **entry.as_dict()}, separators=(",", ":"))


def decode_message(text: str | bytes) -> tuple[TargetKey, Entry]:
    """The target and entry of one channel message; ValueError when it is not one."""
    if len(text) > MAX_TEXT:
        raise ValueError("message too long")
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("field"), str):
        raise ValueError("not a health message")
    return decode_field(data["field"]), _entry(data)


def redis_url(text: str, option: str) -> str:
    """``text`` when it is a redis:// (or rediss://, unix://) URL; BadInput naming ``option``."""
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.hostname or parts.path):
        raise BadInput(f"{option}: expected redis://HOST:PORT/DB, not {text!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError when the port is not a number
        db = parts.path.strip("/")
        if parts.scheme != "unix" and db and not db.isdigit():
            raise ValueError(db)
    except ValueError:
        raise BadInput(f"{option}: expected redis://HOST:PORT/DB, not {text!r}") from None
    return text


def redis_module() -> ModuleType:
    """redis-py's asyncio API, or BadInput saying how to install it."""
    try:
        import redis.asyncio
    except ImportError:
        raise BadInput("shared health needs redis-py: pip install 'siplocate[redis]'") from None
    return redis.asyncio


class Backoff:
    """Reconnect delays: ``initial`` doubling up to ``cap``, each scaled by a random factor
    in [0.5, 1] so a fleet that lost Redis together does not come back in one burst."""

    def __init__(
        self,
        initial: float = 0.5,
        cap: float = 10.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if not 0 < initial <= cap:
            raise ValueError("backoff needs 0 < initial <= cap")
        self.initial, self.cap, self.rng = initial, cap, rng
        self.failures = 0

    def next(self) -> float:
        """The delay before the next try (one more failure counted)."""
        delay = min(self.cap, self.initial * 2 ** min(self.failures, 64))
        self.failures += 1
        return float(delay * (0.5 + 0.5 * self.rng()))

    def reset(self) -> None:
        """Connected: the next loss starts from ``initial`` again."""
        self.failures = 0


async def keep_connected(
    session: Callable[[], Awaitable[None]],
    backoff: Backoff,
    clock: Clock,
    lost: Callable[[Exception], None],
) -> None:
    """Run ``session`` again and again: it returns or raises when its connection ends
    (``lost`` hears why), then a backoff delay passes. ``session`` resets ``backoff`` once
    it has connected. Ends only by cancellation."""
    while True:
        try:
            await session()
        except Exception as exc:  # any failure of the link: fall back, retry later
            lost(exc)
        await clock.sleep(backoff.next())
