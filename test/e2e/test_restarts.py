# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Outages and restarts: salt-api down during churn, a controller restarted."""

import time
import uuid

import salt.utils.event

from harness.processes import wait_until
from tests.support.sampler import SetSampler
from topology import ANCHORS, WORKER_LABELS

ALPHA = "alpha/workers"
ANCHOR = ANCHORS["alpha"]


def test_minions_converge_after_salt_api_was_down_during_churn(system, alpha, capsys):
    """Changes made while salt-api is stopped fail to publish; after it restarts the minions reach the final set.

    db1's and db2's sets are sampled every 200 ms meanwhile: never empty.
    """
    alpha.kube.create_node("alpha-w1", ["192.0.2.71"], labels=WORKER_LABELS)
    for minion_id in ("db1", "db2"):
        system.wait_allowed(minion_id, ALPHA, [ANCHOR, "192.0.2.71"])
    sampler = SetSampler({m: (lambda m=m: system.allowed(m, ALPHA)) for m in ("db1", "db2")})

    with sampler:
        system.salt.stop_api()
        try:
            alpha.kube.create_node("alpha-w2", ["192.0.2.72"], labels=WORKER_LABELS)
            alpha.kube.create_node("alpha-w3", ["192.0.2.73", "2001:db8::73"], labels=WORKER_LABELS)
            alpha.kube.delete_node("alpha-w1")
            alpha.kube.set_node_addresses("alpha-w2", ["192.0.2.74"])
            # The controller noticed and could not publish: its status says so.
            wait_until(
                lambda: _published_false(alpha.kube.get_allowlist("workers")),
                timeout=120,
                what="NodeAllowlist workers to report the failed publish (Published=False)",
            )
            assert system.allowed("db1", ALPHA) == frozenset(
                {f"{ANCHOR}/32", "192.0.2.71/32"}
            ), "nothing may change while salt-api is down"
        finally:
            restarted = time.monotonic()
            system.salt.start_api()

        want = [ANCHOR, "192.0.2.74", "192.0.2.73", "2001:db8::73"]
        system.wait_allowed("db1", ALPHA, want, timeout=180)
        converged = time.monotonic() - restarted
        system.wait_allowed("db2", ALPHA, want, timeout=60)
    sampler.assert_never_empty()
    status = alpha.kube.get_allowlist("workers")["status"]
    assert status["publishedSequence"] == status["sequence"], status
    with capsys.disabled():
        print(f"\ne2e: minions converged {converged:.1f}s after salt-api restarted")


def test_restarted_controller_resends_the_same_sequence_and_nothing_is_reapplied(system, alpha, master_events):
    """After a restart the controller re-sends its current sequence; Salt treats it as a replay: no store, no apply."""
    alpha.kube.create_node("alpha-w1", ["192.0.2.81"], labels=WORKER_LABELS)
    system.wait_allowed("db1", ALPHA, [ANCHOR, "192.0.2.81"])
    wait_until(lambda: _settled(alpha.kube.get_allowlist("workers")), timeout=60,
               what="NodeAllowlist workers to have published its current sequence")
    sequence = alpha.kube.get_allowlist("workers")["status"]["sequence"]
    # Every subscriber has recorded that sequence: after that nothing is in flight.
    wait_until(lambda: _all_applied(system.salt.run("nodeallow.status")[ALPHA], sequence), timeout=60,
               what=f"db1 and db2 to report sequence {sequence} applied")
    before = system.salt.run("nodeallow.status")[ALPHA]
    assert before["sequence"] == sequence, before
    assert {m: a["applied_sequence"] for m, a in before["subscribers"].items()} == {"db1": sequence, "db2": sequence}
    drain(system, master_events)

    alpha.controller.restart()

    replay = master_events.wait_for(f"nodeallow/unchanged/{ALPHA}", timeout=90)
    assert replay["data"]["outcome"] == "replay" and replay["data"]["sequence"] == sequence, replay
    # Give a (wrong) re-apply time to show up.
    time.sleep(5)
    tags = [event["tag"] for event in master_events.seen]
    assert not [t for t in tags if t.startswith(("nodeallow/stored/", "nodeallow/applied/"))], tags
    after = system.salt.run("nodeallow.status")[ALPHA]
    assert after["sequence"] == sequence and after["digest"] == before["digest"], after
    for minion_id, apply in after["subscribers"].items():
        assert apply["applied_sequence"] == sequence and apply["behind"] is False, after
        # The apply record is the old one: it only got older.
        assert apply["seconds_ago"] >= before["subscribers"][minion_id]["seconds_ago"], (before, after)
    assert alpha.kube.get_allowlist("workers")["status"]["sequence"] == sequence
    system.wait_allowed("db1", ALPHA, [ANCHOR, "192.0.2.81"], timeout=5)


