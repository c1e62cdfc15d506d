"""Namespaces for ``bench_watch.py --scale --netns``: each shard on a "machine" of its own.

One network namespace per shard (its own loopback and ephemeral port range, as a separate
machine has) and a hub namespace holding BIND and the SIP responders (the network's servers),
joined by one veth pair per shard. Addresses are 10.254.0.0/16, inside these namespaces
only; nothing is added to the root namespace. ``close()`` deletes the namespaces (their veth
pairs go with them).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fixtures.netns import NetNs

SERVICE_NET = "10.254.1"  # on the hub's loopback: responders .1-.5, BIND .53


def shard_address(i: int) -> str:
    """Shard ``i``'s address on its veth (its HTTP listens there, scraped from the hub)."""
    return f"10.254.{10 + i}.2"


def enter(name: str) -> None:
    """Move this (single-threaded, forked) process into namespace ``name``."""
    NetNs(name=name).enter()


@dataclass
class Fleet:
    """A hub namespace and ``shards`` shard namespaces, each wired to the hub by a veth."""

    shards: int
    tag: str = field(default_factory=lambda: f"slb{os.getpid()}")
    hub: NetNs | None = None
    nodes: list[NetNs] = field(default_factory=list)

    @property
    def dns(self) -> str:
        return f"{SERVICE_NET}.53"

    def addresses(self, count: int) -> list[str]:
        """The responder addresses (targets' A records), all on the hub."""
        return [f"{SERVICE_NET}.{k}" for k in range(1, count + 1)]

    def _ip(self, *argv: str) -> None:
        subprocess.run(["ip", *argv], check=True, capture_output=True, timeout=10)

    def create(self, targets_per_domain: int) -> Fleet:
        self.hub = NetNs(name=f"{self.tag}-hub").create()
        hub = self.hub.name
        for a in [*self.addresses(targets_per_domain), self.dns]:
            self._ip("-n", hub, "addr", "add", f"{a}/32", "dev", "lo")
        for i in range(self.shards):
            node = NetNs(name=f"{self.tag}-s{i}").create()
            self.nodes.append(node)
            here, there = f"10.254.{10 + i}.1", shard_address(i)
            self._ip("-n", hub, "link", "add", f"s{i}", "type", "veth", "peer", "name", "hub")
            self._ip("-n", hub, "link", "set", "hub", "netns", node.name)
            self._ip("-n", hub, "addr", "add", f"{here}/24", "dev", f"s{i}")
            self._ip("-n", hub, "link", "set", f"s{i}", "up")
            self._ip("-n", node.name, "addr", "add", f"{there}/24", "dev", "hub")
            self._ip("-n", node.name, "link", "set", "hub", "up")
            self._ip("-n", node.name, "route", "add", f"{SERVICE_NET}.0/24", "via", here)
        return self

    def close(self) -> None:
        """Leave the hub (if entered) and delete every namespace made, hub last."""
        for node in self.nodes:
            node.close()
        if self.hub is not None:
            self.hub.close()
