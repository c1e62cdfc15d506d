"""The ``static`` policies' resolution: configured IP addresses, no DNS at all.

``StaticLocator`` answers ``locate`` like ``siplocate.Resolver`` does, with the configured
primary and backups in order (``rules.static_target`` says what an address may be).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import BadInput
from ..target import Target, Transport
from .rules import static_target


@dataclass
class StaticResolution:
    """A resolution that is only a try list (it never expires: nothing was looked up)."""

    targets: list[Target]
    expires: float | None = None


class StaticLocator:
    """The ``static`` policy: a configured primary and backups, no DNS at all."""

    def __init__(self, servers: Sequence[str], transports: Sequence[Transport]) -> None:
        self.targets = [static_target(s, transports[0]) for s in servers]
        if not self.targets:
            raise BadInput("the static policy needs at least one server address")

    async def locate(self, target: str, *, key: object | None = None) -> StaticResolution:
        return StaticResolution(list(self.targets))
