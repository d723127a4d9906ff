# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""A minion that subscribes later converges on its next state run; deleting a NodeAllowlist retires it everywhere."""

from harness import firewall
from harness.processes import wait_until
from harness.system import subscriptions_pillar
from topology import ANCHORS, SELECTOR, spec

RETIREE = "beta/retiree"
WORKERS = "beta/workers"


def test_late_subscriber_converges_then_deleting_the_allowlist_removes_its_rules(system, beta):
    """db3 subscribes to an already published allowlist, applies the state, and loses the rules on retirement."""
    db3_rules = next(m.rules for m in spec().minions if m.id == "db3")
    late_rules = db3_rules + [{"allowlist": RETIREE, "proto": "tcp", "ports": [8080], "comment": "late"}]
    beta.kube.create_allowlist(system.allowlist("retiree", cluster="beta", node_selector=SELECTOR))
    wait_until(lambda: system.salt.run("nodeallow.status").get(RETIREE, {}).get("stored"),
               timeout=60, what=f"the Salt master to store {RETIREE}")
    try:
        system.salt.set_subscriptions("db3", subscriptions_pillar(late_rules))
        # What a user does after adding a subscription (or the next highstate does).
        ret = system.salt.salt(["db3"], "state.single", "nodeallow.managed", "name=nodeallow", "queue=True")
        assert all(state["result"] is True for state in ret["db3"].values()), ret
        system.wait_allowed("db3", RETIREE, [ANCHORS["beta"]], timeout=10)
        assert "dport 8080" in firewall.list_table(system.namespaces["db3"])

        beta.kube.delete_allowlist("retiree")

        system.wait_allowed("db3", RETIREE, [], timeout=90)
        assert "dport 8080" not in firewall.list_table(system.namespaces["db3"])
        wait_until(lambda: beta.kube.get_allowlist("retiree") is None, timeout=60,
                   what="the NodeAllowlist's finalizer to let it go after the retirement")
        status = system.salt.run("nodeallow.status")[RETIREE]
        assert status["retired"] is True and status["addresses"] == 0, status
        # The other allowlist of the same minion is untouched.
        system.wait_allowed("db3", WORKERS, [ANCHORS["beta"]], timeout=5)
    finally:
        beta.kube.delete_allowlist("retiree")
        system.salt.set_subscriptions("db3", subscriptions_pillar(db3_rules))
        system.salt.salt(["db3"], "state.single", "nodeallow.managed", "name=nodeallow", "queue=True", check=False)

