# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Key rotation end to end (docs/security.md): the controller moves to the new key during node churn, no refusal."""

from harness.controller import CONTROLLER_NAMESPACE
from harness.system import SIGNING_KEY_SECRET
from topology import ANCHORS, WORKER_LABELS

ALPHA = "alpha/workers"
ANCHOR = ANCHORS["alpha"]


def test_rotating_the_signing_key_during_churn_refuses_nothing(system, alpha, master_events):
    """The master holds alpha's new and old key; the Secret moves to the new key between publishes."""
    old, new = alpha.spec.signing_key, alpha.spec.next_signing_key
    alpha.kube.create_node("alpha-w1", ["192.0.2.101"], labels=WORKER_LABELS)
    system.wait_allowed("db1", ALPHA, [ANCHOR, "192.0.2.101"])
    before = _stored(master_events, 2)
    try:
        # docs/security.md step 3: the new key first, the old one may follow.
        alpha.kube.apply_secret(CONTROLLER_NAMESPACE, SIGNING_KEY_SECRET, {"signing-key": f"{new}\n{old}\n"})
        alpha.kube.create_node("alpha-w2", ["192.0.2.102"], labels=WORKER_LABELS)
        system.wait_allowed("db1", ALPHA, [ANCHOR, "192.0.2.101", "192.0.2.102"])
        after = _stored(master_events, 3)
        alpha.kube.delete_node("alpha-w1")
        system.wait_allowed("db1", ALPHA, [ANCHOR, "192.0.2.102"])
        system.wait_allowed("db2", ALPHA, [ANCHOR, "192.0.2.102"])
    finally:
        alpha.kube.apply_secret(CONTROLLER_NAMESPACE, SIGNING_KEY_SECRET, {"signing-key": old})
    assert before["signed_with_key"] == 1, before  # the old key, second in the master's list
    assert after["signed_with_key"] == 0, after  # the new key, first
    rejected = [event for event in master_events.seen if event["tag"].startswith("nodeallow/rejected/")]
    assert rejected == [], rejected
    assert system.salt.run("nodeallow.status")[ALPHA]["signed_with_key"] == 0


def _stored(events, count):
    """The data of the next ``nodeallow/stored`` event of alpha/workers holding ``count`` addresses."""
    while True:
        data = events.wait_for(f"nodeallow/stored/{ALPHA}", timeout=60)["data"]
        if data["addresses"] == count:
            return data
