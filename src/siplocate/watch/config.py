"""The watcher's settings: defaults, a TOML file (--config), and command-line overrides."""

from __future__ import annotations

import ssl
import sys
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..errors import BadInput
from ..limits import MAX_DOMAINS_IN_FLIGHT
from ..localfile import open_regular, read_text
from .guard import HttpLimits
from .monitor import CONCURRENCY
from .shard import Shard

DEFAULT_LISTEN = "127.0.0.1:9470"
PROBED = {"udp", "tcp", "tls"}  # what the SIP client can send OPTIONS over
_HTTP = HttpLimits()  # the defaults of the HTTP side's bounds
MAX_CONFIG_BYTES = 1024 * 1024  # a watch.toml for thousands of domains is far below this
MAX_DOMAINS = 1_000_000  # per --file: 250,000 trunks given to every shard fit many times over
MAX_CONCURRENCY = MAX_DOMAINS_IN_FLIGHT  # as --concurrency of the many-input commands


@dataclass
class WatchConfig:
    """Everything ``siplocate watch`` needs; see the README's watch section for the file."""

    domains: list[str] = field(default_factory=list)
    file: str | None = None  # more domains, one a line (--file; - is standard input)
    shard: str = "0/1"  # I/N: watch only the domains of shard I (watch/shard.py)
    interval: float = 5.0
    timeout: float | None = None  # per probe; default min(2 s, interval)
    concurrency: int = CONCURRENCY  # resolutions in flight at once (start-up, TTL expiry)
    listen: str = DEFAULT_LISTEN
    nameservers: list[str] = field(default_factory=list)
    zones: list[str] = field(default_factory=list)
    transports: str = "udp,tcp,tls"
    ca_file: str | None = None  # CA bundle for TLS targets (default: the system's)
    lint: bool = True
    probe_any: bool = False
    events: bool = True  # JSON lines on stdout
    webhook: str | None = None
    webhook_queue: int = 1000
    webhook_retries: int = 5
    publish: str | None = None  # redis://HOST:PORT/DB: share target health (watch/publish.py)
    allowed_hosts: list[str] = field(default_factory=list)  # Host header names besides ours
    max_connections: int = _HTTP.max_connections
    header_timeout: float = _HTTP.header_timeout
    idle_timeout: float = _HTTP.idle_timeout
    max_streams: int = _HTTP.max_streams
    max_probes: int = _HTTP.max_probes
    given: int = field(default=0, init=False, repr=False)  # domains before sharding

    @classmethod
    def load(cls, path: Path) -> WatchConfig:
        """Read a TOML file; unknown keys and wrong types are bad input (exit 2).

        Through the safe reader: a FIFO, a device or a huge file is refused at once."""
        text = read_text(path, "--config", MAX_CONFIG_BYTES)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise BadInput(f"config {path}: {exc}") from None
        hook = data.pop("webhook", None)
        if isinstance(hook, dict):
            for k, v in hook.items():
                data[f"webhook_{k}" if k != "url" else "webhook"] = v
        elif hook is not None:
            data["webhook"] = hook
        known = {f.name: f for f in fields(cls) if f.init}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise BadInput(f"config {path}: unknown setting(s): {', '.join(unknown)}")
        cfg = cls()
        for key, value in data.items():
            setattr(cfg, key, _check(path, key, value, getattr(cfg, key)))
        return cfg

    def validate(self) -> WatchConfig:
        """Check every setting; read --file; keep the domains of this shard (BadInput on
        any bad value). With --probe-any no domain is needed: /probe alone is served."""
        shard = self.parsed_shard()
        if self.file is not None:
            self.domains = [*self.domains, *read_domains(self.file)]
        if not self.domains and not self.probe_any:
            raise BadInput(
                "give at least one DOMAIN to watch (arguments, --file, or domains = [...] "
                "in --config), or --probe-any to answer /probe only"
            )
        if not 0 < self.interval <= 86400:
            raise BadInput(f"--interval must be between 0 and 86400 seconds, not {self.interval}")
        if self.timeout is not None and not 0 < self.timeout <= 60:
            raise BadInput(f"timeout must be between 0 and 60 seconds, not {self.timeout}")
        if not 0 < self.concurrency <= MAX_CONCURRENCY:
            raise BadInput(
                f"concurrency must be between 1 and {MAX_CONCURRENCY}, not {self.concurrency}"
            )
        names = list(dict.fromkeys(domain_name(d) for d in self.domains))
        self.given = len(names)
        self.domains = shard.select(names)
        wanted = {t.strip().lower() for t in self.transports.split(",") if t.strip()}
        if not wanted or not wanted <= PROBED:
            raise BadInput(
                f"watch probes over udp, tcp and tls only, not {self.transports!r} (--transports)"
            )
        parse_listen(self.listen)
        self.http_limits()
        if self.ca_file is not None:
            check_ca_file(self.ca_file)
        if self.publish is not None:
            from .publish import check_publish

            check_publish(self.publish)
        return self

    def parsed_shard(self) -> Shard:
        return Shard.parse(self.shard)

    def http_limits(self) -> HttpLimits:
        """The bounds of the HTTP side; BadInput when one is not positive."""
        for name in ("max_connections", "max_streams", "max_probes"):
            if not 0 < getattr(self, name) <= 1_000_000:
                raise BadInput(f"{name} must be between 1 and 1000000, not {getattr(self, name)}")
        for name in ("header_timeout", "idle_timeout"):
            if not 0 < getattr(self, name) <= 3600:
                raise BadInput(
                    f"{name} must be between 0 and 3600 seconds, not {getattr(self, name)}"
                )
        return HttpLimits(
            max_connections=self.max_connections,
            header_timeout=self.header_timeout,
            idle_timeout=self.idle_timeout,
            max_streams=self.max_streams,
            max_probes=self.max_probes,
        )


