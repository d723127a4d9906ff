# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Delivery confirmation (spec.delivery.confirm): `kubectl get nal` says how many subscribers applied, and it is true.

beta/workers has two subscribers, db2 and db3 (topology.py). The controller asks the real salt-api's runner
nodeallow.status as the user docs/salt.md configures; the counts it writes are compared with the minions' real
nftables sets, also while db3 is stopped and after it is back.
"""

import subprocess
import time

import pytest

from harness.binaries import REPO_ROOT
from harness.kube import parse_table
from harness.processes import wait_until
from topology import ANCHORS, WORKER_LABELS

BETA = "beta/workers"
ANCHOR = ANCHORS["beta"]
SUBSCRIBERS = ("db2", "db3")
# Short so that the test sees SubscribersBehind soon; the default is 30 s.
APPLY_TIMEOUT = 5


def _status(cluster):
    """beta's workers status (a dict)."""
    return cluster.kube.get_allowlist("workers").get("status", {})


def _condition(status, kind):
    """One condition of a status ({} when it is missing)."""
    return next((c for c in status.get("conditions", []) if c["type"] == kind), {})


def _kubectl_columns(cluster):
    """The default columns of `kubectl get nodeallowlists workers`, as {HEADER: value}."""
    out = subprocess.run(
        [str(REPO_ROOT / "bin" / "k8s" / "kubectl"), "--kubeconfig", cluster.kubeconfig,
         "get", "nodeallowlists", "workers"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    return parse_table(out)[0]


def _applied_for_real(system, want):
    """How many subscribers' kernels allow exactly ``want`` for beta/workers."""
    canonical = {a if "/" in a else f"{a}/32" for a in want}
    return sum(1 for m in SUBSCRIBERS if system.allowed(m, BETA) == canonical)


@pytest.fixture
def confirmed(beta):
    """beta/workers with delivery confirmation on, switched off again afterwards."""
    beta.kube.patch_allowlist("workers", {"spec": {"delivery": {
        "confirm": True, "interval": "10s", "applyTimeout": f"{APPLY_TIMEOUT}s"}}})
    yield beta
    beta.kube.patch_allowlist("workers", {"spec": {"delivery": {"confirm": False}}})
    wait_until(lambda: "delivery" not in _status(beta), timeout=60, what="status.delivery to go once confirm is off")


def test_applied_counts_what_the_minions_really_applied(system, confirmed, capsys):
    """2/2 when both apply; 1/2 and SubscribersBehind naming db3 while it is stopped; 2/2 again once it is back."""
    beta = confirmed
    wait_until(lambda: _condition(_status(beta), "Applied").get("status") == "True", timeout=60,
               what="beta/workers to be Applied once confirmation is on")
    status = _status(beta)
    assert status["delivery"]["summary"] == "2/2", status
    assert _kubectl_columns(beta)["APPLIED"] == "2/2"
    assert _condition(status, "Ready")["status"] == "True", status
    assert "2 of 2 subscribers applied it" in _condition(status, "Ready")["message"], status

    db3 = system.salt.minions["db3"]
    db3.stop()
    try:
        beta.kube.create_node("beta-w1", ["198.51.100.81"], labels=WORKER_LABELS)
        created = time.monotonic()
        system.wait_allowed("db2", BETA, [ANCHOR, "198.51.100.81"])
        wait_until(lambda: _condition(_status(beta), "Applied").get("reason") == "SubscribersBehind",
                   timeout=APPLY_TIMEOUT + 30, what="Applied to say SubscribersBehind while db3 is stopped")
        behind_after = time.monotonic() - created
        status = _status(beta)
        delivery = status["delivery"]
        assert (delivery["summary"], delivery["behind"], delivery["sequence"]) == \
            ("1/2", 1, status["publishedSequence"]), delivery
        assert [(m["name"], m["state"]) for m in delivery["minions"]] == [("db3", "Behind")], delivery
        ready = _condition(status, "Ready")
        assert (ready["reason"], ready["status"]) == ("SubscribersBehind", "False"), ready
        assert "db3" in ready["message"], ready
        assert _kubectl_columns(beta)["APPLIED"] == "1/2"
        # What kubectl says is what the kernels hold: db2 has the new address, db3 (stopped) has not.
        assert _applied_for_real(system, [ANCHOR, "198.51.100.81"]) == 1
        assert system.allowed("db3", BETA) == frozenset({f"{ANCHOR}/32"})
    finally:
        back = time.monotonic()
        db3.start()

    system.wait_allowed("db3", BETA, [ANCHOR, "198.51.100.81"], timeout=120)
    wait_until(lambda: (_status(beta).get("delivery") or {}).get("summary") == "2/2", timeout=90,
               what="APPLIED to be 2/2 once db3 caught up")
    confirmed_after = time.monotonic() - back
    status = _status(beta)
    assert _condition(status, "Applied")["status"] == "True" and _condition(status, "Ready")["status"] == "True", status
    assert _applied_for_real(system, [ANCHOR, "198.51.100.81"]) == 2
    with capsys.disabled():
        print(f"\ne2e: SubscribersBehind shown {behind_after:.1f}s after the Node was created (applyTimeout "
              f"{APPLY_TIMEOUT}s); APPLIED 2/2 again {confirmed_after:.1f}s after db3 was started")
