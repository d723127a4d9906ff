# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Benchmark: the minion watcher's steady CPU cost and its repair time per event, in one namespace.

The state (``engine.managed``) applies an allowlist of N addresses; the watcher (firewall/watch.py,
what the minion engine ``nodeallow`` runs) then runs in a process of its own, with the engine's
default options. Steady cost: the CPU time of that process and its children (``nft monitor``, the
periodic checks' commands) over a window in which nothing changes, as % of one core. Repair time
per event: from the moment the event's command returned until the watcher reported the repair
done (its report callback's clock), median of the runs; the repair's own duration beside it.

Quick by default (part of ``make test``: 1,000 addresses, a 5 s window, one run per event);
``NODEALLOW_BENCH=1`` runs 1k/10k/100k, a 60 s window (``NODEALLOW_BENCH_WINDOW``) and
``NODEALLOW_BENCH_RUNS`` (default 5) runs per event; ``NODEALLOW_BENCH_SIZES`` picks sizes.
Results go to docs/firewall.md and docs/reliability.md.
"""

import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time

import psutil
import pytest

from saltext.nodeallow.firewall import engine, naming
from tests.integration.test_bench_firewall import ALLOWLIST, addresses, pillar

FULL = bool(os.environ.get("NODEALLOW_BENCH"))
SIZES = tuple(int(n) for n in os.environ.get("NODEALLOW_BENCH_SIZES", "").split(",") if n) or (
    (1000, 10000, 100000) if FULL else (1000,)
)
RUNS = int(os.environ.get("NODEALLOW_BENCH_RUNS", "5")) if FULL else 1
WINDOW = float(os.environ.get("NODEALLOW_BENCH_WINDOW", "60")) if FULL else 5.0
BOUND = 10.0

# Runs the watcher with the engine's defaults; prints "ready" after its first check, then one JSON line per repair.
WATCHER = """
import json, sys, time
from saltext.nodeallow.firewall import watch
w = watch.Watcher(json.loads(sys.argv[1]), lambda r: print(json.dumps({"at": time.time(), **r}), flush=True))
check = w.check
def first(full, trigger):
    out = check(full, trigger)
    if trigger == "start":
        print("ready", flush=True)
    return out
w.check = first
w.run()
"""


class Watcher:
    """The watcher in its own process; ``repairs`` is a queue of its reports."""

    def __init__(self, opts):
        """Start it for the minion ``opts`` and wait for its first check."""
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-c", WATCHER, json.dumps(opts)], stdout=subprocess.PIPE, text=True
        )
        self.repairs = queue.Queue()
        assert self.proc.stdout.readline().strip() == "ready"
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        """Queue each repair report."""
        for line in self.proc.stdout:
            self.repairs.put(json.loads(line))

    def cpu(self):
        """CPU seconds of the watcher, its reaped children and its live ones (nft monitor)."""
        proc = psutil.Process(self.proc.pid)
        times = proc.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in proc.children(recursive=True):
            with_times = child.cpu_times()
            total += with_times.user + with_times.system
        return total

    def stop(self):
        """End it."""
        self.proc.terminate()
        self.proc.wait(10)


def events(backend):
    """``{event: argv}`` of the events measured for ``backend``."""
    if backend == "nftables":
        set4 = naming.nft_set(ALLOWLIST, 4)
        return {
            "table deleted": ["nft", "delete", "table", "inet", "nodeallow"],
            "ruleset flushed": ["nft", "flush", "ruleset"],
            "set flushed": ["nft", "flush", "set", "inet", "nodeallow", set4],
            "one element deleted": None,  # needs an element of the list: see _argv
        }
    return {
        "ipset flushed": ["ipset", "flush", naming.ipset(ALLOWLIST, 4)],
        "iptables chain replaced": ["iptables-restore"],
    }


FORMULA = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"


def _run_event(ns, backend, event, argv, entries):
    """Run one event's command in ``ns``."""
    if event == "one element deleted":
        host = next(a for a in entries if a.endswith("/32"))[:-3]
        argv = ["nft", "delete", "element", "inet", "nodeallow", naming.nft_set(ALLOWLIST, 4), "{", host, "}"]
    ns.run(argv, input_text=FORMULA if event == "iptables chain replaced" else None)


@pytest.mark.parametrize("backend", ["nftables", "ipset"])
def test_watcher_steady_cost_and_repair_times(netns, tmp_path, backend):
    """Steady cost per size (target: ≤ 1% of one core at 100k) and every event repaired within the bound."""
    opts = {"cachedir": str(tmp_path), "nodeallow_netns": netns.name}
    rows = []
    for size in SIZES:
        entries = addresses(size, seed=size)
        netns.run(["nft", "flush", "ruleset"])
        ret = engine.managed(opts, pillar(backend, entries, 1))
        assert ret["result"] is True, ret["comment"]
        watcher = Watcher(opts)
        try:
            before = watcher.cpu()
            time.sleep(WINDOW)
            steady = (watcher.cpu() - before) / WINDOW * 100
            assert watcher.repairs.empty(), "nothing changed, yet the watcher repaired"
            times = {}
            for event, argv in events(backend).items():
                took, own = [], []
                for _ in range(RUNS):
                    _run_event(netns, backend, event, argv, entries)
                    done = time.time()
                    report = watcher.repairs.get(timeout=BOUND + 20)
                    took.append(report["at"] - done)
                    own.append(report["seconds"])
                    time.sleep(0.5)
                    while not watcher.repairs.empty():
                        watcher.repairs.get()
                times[event] = (statistics.median(took), statistics.median(own))
        finally:
            watcher.stop()
        rows.append((size, steady, times))
        for event, (took, _) in times.items():
            assert took <= BOUND, f"{backend} {size}: {event} repaired after {took:.2f}s"
    print(f"\nwatcher, backend {backend}, window {WINDOW:.0f}s, {RUNS} run(s) per event (medians)")
    for size, steady, times in rows:
        cells = ", ".join(f"{e}: {t:.2f}s (repair {o:.2f}s)" for e, (t, o) in times.items())
        print(f"{size:>7} addresses: steady {steady:.3f}% of one core; {cells}")
    biggest = rows[-1]
    if biggest[0] >= 100000:
        assert biggest[1] <= 1.0, f"steady cost at {biggest[0]} addresses: {biggest[1]:.2f}% of one core"
