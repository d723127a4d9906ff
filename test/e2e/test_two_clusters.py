# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Two clusters (two controllers, different --cluster-name and signing keys) publish to one Salt master."""

from harness import firewall
from topology import ANCHORS, WORKER_LABELS


def test_each_minion_gets_only_the_allowlists_it_subscribes_to(system, alpha, beta):
    """alpha/workers and beta/workers share a name but stay apart; each minion holds exactly its subscriptions."""
    alpha.kube.create_node("alpha-w1", ["192.0.2.61"], labels=WORKER_LABELS)
    beta.kube.create_node("beta-w1", ["198.51.100.61", "2001:db8:b::61"], labels=WORKER_LABELS)
    want_alpha = firewall.canonical([ANCHORS["alpha"], "192.0.2.61"])
    want_beta = firewall.canonical([ANCHORS["beta"], "198.51.100.61", "2001:db8:b::61"])

    system.wait_allowed("db1", "alpha/workers", want_alpha)
    system.wait_allowed("db2", "alpha/workers", want_alpha)
    system.wait_allowed("db2", "beta/workers", want_beta)
    system.wait_allowed("db3", "beta/workers", want_beta)

    # Nothing else anywhere: every address in a minion's table belongs to one of its subscriptions.
    for minion_id, want in {"db1": want_alpha, "db2": want_alpha | want_beta, "db3": want_beta}.items():
        everything = frozenset().union(*firewall.sets(system.namespaces[minion_id]).values())
        assert everything == want, (minion_id, sorted(everything))
    assert system.allowed("db1", "beta/workers") == frozenset()
    assert system.allowed("db3", "alpha/workers") == frozenset()

    status = system.salt.run("nodeallow.status")
    assert sorted(status["alpha/workers"]["subscribers"]) == ["db1", "db2"], status
    assert sorted(status["beta/workers"]["subscribers"]) == ["db2", "db3"], status
    assert status["alpha/workers"]["behind"] == [] and status["beta/workers"]["behind"] == [], status
    assert status["alpha/workers"]["sequence"] == alpha.kube.get_allowlist("workers")["status"]["sequence"]
    assert status["beta/workers"]["sequence"] == beta.kube.get_allowlist("workers")["status"]["sequence"]