def _all_applied(entry, sequence):
    """Whether every subscriber of a nodeallow.status entry applied ``sequence`` and no job is in flight."""
    subscribers = entry.get("subscribers", {})
    return bool(subscribers) and all(
        s["applied_sequence"] == sequence and s["job"] is None for s in subscribers.values()
    )


def _conditions(allowlist):
    """The NodeAllowlist's conditions by type."""
    return {c["type"]: c for c in allowlist.get("status", {}).get("conditions", [])}


def _published_false(allowlist):
    """Whether the Published condition is False (the last publish attempt failed)."""
    return _conditions(allowlist).get("Published", {}).get("status") == "False"


def _settled(allowlist):
    """Whether the current sequence is published and Ready."""
    status = allowlist.get("status", {})
    return status.get("publishedSequence") == status.get("sequence") and \
        _conditions(allowlist).get("Ready", {}).get("status") == "True"


def drain(system, events):
    """Read every event published so far (up to a marker of our own), then forget them."""
    marker = f"nodeallow/test/drain/{uuid.uuid4().hex}"
    opts = system.salt.master_opts()
    with salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=False) as sender:
        sender.fire_event({}, marker)
    events.wait_for(marker, timeout=30)
    events.seen.clear()


def test_a_stopped_minion_catches_up_by_itself_while_the_others_follow(system, alpha, capsys):
    """db2 is stopped during node churn: db1 follows every change; back, db2 converges with no highstate."""
    alpha.kube.create_node("alpha-w1", ["192.0.2.91"], labels=WORKER_LABELS)
    for minion_id in ("db1", "db2"):
        system.wait_allowed(minion_id, ALPHA, [ANCHOR, "192.0.2.91"])
    sampler = SetSampler({m: (lambda m=m: system.allowed(m, ALPHA)) for m in ("db1", "db2")})
    db2 = system.salt.minions["db2"]
    followed = []
    with sampler:
        db2.stop()
        try:
            steps = [
                (lambda: alpha.kube.create_node("alpha-w2", ["192.0.2.92"], labels=WORKER_LABELS),
                 [ANCHOR, "192.0.2.91", "192.0.2.92"]),
                (lambda: alpha.kube.delete_node("alpha-w1"), [ANCHOR, "192.0.2.92"]),
                (lambda: alpha.kube.create_node("alpha-w3", ["192.0.2.93"], labels=WORKER_LABELS),
                 [ANCHOR, "192.0.2.92", "192.0.2.93"]),
            ]
            for change, want in steps:
                change()
                followed.append(system.wait_allowed("db1", ALPHA, want, timeout=30))
            assert system.allowed("db2", ALPHA) == frozenset({f"{ANCHOR}/32", "192.0.2.91/32"}), \
                "a stopped minion's firewall stays as it was"
        finally:
            back = time.monotonic()
            db2.start()
        system.wait_allowed("db2", ALPHA, [ANCHOR, "192.0.2.92", "192.0.2.93"], timeout=90)
        caught_up = time.monotonic() - back
    sampler.assert_never_empty()
    status = system.salt.run("nodeallow.status")[ALPHA]
    assert status["behind"] == [], status
    with capsys.disabled():
        print(f"\ne2e: db1 followed each change in {max(followed):.1f}s (max) while db2 was stopped; "
              f"db2 caught up {caught_up:.1f}s after it was started again (no highstate)")
