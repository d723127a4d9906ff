# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""A minion that subscribes later converges on its next state run; deleting a NodeAllowlist retires it everywhere,
and the retired allowlist's port stays closed (fail closed) to all but loopback and the rule's local sources."""

from harness import firewall
from harness.processes import wait_until
from harness.system import subscriptions_pillar
from tests.support import probe
from tests.support.netns import Netns
from topology import ANCHORS, SELECTOR, spec

RETIREE = "beta/retiree"
WORKERS = "beta/workers"
PORT = 8080
# db3's end of a veth to a peer namespace, and the peer's sources: beta's anchor node (in RETIREE), an
# outside address and the rule's local source (a bastion).
HOSTS = ("198.51.100.1", "203.0.113.1")
ALLOWLISTED, OUTSIDE, LOCAL = ANCHORS["beta"], "203.0.113.99", "203.0.113.10"
PAIRS = [(ALLOWLISTED, HOSTS[0]), (OUTSIDE, HOSTS[1]), (LOCAL, HOSTS[1]), ("127.0.0.1", "127.0.0.1")]


def test_late_subscriber_converges_then_deleting_the_allowlist_keeps_its_port_closed(system, beta):
    """db3 subscribes to an already published allowlist and applies the state; on retirement the sets go, the port
    stays closed. Real TCP connects every ~200 ms: the outside never gets through once the rule is applied, the
    local source and loopback always do, the allowlisted node only until the retirement."""
    db3_rules = next(m.rules for m in spec().minions if m.id == "db3")
    late_rules = db3_rules + [
        {"allowlist": RETIREE, "proto": "tcp", "ports": [PORT], "comment": "late", "sources": [f"{LOCAL}/32"]}
    ]
    beta.kube.create_allowlist(system.allowlist("retiree", cluster="beta", node_selector=SELECTOR))
    wait_until(lambda: system.salt.run("nodeallow.status").get(RETIREE, {}).get("stored"),
               timeout=60, what=f"the Salt master to store {RETIREE}")
    ns = Netns(system.namespaces["db3"])
    try:
        with probe.Link(ns, HOSTS, (ALLOWLISTED, OUTSIDE, LOCAL), (PORT,)) as link, \
                link.sampling(PAIRS, PORT) as sampled:
            assert link.connects(OUTSIDE, HOSTS[1], PORT), "the port is open to everyone before the rule"
            system.salt.set_subscriptions("db3", subscriptions_pillar(late_rules))
            # What a user does after adding a subscription (or the next highstate does).
            ret = system.salt.salt(["db3"], "state.single", "nodeallow.managed", "name=nodeallow", "queue=True")
            applied = sampled.now()
            assert all(state["result"] is True for state in ret["db3"].values()), ret
            system.wait_allowed("db3", RETIREE, [ANCHORS["beta"]], timeout=10)
            assert "dport 8080" in firewall.list_table(system.namespaces["db3"])
            assert link.connects(ALLOWLISTED, HOSTS[0], PORT) and not link.connects(OUTSIDE, HOSTS[1], PORT)

            retiring = sampled.now()
            beta.kube.delete_allowlist("retiree")

            system.wait_allowed("db3", RETIREE, [], timeout=90)
            retired = sampled.now()
            table = firewall.list_table(system.namespaces["db3"])
            assert "tcp dport 8080 drop" in table or "tcp dport { 8080 } drop" in table, table
            wait_until(lambda: beta.kube.get_allowlist("retiree") is None, timeout=60,
                       what="the NodeAllowlist's finalizer to let it go after the retirement")
            status = system.salt.run("nodeallow.status")[RETIREE]
            assert status["retired"] is True and status["addresses"] == 0, status
            # The other allowlist of the same minion is untouched.
            system.wait_allowed("db3", WORKERS, [ANCHORS["beta"]], timeout=5)
            wait_until(lambda: sampled.now() > retired + 2, timeout=5, interval=0.2, what="two seconds of samples")
            assert not link.connects(ALLOWLISTED, HOSTS[0], PORT) and link.connects(LOCAL, HOSTS[1], PORT)

        rounds = len(sampled.series(OUTSIDE, start=applied))
        assert rounds >= 10, f"only {rounds} samples: {sampled.samples[-20:]}"
        assert sampled.through(OUTSIDE, start=applied) == [], "the outside address got through"
        assert sampled.refused(LOCAL, start=applied) == [], "the local source was refused"
        assert sampled.refused("127.0.0.1", start=applied) == [], "loopback was refused"
        assert sampled.through(ALLOWLISTED, start=applied, end=retiring), "the allowlisted node never got through"
        assert sampled.through(ALLOWLISTED, start=retired) == [], "the allowlisted node got through after retirement"
    finally:
        beta.kube.delete_allowlist("retiree")
        system.salt.set_subscriptions("db3", subscriptions_pillar(db3_rules))
        system.salt.salt(["db3"], "state.single", "nodeallow.managed", "name=nodeallow", "queue=True", check=False)
