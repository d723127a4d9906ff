# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Node changes in a real API server reach exactly the subscribed minions' nft sets (real controller, real Salt)."""

import subprocess

from harness import firewall
from harness.binaries import REPO_ROOT
from harness.kube import parse_table
from harness.processes import wait_until
from topology import ANCHORS, TEST_LABEL, WORKER_LABELS

ALPHA = "alpha/workers"
ANCHOR = ANCHORS["alpha"]


def test_created_nodes_reach_every_subscribed_minion_and_no_other(system, alpha):
    """Selected nodes' IPv4 and IPv6 addresses land in db1 and db2; db3 (not subscribed) gets no alpha set."""
    alpha.kube.create_node("alpha-w1", ["192.0.2.1", "2001:db8::1"], labels=WORKER_LABELS)
    alpha.kube.create_node("alpha-w2", ["192.0.2.2"], labels=WORKER_LABELS)
    # Not selected (pool=other): must never show up.
    alpha.kube.create_node("alpha-x1", ["192.0.2.3"], labels={"pool": "other", TEST_LABEL: "true"})
    want = [ANCHOR, "192.0.2.1", "2001:db8::1", "192.0.2.2"]

    system.wait_allowed("db1", ALPHA, want)
    system.wait_allowed("db2", ALPHA, want)

    assert system.allowed("db3", ALPHA) == frozenset()
    db3_sets = firewall.sets(system.namespaces["db3"])
    assert not any("192.0.2." in cidr for elements in db3_sets.values() for cidr in elements), db3_sets
    db3_table = firewall.list_table(system.namespaces["db3"])
    assert "dport 6379" in db3_table and "dport 5432" not in db3_table, db3_table


def test_added_node_appears(system, alpha):
    """A node created later is added to the sets; the others stay."""
    alpha.kube.create_node("alpha-w1", ["192.0.2.11"], labels=WORKER_LABELS)
    system.wait_allowed("db1", ALPHA, [ANCHOR, "192.0.2.11"])

    alpha.kube.create_node("alpha-w2", ["192.0.2.12", "2001:db8::12"], labels=WORKER_LABELS)

    want = [ANCHOR, "192.0.2.11", "192.0.2.12", "2001:db8::12"]
    system.wait_allowed("db1", ALPHA, want)
    system.wait_allowed("db2", ALPHA, want)


def test_deleted_node_disappears(system, alpha):
    """Deleting a node removes its addresses from every subscribed minion."""
    alpha.kube.create_node("alpha-w1", ["192.0.2.21", "2001:db8::21"], labels=WORKER_LABELS)
    alpha.kube.create_node("alpha-w2", ["192.0.2.22"], labels=WORKER_LABELS)
    system.wait_allowed("db1", ALPHA, [ANCHOR, "192.0.2.21", "2001:db8::21", "192.0.2.22"])

    alpha.kube.delete_node("alpha-w1")

    system.wait_allowed("db1", ALPHA, [ANCHOR, "192.0.2.22"])
    system.wait_allowed("db2", ALPHA, [ANCHOR, "192.0.2.22"])


def test_node_relabelled_out_of_the_selector_disappears(system, alpha):
    """A node whose label no longer matches the selector is removed, though the Node still exists."""
    alpha.kube.create_node("alpha-w1", ["192.0.2.31"], labels=WORKER_LABELS)
    system.wait_allowed("db1", ALPHA, [ANCHOR, "192.0.2.31"])

    alpha.kube.set_node_labels("alpha-w1", {"pool": "batch"})

    system.wait_allowed("db1", ALPHA, [ANCHOR])
    system.wait_allowed("db2", ALPHA, [ANCHOR])
    assert [n["metadata"]["name"] for n in alpha.kube.list_nodes(TEST_LABEL)] == ["alpha-w1"]


def test_changed_node_address_is_followed(system, alpha):
    """When a node's InternalIP changes (status update, as a kubelet does), the set swaps old for new."""
    alpha.kube.create_node("alpha-w1", ["192.0.2.41", "2001:db8::41"], labels=WORKER_LABELS)
    system.wait_allowed("db1", ALPHA, [ANCHOR, "192.0.2.41", "2001:db8::41"])

    alpha.kube.set_node_addresses("alpha-w1", ["192.0.2.42", "2001:db8::42"])

    system.wait_allowed("db1", ALPHA, [ANCHOR, "192.0.2.42", "2001:db8::42"])
    system.wait_allowed("db2", ALPHA, [ANCHOR, "192.0.2.42", "2001:db8::42"])


def test_kubectl_get_nodeallowlists_shows_the_published_state(system, alpha):
    """`kubectl get nodeallowlists` answers "is it working?": nodes, addresses, sequence, published, masters, Ready."""
    alpha.kube.create_node("alpha-w1", ["192.0.2.51", "2001:db8::51"], labels=WORKER_LABELS)
    system.wait_allowed("db1", ALPHA, [ANCHOR, "192.0.2.51", "2001:db8::51"])
    # Ready follows the store check (spec.delivery.verifyStore), asked 1 s after salt-api's acknowledgement.
    wait_until(lambda: _ready(alpha.kube.get_allowlist("workers")), timeout=30,
               what="NodeAllowlist workers to be Ready (the master stored the published sequence)")
    status = alpha.kube.get_allowlist("workers")["status"]

    out = subprocess.run(
        [str(REPO_ROOT / "bin" / "k8s" / "kubectl"), "--kubeconfig", alpha.kubeconfig, "get", "nodeallowlists"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    rows = parse_table(out)

    assert list(rows[0]) == [
        "NAME", "NODES", "ADDRESSES", "SEQUENCE", "PUBLISHED", "MASTERS", "APPLIED", "READY", "AGE",
    ], out
    assert len(rows) == 1, out
    row = rows[0]
    assert (row["NAME"], row["NODES"], row["ADDRESSES"], row["READY"]) == ("workers", "2", "3", "True"), out
    # alpha/workers does not confirm delivery: APPLIED stays empty (test_delivery.py shows it filled).
    assert row["APPLIED"] == "", out
    # One salt-api (spec.salt.url), and it acknowledged the current sequence (test_multimaster.py shows 1/2).
    assert row["MASTERS"] == "1/1", out
    assert row["SEQUENCE"] == str(status["sequence"]) and status["publishedSequence"] == status["sequence"], \
        (out, status)


def _ready(allowlist):
    """Whether the allowlist's Ready condition is True."""
    conditions = allowlist.get("status", {}).get("conditions", [])
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
