# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Latency from a Node change in the API server to the address being enforced by a minion's kernel (default settings).

Printed and written to a file, not asserted (the benchmarks issue records it). The file is
$NODEALLOW_E2E_LATENCY_FILE, by default bin/e2e-latency.txt (ignored by git).
"""

import datetime
import json
import os
import statistics
import time

from harness import firewall
from harness.binaries import REPO_ROOT
from harness.processes import wait_until
from topology import ANCHORS, WORKER_LABELS

ALPHA = "alpha/workers"
TRIALS = int(os.environ.get("NODEALLOW_E2E_LATENCY_TRIALS", "20"))
# "false" measures with spec.delivery.verifyStore off, to attribute what the store check costs.
VERIFY_STORE = os.environ.get("NODEALLOW_E2E_LATENCY_VERIFY_STORE", "")


def test_latency_from_node_change_to_minion_nft_set(system, alpha, capsys):
    """Create a node, time until its address is in db1's set; delete it, time until it is gone; repeat."""
    ns = system.namespaces["db1"]
    if VERIFY_STORE:
        alpha.kube.patch_allowlist("workers", {"spec": {"delivery": {"verifyStore": VERIFY_STORE == "true"}}})
        wait_until(lambda: _settled(alpha), timeout=60, what="workers to record the changed spec")
    try:
        created, deleted, published = _trials(alpha, ns)
    finally:
        if VERIFY_STORE:
            alpha.kube.patch_allowlist("workers", {"spec": {"delivery": {"verifyStore": True}}})
    _report(system, alpha, created, deleted, published, capsys)


def _settled(alpha):
    """Whether workers' status is of its current generation and Ready."""
    obj = alpha.kube.get_allowlist("workers")
    ready = [c for c in obj["status"].get("conditions", []) if c["type"] == "Ready"]
    current = obj["status"].get("observedGeneration") == obj["metadata"]["generation"]
    return current and bool(ready) and ready[0]["status"] == "True"


def _trials(alpha, ns):
    """Create a node and delete it TRIALS times; return the create, delete and create-to-publish seconds."""
    created, deleted, published = [], [], []
    for trial in range(TRIALS):
        address = f"203.0.113.{trial + 1}"
        cidr = f"{address}/32"
        wall_start, started = time.time(), time.monotonic()
        alpha.kube.create_node(f"alpha-lat-{trial}", [address], labels=WORKER_LABELS)
        created.append(_wait(lambda cidr=cidr: cidr in firewall.allowed(ns, ALPHA), started, f"{address} to appear"))
        published.append(_first_publish_after(alpha.controller, wall_start) - wall_start)
        started = time.monotonic()
        alpha.kube.delete_node(f"alpha-lat-{trial}")
        gone = _wait(lambda cidr=cidr: cidr not in firewall.allowed(ns, ALPHA), started, f"{address} to vanish")
        deleted.append(gone)
    return created, deleted, published


def _report(system, alpha, created, deleted, published, capsys):
    """Write the report file and print it."""
    system.wait_allowed("db1", ALPHA, [ANCHORS["alpha"]])
    salt_part = [total - publish for total, publish in zip(created, published, strict=True)]

    allowlist = alpha.kube.get_allowlist("workers")
    debounce = allowlist["spec"]["debounce"]
    verify = allowlist["spec"].get("delivery", {}).get("verifyStore")
    report = "\n".join([
        f"nodeallow end-to-end latency, {TRIALS} trials, {'default settings' if not VERIFY_STORE else 'settings'} "
        f"(debounce min {debounce['min']}, max {debounce['max']}; verifyStore {VERIFY_STORE or verify}; "
        "nftables backend; 1 cluster node per trial)",
        "measured from the Node API request to the address being in (or gone from) a minion's nft set",
        _line("node created -> address in set", created),
        _line("node deleted -> address gone  ", deleted),
        "where the create time goes (from the controller's Publish log line, which it writes when salt-api answered):",
        _line("  node created -> salt-api acknowledged (debounce + publish)", published),
        _line("  salt-api acknowledged -> address in set (reactor, runner, state)", salt_part),
        f"machine: {os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}",
    ])
    path = os.environ.get("NODEALLOW_E2E_LATENCY_FILE", str(REPO_ROOT / "bin" / "e2e-latency.txt"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(report + "\n")
    with capsys.disabled():
        print(f"\n{report}\n(written to {path})")


def _first_publish_after(controller, wall_start):
    """Wall-clock time of the controller's first successful Publish of ``workers`` logged after ``wall_start``."""
    for line in controller.log_lines():
        if '"msg":"Publish"' not in line:
            continue
        entry = json.loads(line)
        logged = datetime.datetime.fromisoformat(entry["ts"]).timestamp()
        if entry.get("allowlist") == "workers" and entry.get("result") == "success" and logged >= wall_start:
            return logged
    raise AssertionError(f"no successful Publish logged after {wall_start} in {controller.log_path}")


def _wait(condition, started, what, timeout=120):
    """Poll ``condition`` every 20 ms; return seconds since ``started`` when it holds."""
    deadline = started + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} in db1's nft set")
        time.sleep(0.02)
    return time.monotonic() - started


def _line(label, samples):
    """One report line: p50, p95 and max of ``samples`` in seconds."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, max(0, int(round(0.95 * len(ordered))) - 1))]
    return (f"{label}: p50 {statistics.median(ordered):.2f}s  p95 {p95:.2f}s  max {ordered[-1]:.2f}s  "
            f"min {ordered[0]:.2f}s  (n={len(ordered)})")
