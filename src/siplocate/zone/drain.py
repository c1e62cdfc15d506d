"""Take one server out of rotation and put it back exactly as it was.

Strategy: the drained target's SRV records move to priority 65535, behind every other
priority (the off-site tier included), with weight and port unchanged. Priority is the one
SRV field every client honours -- clients that ignore weights (baresip orders by a hash) would
still pick a weight-0 target -- and the server stays a last resort if everything else is down.
The records as they were are kept in a state file, so ``undrain`` restores them byte for byte,
guarded by exact-RRset prerequisites on what ``drain`` wrote.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.name
import dns.rdatatype

from ..errors import BadInput, NotFound
from ..target import TRANSPORTS
from .update import Change, Server, rdataset

DRAIN_PRIORITY = 65535
SRV = dns.rdatatype.SRV


def default_state_file() -> Path:
    """``$XDG_STATE_HOME/siplocate/drains.json`` (default ``~/.local/state/...``)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "siplocate" / "drains.json"


@dataclass(frozen=True, slots=True)
class DrainResult:
    """What drain/undrain changed and when clients that cached the old records let go."""

    zone: dns.name.Name
    host: dns.name.Name
    changes: list[Change]
    done_at: float
    ttl: int

    @property
    def clear_at(self) -> float:
        """Unix time after which no client still holds the pre-change SRV records."""
        return self.done_at + self.ttl


def _host_name(host: str, domain: dns.name.Name) -> dns.name.Name:
    try:
        return dns.name.from_text(host, domain)
    except dns.exception.DNSException as exc:
        raise BadInput(f"invalid host {host!r}: {exc}") from None


def _state_key(domain: dns.name.Name, host: dns.name.Name) -> str:
    return f"{domain} {host}"


def _load_state(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise BadInput(f"cannot read drain state {path}: {exc}") from None
    if not isinstance(data, dict):
        raise BadInput(f"drain state {path} is not a JSON object")
    return data


def _save_state(path: Path, data: dict[str, Any]) -> None:
    """Write atomically (temp file + rename), readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".drains-")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def drain(
    server: Server, domain: dns.name.Name, host: str, state_file: Path | None = None
) -> DrainResult:
    """Move ``host``'s SRV records (every SIP transport of ``domain``) behind all others."""
    state_path = state_file or default_state_file()
    target = _host_name(host, domain)
    state = _load_state(state_path)
    key = _state_key(domain, target)
    if key in state:
        raise BadInput(f"{target} is already drained in {domain} (see {state_path}); undrain first")
    zone = server.find_zone(domain)
    names = [dns.name.from_text(info.srv_prefix, domain) for info in TRANSPORTS.values()]
    live = server.read(zone, [(n, SRV) for n in names])
    changes: list[Change] = []
    for (name, rdtype), old in sorted(live.items(), key=lambda kv: kv[0][0].to_text()):
        if not any(r.target == target for r in old):
            continue
        texts = [
            f"{DRAIN_PRIORITY} {r.weight} {r.port} {r.target}" if r.target == target
            else r.to_text()
            for r in old
        ]  # fmt: skip
        new = rdataset(rdtype, old.ttl, texts)
        if new != old:
            changes.append(Change((name, rdtype), old, new))
    if not changes:
        found = any(any(r.target == target for r in rds) for rds in live.values())
        if found:
            raise BadInput(f"{target} is already at priority {DRAIN_PRIORITY} in {domain}")
        raise NotFound(f"no SRV record of {domain} names {target}")
    server.update(zone, changes)
    done = time.time()
    ttl = max(ch.old.ttl for ch in changes if ch.old is not None)
    state[key] = {
        "zone": str(zone),
        "drained_at": done,
        "ttl": ttl,
        "rrsets": [
            {
                "name": str(ch.name),
                "ttl": ch.old.ttl if ch.old else 0,
                "before": [r.to_text() for r in ch.old or ()],
                "after": [r.to_text() for r in ch.new or ()],
            }
            for ch in changes
        ],
    }
    _save_state(state_path, state)
    return DrainResult(zone, target, changes, done, ttl)


def undrain(
    server: Server, domain: dns.name.Name, host: str, state_file: Path | None = None
) -> DrainResult:
    """Restore exactly the SRV records ``drain`` replaced, if nobody changed them since."""
    state_path = state_file or default_state_file()
    target = _host_name(host, domain)
    state = _load_state(state_path)
    key = _state_key(domain, target)
    entry = state.get(key)
    if entry is None:
        raise NotFound(f"{target} is not drained in {domain} (nothing recorded in {state_path})")
    zone = dns.name.from_text(entry["zone"])
    changes = []
    for item in entry["rrsets"]:
        name = dns.name.from_text(item["name"])
        after = rdataset(SRV, int(item["ttl"]), item["after"])
        before = rdataset(SRV, int(item["ttl"]), item["before"])
        changes.append(Change((name, SRV), after, before))
    server.update(zone, changes)
    del state[key]
    _save_state(state_path, state)
    return DrainResult(zone, target, changes, time.time(), int(entry["ttl"]))
