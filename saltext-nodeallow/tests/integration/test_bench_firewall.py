# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Benchmark: the state's own time per backend beside the raw tool loading the same addresses, in one namespace.

For each size the state (``engine.managed``, what ``nodeallow.managed`` runs) applies a list from
scratch, runs again unchanged, and applies a change of 100 addresses (50 out, 50 in); then
``nodeallow.apply_delta`` applies another such change (nftables and ipset). Measured in
turns with it, in the same namespace: the physical anchors, i.e. the raw tool loading the same
addresses (``nft -f`` of our own rendered table and of a plain hash set; ``ipset restore``;
``iptables-restore``), and the raw delta (a hash set's / an ipset's ``del`` + ``add`` of the same
100). Medians and ratios go to docs/benchmarks.md.

Quick by default (part of ``make test``: 1,000 addresses, one run, every backend);
``NODEALLOW_BENCH=1`` runs 1k/10k/100k (per-address iptables up to 10k), medians of
``NODEALLOW_BENCH_RUNS`` (default 5); ``NODEALLOW_BENCH_SIZES=10000,100000`` picks sizes.
"""

import ipaddress
import os
import random
import statistics
import subprocess
import tempfile
import time

import pytest

from saltext.nodeallow import deltas
from saltext.nodeallow.firewall import delta, engine, naming, nftables, xtables
from saltext.nodeallow.protocol.canonical import digest, parse_list
from tests.support import netns as netns_support

FULL = bool(os.environ.get("NODEALLOW_BENCH"))
SIZES = tuple(int(n) for n in os.environ.get("NODEALLOW_BENCH_SIZES", "").split(",") if n) or (
    (1000, 10000, 100000) if FULL else (1000,)
)
RUNS = int(os.environ.get("NODEALLOW_BENCH_RUNS", "5")) if FULL else 1
# Per-address rules are linear per packet; beyond 10k they are not a supported choice (docs/firewall.md).
IPTABLES_MAX = 10000
CHANGED = 100
ALLOWLIST = "prod/bench"


def addresses(count, seed):
    """A canonical list like a big cluster's: 80% IPv4 and 20% IPv6 host routes, scattered, 0.2% prefixes."""
    rng = random.Random(seed)
    nets = set()
    while len(nets) < count:
        pick = rng.random()
        if pick < 0.002:
            nets.add(ipaddress.ip_network((rng.randrange(11 << 24, 99 << 24) & ~0xFF, 24)))
        elif pick < 0.8:
            nets.add(ipaddress.ip_network((rng.randrange(11 << 24, 99 << 24), 32)))
        else:
            nets.add(ipaddress.ip_network(((0x20010DB8 << 96) | rng.getrandbits(64), 128)))
    out = []
    for version in (4, 6):
        out += [str(n) for n in ipaddress.collapse_addresses(n for n in nets if n.version == version)]
    return out


