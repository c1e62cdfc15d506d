"""The client's settings, checked: one clear ``BadInput`` per bad setting, before anything
runs; and where its targets come from (``siplocate.Resolver``, or configured addresses).
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from ..errors import BadInput
from ..resolver.static import StaticLocator
from ..sip.auth import ANY_REALM
from ..sip.transaction import Timers
from ..sip.transport import SUPPORTED, tls_context
from ..target import Target, Transport, parse_transports
from .failover import Policy
from .walker import Rules


class ResolutionLike(Protocol):
    """What the client needs from a resolution: the ordered try list and when it expires."""

    @property
    def targets(self) -> Sequence[Target]: ...

    @property
    def expires(self) -> float | None: ...


class Locator(Protocol):
    """``siplocate.Resolver`` as the client sees it."""

    async def locate(self, target: str, *, key: object | None = None) -> ResolutionLike: ...


def realms_of(realms: Sequence[str] | None) -> frozenset[str]:
    """The digest realms the password is for (``*``, any, unless given)."""
    result = frozenset(realms) if realms else frozenset({ANY_REALM})
    if "" in result:
        raise BadInput("a realm the password is for cannot be empty ('*' means any)")
    return result


def transports_of(transports: Sequence[str | Transport] | str) -> tuple[Transport, ...]:
    """The transports asked for, in order; only those this client speaks."""
    result = parse_transports(tuple(transports) if not isinstance(transports, str) else transports)
    unsupported = [t for t in result if t not in SUPPORTED]
    if unsupported:
        raise BadInput(
            f"this client speaks udp, tcp and tls only, not {', '.join(map(str, unsupported))}"
        )
    return tuple(result)


def locator_for(
    policy: Policy | str,
    static: Sequence[str] | None,
    resolver: Locator | None,
    nameservers: Sequence[str] | None,
    zones: Sequence[Path] | None,
    transports: Sequence[Transport],
) -> tuple[Policy, Locator]:
    """The policy (configured addresses make it ``static``) and where targets come from."""
    chosen = Policy.parse(policy) if isinstance(policy, str) else policy
    if static and not chosen.configured:
        chosen = Policy.STATIC
    if chosen is Policy.CONFIGURED_IP and len(static or []) > 3:
        raise BadInput("configured-ip takes a primary and at most two backups")
    if chosen.configured:
        return chosen, StaticLocator(static or [], transports)
    if resolver is not None:
        return chosen, resolver
    from ..resolver import Resolver

    return chosen, Resolver(
        nameservers=list(nameservers) if nameservers else None,
        zones=list(zones) if zones else None,
        transports=tuple(t.value for t in transports),
    )


def rules_for(
    failover_after: float | None, tries: int, failover_on: frozenset[int], timers: Timers
) -> Rules:
    """The walker's rules: the failover budget, tries per target, what fails over."""
    if failover_after is not None and not failover_after > 0:
        raise BadInput(f"the failover budget must be positive, not {failover_after}")
    if tries < 1:
        raise BadInput(f"tries per target must be at least 1, not {tries}")
    return Rules(
        budget=failover_after, tries=tries, failover_on=frozenset(failover_on), cancel_wait=timers.b
    )


def ca_context(ca_file: Path | None) -> ssl.SSLContext | None:
    """The TLS context for ``ca_file`` (None: made from the system's store when needed)."""
    if ca_file is None:
        return None
    try:
        return tls_context(ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise BadInput(f"CA file {ca_file}: {getattr(exc, 'strerror', None) or exc}") from None
