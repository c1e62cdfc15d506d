"""`siplocate compare`: time per profile, and the agreement table against real clients.

1. Work per profile on a cached domain: for each example zone's domain (and the divergent
   test domains), the walk alone (`Resolver.observe` served from the cache) as the baseline,
   then `look` + every profile applied; printed per profile (target: under 100 ms).
2. Agreement (needs root, baresip, named, kamailio; pjsua2-python for the pjsua rows;
   linphone-cli, sofia-sip-bin and sipsak for theirs): real baresip, PJSIP, a Kamailio proxy
   with default DNS settings, siplocate `register`, Linphone's linphonec, sofia-sip's
   sip-options (the freeswitch profile) and sipsak in a network namespace of their own, on
   domains that divide the profiles; each profile's predicted server (or, for a weighted or
   answer-order pick, the servers it gives first attempts to) beside the one the real client
   reached. On the weights 1:3 domain
   baresip registers --runs accounts (its order is a fixed hash of the account): how many
   reached the server predicted for them, and the share each server got beside the
   profile's and RFC 2782's; pjsua registers --runs times (a weighted draw each time)
   beside its profile's share.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from siplocate import Resolver  # noqa: E402
from siplocate.profiles.catalogue import PROFILES  # noqa: E402
from siplocate.profiles.compare import compare, look  # noqa: E402

ZONES = [*sorted((ROOT / "examples" / "zones").glob("*.zone"))]
ZONES.append(ROOT / "tests" / "zones" / "diverge.test.zone")
DOMAINS = [
    "airties.test",
    "freeswitch.test",
    "grandstream.test",
    "onsip.test",
    "sipdomain.test",
    "tls-first.diverge.test",
    "udp-last.diverge.test",
    "weights.diverge.test",
    "se-flag.diverge.test",
]


async def timing(repeat: int) -> None:
    resolver = Resolver(zones=[str(z) for z in ZONES])
    print(f"compare on a cached domain ({len(PROFILES)} profiles, median of {repeat} runs)")
    print(f"{'domain':26} {'walk alone ms':>14} {'look+compare ms':>16} {'per profile ms':>15}")
    for domain in DOMAINS:
        await look(resolver, domain)  # warm the cache
        walk, full = [], []
        for _ in range(repeat):
            t0 = time.perf_counter()
            await resolver.observe(f"sip:{domain}")
            t1 = time.perf_counter()
            compare(await look(resolver, domain))
            t2 = time.perf_counter()
            walk.append((t1 - t0) * 1000)
            full.append((t2 - t1) * 1000)
        w, f = statistics.median(walk), statistics.median(full)
        print(f"{domain:26} {w:14.3f} {f:16.3f} {f / len(PROFILES):15.3f}")


def agreement(runs: int) -> None:
    from tests.fixtures.baresip import register_once
    from tests.fixtures.kamailio import PASSWORD
    from tests.fixtures.profiles_world import ALL_DOMAINS, start_world
    from tests.fixtures.profiles_world import DOMAINS as REAL
    from tests.fixtures.servers import require_binary
    from typer.testing import CliRunner

    from siplocate.cli import app

    if os.geteuid() != 0:
        print("agreement table skipped: needs root (network namespaces)")
        return
    bins = [require_binary(n, p) for n, p in (("named", "bind9"), ("kamailio", "kamailio"))]
    try:
        import pjsua2  # noqa: F401

        pjsua = True
    except ImportError:
        print("pjsua rows skipped: pip install pjsua2-python")
        pjsua = False
    with start_world(*bins, require_binary("baresip", "baresip")) as world:
        pw = world.workdir / "pw"
        pw.write_text(PASSWORD + "\n")
        print("\nagreement: predicted (profile) vs reached (real client) registrar")
        print(f"{'client':11} {'domain':24} {'predicted':42} {'reached':21} agree")
        for domain in [*REAL, "se-flag"]:
            name = f"{domain}.profiles.test"
            aor = f"sip:a@{name}"
            plans = world.plans(name, aor)
            got = register_once(world.ns, world.baresip, world.workdir, aor, PASSWORD, 4)
            _row("baresip", name, world.predicted(plans["baresip"]), got.registered)
            args = ["register", aor, "-n", "127.0.0.1:53", "--password-file", str(pw)]
            out = CliRunner().invoke(app, [*args, "-t", "udp,tcp,tls", "--t1", "100ms", "--json"])
            reg = json.loads(out.stdout).get("registered") if out.stdout.strip() else None
            reached = (reg["transport"], f"{reg['address']}:{reg['port']}") if reg else None
            _row("siplocate", name, world.predicted(plans["rfc3263"]), reached)
            if pjsua:
                got_pj = world.pjsua(aor, PASSWORD, 5)
                _row("pjsua", name, world.predicted(plans["pjsua"]), got_pj)
            node = world.through_proxy(name)
            _row(
                "kamailio",
                name,
                world.predicted(plans["kamailio"]),
                ("udp", node) if node else None,
            )
        clients = _console_clients()
        for domain in ALL_DOMAINS:
            name = f"{domain}.profiles.test"
            plans = world.plans(name)
            for key, label in (("linphone", "linphone"), ("freeswitch", "sip-options")):
                if key in clients:
                    got = _reach(world, clients, key, f"sip:a@{name}")
                    _row(label, name, world.candidates(plans[key]), got)
            if "sipsak" in clients:
                got = _reach(world, clients, "sipsak", f"sip:a@{name}")
                _row("sipsak", name, world.candidates(plans["sipsak"]), got)
            lb = world.through_proxy(name, proxy=world.proxy_lb)
            _row(
                "kamailio-lb",
                name,
                world.candidates(plans["kamailio-dns-srv-lb"]),
                ("udp", lb) if lb else None,
            )
        name = "weights.profiles.test"
        agree, counts = 0, {}
        for user in range(runs):
            aor = f"sip:user{user}@{name}"
            predicted = world.predicted(world.plans(name, aor)["baresip"])
            got = register_once(world.ns, world.baresip, world.workdir, aor, PASSWORD, 4)
            agree += predicted == got.registered
            server = got.registered[1] if got.registered else "none"
            counts[server] = counts.get(server, 0) + 1
        plans = world.plans(name)
        rfc = {f"{_addr(s.host)}:{s.port}": s.share for s in plans["rfc3263"].split}
        bare = {f"{_addr(s.host)}:{s.port}": s.share for s in plans["baresip"].split}
        print(
            f"\nweights 1:3, baresip with {runs} accounts: {agree}/{runs} reached the server "
            "predicted for their account"
        )
        print(f"{'server':22} {'reached':>8} {'baresip profile':>16} {'RFC 2782':>9}")
        for server in sorted(set(counts) | set(rfc)):
            n = counts.get(server, 0)
            print(
                f"{server:22} {n / runs:8.0%} {bare.get(server, 0):16.0%} {rfc.get(server, 0):9.0%}"
            )
        if pjsua:
            pj: dict[str, int] = {}
            for _ in range(runs):
                got_pj = world.pjsua(f"sip:a@{name}", PASSWORD, 5)
                server = got_pj[1] if got_pj else "none"
                pj[server] = pj.get(server, 0) + 1
            share = {f"{_addr(s.host)}:{s.port}": s.share for s in plans["pjsua"].split}
            print(f"\nweights 1:3, pjsua registered {runs} times (a weighted draw each time):")
            print(f"{'server':22} {'reached':>8} {'pjsua profile':>14}")
            for server in sorted(set(pj) | set(share)):
                print(f"{server:22} {pj.get(server, 0) / runs:8.0%} {share.get(server, 0):14.0%}")
        if "linphone" in clients:
            lin: dict[str, int] = {}
            for user in range(runs):
                got = _reach(world, clients, "linphone", f"sip:user{user}@{name}")
                server = got[1] if isinstance(got, tuple) else "none"
                lin[server] = lin.get(server, 0) + 1
            share = {f"{_addr(s.host)}:{s.port}": s.share for s in plans["linphone"].split}
            print(f"\nweights 1:3, linphone registered {runs} times (belle-sip's weighted pick):")
            print(f"{'server':22} {'reached':>8} {'linphone profile':>17}")
            for server in sorted(set(lin) | set(share)):
                print(f"{server:22} {lin.get(server, 0) / runs:8.0%} {share.get(server, 0):17.0%}")
    print(
        f"\n{sum(AGREED)}/{len(AGREED)} rows agree; {len(CLIENTS)} distinct real client programs: "
        + ", ".join(sorted(CLIENTS))
    )


def _console_clients() -> dict[str, str]:
    import shutil

    found = {
        key: shutil.which(binary)
        for key, binary in (
            ("linphone", "linphonec"),
            ("freeswitch", "sip-options"),
            ("sipsak", "sipsak"),
        )
    }
    for key, path in found.items():
        if path is None:
            print(f"{key} rows skipped: apt-get install linphone-cli sofia-sip-bin sipsak")
    return {k: v for k, v in found.items() if v}


def _reach(world: object, clients: dict[str, str], key: str, aor: str) -> object:
    from tests.fixtures.kamailio import PASSWORD
    from tests.fixtures.sipclients import linphone, sip_options, sipsak

    ns, workdir = world.ns, world.workdir  # type: ignore[attr-defined]
    probe = aor.replace("sip:a@", "sip:options-probe@")  # nobody registers it
    if key == "linphone":
        return linphone(ns, clients[key], workdir, aor, PASSWORD).reached
    if key == "freeswitch":
        return sip_options(ns, clients[key], probe).reached
    return sipsak(ns, clients[key], probe).reached


def _addr(host: str) -> str:
    return {"a": "127.0.0.2", "b": "127.0.0.3", "c": "127.0.0.4"}.get(host.split(".")[0], host)


def _row(client: str, domain: str, predicted: object, reached: object) -> None:
    """One agreement row; ``predicted`` is one server or the set a client draws from."""
    AGREED.append(predicted == reached or (isinstance(predicted, set) and reached in predicted))
    CLIENTS.add({"kamailio-lb": "kamailio"}.get(client, client))  # one program
    if isinstance(predicted, set):
        p = " | ".join(sorted(_show(x) for x in predicted))
    else:
        p = _show(predicted)
    print(f"{client:11} {domain:24} {p:42} {_show(reached):21} {'yes' if AGREED[-1] else 'NO'}")


AGREED: list[bool] = []
CLIENTS: set[str] = set()


def _show(server: object) -> str:
    return " ".join(server) if isinstance(server, tuple) else "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--runs", type=int, default=10, help="baresip runs on the weights domain")
    parser.add_argument("--no-real", action="store_true", help="skip the real-client table")
    args = parser.parse_args()
    asyncio.run(timing(args.repeat))
    if not args.no_real:
        agreement(args.runs)


if __name__ == "__main__":
    main()