def read_domains(path: str) -> list[str]:
    """Domains from a file, or standard input for ``-``, by the many-input commands' line
    rule (cli/bulk.py: one a line, blank lines and ``#`` comments skipped, each line
    bounded); a file through the safe opener (regular files only). A bad line is one error
    naming the file and the line; more than MAX_DOMAINS lines is refused, not held."""
    from ..cli.bulk import read_lines  # the one line rule (the CLI is loaded by then)

    stream = sys.stdin.buffer if path == "-" else open_regular(path, "--file")
    out: list[str] = []
    try:
        for line in read_lines(stream, "<stdin>" if path == "-" else path):
            if line.problem is not None:
                raise BadInput(f"--file {line.problem}")
            try:
                out.append(domain_name(line.text))
            except BadInput as exc:
                raise BadInput(f"--file {line.where}: {exc}") from None
            if len(out) > MAX_DOMAINS:
                raise BadInput(f"--file {line.where}: more than {MAX_DOMAINS} domains")
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    return out


def check_ca_file(path: str) -> None:
    """Read the CA bundle now, through the safe reader, and make sure it holds a certificate:
    a FIFO or a bad file is one line at start, not a watcher frozen at the first TLS probe."""
    text = read_text(path, "--ca-file")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=text)
    except ssl.SSLError as exc:
        raise BadInput(f"--ca-file {path}: no usable PEM certificate ({exc.reason})") from None


def _check(path: Path, key: str, value: object, default: object) -> object:
    """``value`` if it has the type the setting needs (ints accepted for floats)."""
    if key in ("domains", "nameservers", "zones", "allowed_hosts"):
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        raise BadInput(f"config {path}: {key} must be a list of strings")
    if key in ("interval", "timeout", "header_timeout", "idle_timeout"):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise BadInput(f"config {path}: {key} must be a number of seconds")
    want = type(default) if default is not None else str
    if isinstance(value, want) and not (want is int and isinstance(value, bool)):
        return value
    raise BadInput(f"config {path}: {key} must be a {want.__name__}")


def domain_name(text: str) -> str:
    """A bare domain from ``example.com``, ``sip:example.com`` or ``sip:user@example.com``.

    What may be watched, and what ``/probe`` may check: a DNS name only. An IP address, a
    port or a URI parameter (``;transport=tcp``) would aim OPTIONS at any service, so each
    is refused, not stripped."""
    d = text.strip()
    if d.lower().startswith(("sip:", "sips:")):
        d = d.split(":", 1)[1].split("@")[-1]
    if any(c in d for c in ";?"):
        raise BadInput(f"{text!r}: give a domain name, without URI parameters")
    d = d.rstrip(".").lower()
    labels = d.split(".")
    if (
        not d
        or len(d) > 253
        or any(not 0 < len(label) <= 63 for label in labels)
        or not all(c.isalnum() or c in "-_." for c in d)
    ):
        raise BadInput(f"not a domain name: {text!r} (no ports, no addresses)")
    if labels[-1].isdigit():  # 127.0.0.1, 127.1, 2130706433: addresses; no TLD is numeric
        raise BadInput(f"{text!r} is an IP address; give a domain name")
    return d


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` -> (host, port); BadInput otherwise."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    number = port.isascii() and port.isdigit()  # '²' is a digit to isdigit, not to int()
    if not sep or not host or not number or not 0 <= int(port) <= 65535:
        raise BadInput(f"--listen wants HOST:PORT (e.g. 127.0.0.1:9470), not {text!r}")
    return host, int(port)