def changed(base, seed):
    """``base`` with 50 host routes taken out and 50 new ones in (a 100-address change)."""
    rng = random.Random(seed)
    hosts = [a for a in base if a.endswith("/32")]
    out = set(base) - set(rng.sample(hosts, CHANGED // 2))
    while len(out) < len(base):
        out.add(str(ipaddress.ip_network((rng.randrange(100 << 24, 120 << 24), 32))))
    return parse_list(sorted(out, key=lambda a: ipaddress.ip_network(a).version)).entries


def pillar(backend, entries, sequence):
    """The ``nodeallow`` pillar the ext_pillar would serve for one rule on ``ALLOWLIST``."""
    cluster, name = ALLOWLIST.split("/")
    return {
        "backend": backend,
        "rules": [{"allowlist": ALLOWLIST, "proto": "tcp", "ports": [5432, "8000-8100"]}],
        "allowlists": {
            ALLOWLIST: {
                "cluster": cluster,
                "allowlist": name,
                "sequence": sequence,
                "digest": digest(entries),
                "generated_at": "2026-12-02T00:00:00Z",
                "addresses": list(entries),
                "retired": False,
            }
        },
    }


class Bench:
    """One namespace, one minion cachedir, and timers for the state and the raw tools."""

    def __init__(self, ns, cachedir):
        """Use namespace ``ns`` and last-known-good store below ``cachedir``."""
        self.ns = ns
        self.opts = {"cachedir": cachedir, "nodeallow_netns": ns.name}

    def reset(self):
        """Empty the namespace's firewall and forget the last-known-good store."""
        self.ns.run(["nft", "flush", "ruleset"])
        self.ns.run(["ipset", "destroy"])
        for tool in ("iptables", "ip6tables"):
            self.ns.run([tool, "-F"])
            self.ns.run([tool, "-X"])
        store = os.path.join(self.opts["cachedir"], "nodeallow", "last-good.json")
        if os.path.exists(store):
            os.unlink(store)

    def state(self, data, expect_changes):
        """Seconds the state takes to apply ``data``; fails unless it succeeds with (or without) changes."""
        started = time.perf_counter()
        ret = engine.managed(self.opts, data)
        took = time.perf_counter() - started
        assert ret["result"] is True, ret["comment"]
        assert bool(ret["changes"]) == expect_changes, ret["changes"]
        return took

    def delta(self, old, new, sequence):
        """Seconds ``nodeallow.apply_delta`` takes from ``old`` (applied at ``sequence``) to ``new``."""
        records = [
            pillar("nftables", entries, seq)["allowlists"][ALLOWLIST]
            for entries, seq in ((old, sequence), (new, sequence + 1))
        ]
        payload = deltas.compose(ALLOWLIST, [deltas.step(*records)], sequence)
        started = time.perf_counter()
        ret = delta.apply(self.opts, [payload])
        took = time.perf_counter() - started
        assert ret["result"] is True and ret["changes"], ret
        return took

    def raw(self, argv, stdin=None, file_text=None):
        """Seconds one raw tool command takes inside the namespace (input as a file or on stdin)."""
        path = None
        if file_text is not None:
            fd, path = tempfile.mkstemp(suffix=".nft")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(file_text)
            argv = [*argv, path]
        try:
            started = time.perf_counter()
            proc = subprocess.run(
                ["ip", "netns", "exec", self.ns.name, *argv], input=stdin, capture_output=True, text=True, check=False
            )
            took = time.perf_counter() - started
        finally:
            if path:
                os.unlink(path)
        assert proc.returncode == 0, proc.stderr
        return took


def plain_hash_sets(entries, table="raw"):
    """``nft -f`` text of a table with a plain hash set of host routes (and an interval set of prefixes) per family."""
    out = [f"table inet {table} {{}}", f"delete table inet {table}", f"table inet {table} {{"]
    for family, kind in ((4, "ipv4_addr"), (6, "ipv6_addr")):
        suffix = "/32" if family == 4 else "/128"
        family_entries = [a for a in entries if (":" in a) == (family == 6)]
        hosts = [a[: -len(suffix)] for a in family_entries if a.endswith(suffix)]
        nets = [a for a in family_entries if not a.endswith(suffix)]
        for name, flags, elements in ((f"h{family}", "", hosts), (f"p{family}", " flags interval;", nets)):
            body = f" elements = {{ {', '.join(elements)} }}" if elements else ""
            out.append(f"\tset {name} {{ type {kind};{flags}{body} }}")
    out.append("}")
    return "\n".join(out) + "\n"


def hash_set_delta(old, new, table="raw"):
    """``nft -f`` text of the element deletes and adds turning the plain hash sets of ``old`` into ``new``."""
    out = []
    for verb, entries in (("delete", sorted(set(old) - set(new))), ("add", sorted(set(new) - set(old)))):
        for family in (4, 6):
            suffix = "/32" if family == 4 else "/128"
            hosts = [a[: -len(suffix)] for a in entries if (":" in a) == (family == 6) and a.endswith(suffix)]
            if hosts:
                out.append(f"{verb} element inet {table} h{family} {{ {', '.join(hosts)} }}")
    return "\n".join(out) + "\n"


def ipset_input(entries):
    """``ipset restore`` text creating and filling one hash:net set per family."""
    out = []
    for family, name in ((4, "inet"), (6, "inet6")):
        members = [a for a in entries if (":" in a) == (family == 6)]
        out.append(f"create raw{family} hash:net family {name} maxelem {max(65536, len(members))}")
        out += [f"add raw{family} {m}" for m in members]
    return "\n".join(out) + "\n"


def ipset_delta(old, new):
    """``ipset restore -exist`` text of the ``del`` and ``add`` lines turning ``old`` into ``new``."""
    out = [f"del raw{6 if ':' in a else 4} {a}" for a in sorted(set(old) - set(new))]
    out += [f"add raw{6 if ':' in a else 4} {a}" for a in sorted(set(new) - set(old))]
    return "\n".join(out) + "\n"


def iptables_input(entries, family):
    """``iptables-restore --noflush`` text of our chain with one rule per address (as the backend writes it)."""
    lines = [
        xtables.line(family, f"-s {a} -p tcp -m multiport --dports 5432,8000:8100 -j ACCEPT", f"raw ipv{family}")
        for a in entries
        if (":" in a) == (family == 6)
    ]
    return xtables.render(lines, add_jump=False)


def median(values):
    """The median, in milliseconds."""
    return statistics.median(values) * 1000


@pytest.fixture
def bench(netns, tmp_path):
    """A :class:`Bench` in a fresh namespace."""
    return Bench(netns, str(tmp_path))


def _run_nftables(bench, base, new):
    """Times of the nftables backend and its anchors, one turn each."""
    times = {}
    bench.reset()
    times["state full"] = bench.state(pillar("nftables", base, 1), True)
    times["state unchanged"] = bench.state(pillar("nftables", base, 1), False)
    times["state 100 changed"] = bench.state(pillar("nftables", new, 2), True)
    # The same size of change by delta (nodeallow.apply_delta), from the list just applied.
    times["delta 100 changed"] = bench.delta(new, changed(new, seed=len(new) + 7), 2)
    want = engine.desired.build(pillar("nftables", base, 1), {})
    bench.reset()
    times["raw nft -f, our table"] = bench.raw(["nft", "-f"], file_text=nftables.render(want))
    bench.reset()
    times["raw nft -f, plain hash sets"] = bench.raw(["nft", "-f"], file_text=plain_hash_sets(base))
    times["raw hash set delta"] = bench.raw(["nft", "-f"], file_text=hash_set_delta(base, new))
    return times


def _run_ipset(bench, base, new):
    """Times of the ipset backend and its anchors, one turn each."""
    times = {}
    bench.reset()
    times["state full"] = bench.state(pillar("ipset", base, 1), True)
    times["state unchanged"] = bench.state(pillar("ipset", base, 1), False)
    times["state 100 changed"] = bench.state(pillar("ipset", new, 2), True)
    times["delta 100 changed"] = bench.delta(new, changed(new, seed=len(new) + 7), 2)
    bench.reset()
    times["raw ipset restore"] = bench.raw(["ipset", "restore"], stdin=ipset_input(base))
    times["raw ipset delta"] = bench.raw(["ipset", "restore", "-exist"], stdin=ipset_delta(base, new))
    return times


def _run_iptables(bench, base, new):
    """Times of the per-address iptables backend and its anchor, one turn each."""
    times = {}
    bench.reset()
    times["state full"] = bench.state(pillar("iptables", base, 1), True)
    times["state unchanged"] = bench.state(pillar("iptables", base, 1), False)
    times["state 100 changed"] = bench.state(pillar("iptables", new, 2), True)
    bench.reset()
    raw = 0.0
    for family, tool in ((4, "iptables-restore"), (6, "ip6tables-restore")):
        raw += bench.raw([tool, "--noflush"], stdin=iptables_input(base, family))
    times["raw iptables-restore"] = raw
    return times


RATIOS = {
    "nftables": [
        ("full / raw nft -f of our table", "state full", "raw nft -f, our table"),
        ("full / raw nft -f of plain hash sets", "state full", "raw nft -f, plain hash sets"),
        ("100 changed / raw hash set delta", "state 100 changed", "raw hash set delta"),
        ("100 changed by delta / raw hash set delta", "delta 100 changed", "raw hash set delta"),
    ],
    "ipset": [
        ("full / raw ipset restore", "state full", "raw ipset restore"),
        ("100 changed / raw ipset delta", "state 100 changed", "raw ipset delta"),
        ("100 changed by delta / raw ipset delta", "delta 100 changed", "raw ipset delta"),
    ],
    "iptables": [
        ("full / raw iptables-restore", "state full", "raw iptables-restore"),
        ("100 changed / raw iptables-restore", "state 100 changed", "raw iptables-restore"),
    ],
}


@pytest.mark.parametrize("backend", ["nftables", "ipset", "iptables"])
def test_backend_time_beside_the_raw_tools(bench, backend, capsys):
    """The state's own time per scenario and size, the raw anchors measured in turns with it, and their ratios."""
    runner = {"nftables": _run_nftables, "ipset": _run_ipset, "iptables": _run_iptables}[backend]
    rows = []
    for size in SIZES:
        if backend == "iptables" and size > IPTABLES_MAX:
            continue
        base = addresses(size, seed=size)
        new = changed(base, seed=size + 1)
        samples = {}
        for _ in range(RUNS):
            for name, took in runner(bench, base, new).items():
                samples.setdefault(name, []).append(took)
        medians = {name: median(values) for name, values in samples.items()}
        rows.append((size, medians))
    bench.reset()
    with capsys.disabled():
        print(f"\n{backend}: medians of {RUNS} run(s), ms (ratios: state / raw anchor, same run)")
        for size, medians in rows:
            print(f"  {size:>7} addresses: " + ", ".join(f"{name} {value:.1f}" for name, value in medians.items()))
            print(
                "  "
                + " " * 19
                + ", ".join(f"{label} {medians[a] / medians[b]:.2f}x" for label, a, b in RATIOS[backend])
            )
    assert rows, "no size ran"


def test_nft_sets_hold_what_was_benchmarked(bench):
    """The benchmark's state runs really load the addresses: the kernel holds exactly the changed list."""
    base = addresses(SIZES[0], seed=3)
    new = changed(base, seed=4)
    bench.reset()
    bench.state(pillar("nftables", base, 1), True)
    bench.state(pillar("nftables", new, 2), True)
    held = set()
    for family in (4, 6):
        for set_name in naming.nft_sets(ALLOWLIST, family):
            held |= {str(ipaddress.ip_network(e)) for e in bench.ns.nft_set_elements("inet", "nodeallow", set_name)}
    assert held == set(new)
    assert netns_support.skip_reason() is None
