# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Salt's classic multi-master: two salt-masters, each with its own salt-api, cache and reactor; minions on both.

Its own system (one cluster, two masters, two minions with real nftables in network namespaces), started once
for this module: the session's system has one master. The NodeAllowlist names both salt-apis in
``spec.salt.endpoints``: the controller publishes every sequence to each on its own (its own flight, retries
and status.endpoints entry), so a master that is down delays nobody and gets the current snapshot once it
answers again.

What is proven (docs/salt.md, "Classic multi-master"):

- both masters store every snapshot, and both apply it: for each minion one apply changes the firewall, the
  other finds it as wanted (a no-op);
- master 2 killed (SIGKILL of salt-master and salt-api) during publishes: master 1 alone keeps the minions
  current; master 2 comes back with the old sequence in its store, and an apply from it (a highstate, a
  schedule) does not roll the minions back: the state keeps the newer copy and says why (desired.rollback);
- while master 2 is down the allowlist says so: MASTERS 1/2, Ready False naming master 2's salt-api, its
  status.endpoints entry behind; publishes to master 1 are not slowed down;
- once master 2's salt-api answers, the controller sends it the current snapshot at once and master 2 holds
  it, with no minion behind; MASTERS 2/2; then both follow the next change again;
- every minion's set is sampled every ~200 ms for the whole test: never empty, and a removed address never
  comes back.
"""

import os
import sys
import time

import pytest

from harness.binaries import control_plane_missing
from harness.processes import wait_until
from harness.system import ClusterSpec, MinionSpec, System, SystemSpec
from saltext.nodeallow import store as nodeallow_store
from saltext.nodeallow.firewall import lastgood
from tests.support import netns
from tests.support.sampler import SetSampler

CLUSTER, NAME = "alpha", "workers"
ALLOWLIST = f"{CLUSTER}/{NAME}"
MINIONS = ("mm1", "mm2")
SELECTOR = {"matchLabels": {"pool": "workers"}}
LABELS = {"pool": "workers"}
ANCHOR = "192.0.2.254"
W1, W2, W3 = "192.0.2.11", "192.0.2.12", "192.0.2.13"
UPDATED, NO_OP = "Firewall updated", "Firewall already as wanted"


@pytest.fixture(scope="module")
def multi():
    """The running two-master system and when it started."""
    reason = netns.skip_reason() or control_plane_missing()
    if reason:
        pytest.skip(reason)
    started = time.monotonic()
    rules = [{"allowlist": ALLOWLIST, "proto": "tcp", "ports": [5432], "comment": "postgres from alpha"}]
    spec = SystemSpec(
        clusters={CLUSTER: ClusterSpec()},
        minions=[MinionSpec(minion_id, rules=rules) for minion_id in MINIONS],
        masters=2,
        workdir_prefix="nodeallow-mm-",
    )
    progress = _progress if os.environ.get("NODEALLOW_E2E_VERBOSE") else None
    with System(spec, progress=progress) as system:
        alpha = system.clusters[CLUSTER]
        alpha.kube.create_allowlist(system.allowlist(NAME, cluster=CLUSTER, node_selector=SELECTOR,
                                                     endpoints=[s.api_url for s in system.salts]))
        alpha.kube.create_node("alpha-anchor", [ANCHOR], labels=LABELS)
        for minion_id in MINIONS:
            system.wait_allowed(minion_id, ALLOWLIST, [ANCHOR], timeout=120)
        yield system, started


def _progress(message):
    """Print a start-up step (NODEALLOW_E2E_VERBOSE=1, as the session's system does)."""
    print(f"e2e multi-master: {message}", file=sys.stderr, flush=True)


class Master:
    """One master's nodeallow store, read directly from its cache (a ``salt-run`` costs seconds here)."""

    def __init__(self, salt):
        """Open ``salt``'s store."""
        self.salt = salt
        self.store = nodeallow_store.Store(salt.master_opts())

    def sequence(self):
        """The stored sequence of the allowlist (``None`` before the first store)."""
        record = self.store.get(CLUSTER, NAME)
        return record["sequence"] if record else None

    def applies(self):
        """``{minion_id: apply result}`` this master recorded."""
        return self.store.get_applies(CLUSTER, NAME)

    def applied(self, sequence):
        """Whether this master stores ``sequence`` and recorded every minion as done with it."""
        applies = self.applies()
        return self.sequence() == sequence and all(
            (applies.get(m) or {}).get("result") is True
            and sequence in ((applies.get(m) or {}).get("sequence"), (applies.get(m) or {}).get("ahead_of"))
            for m in MINIONS
        )


def _sequence(system):
    """The allowlist's current (allocated) sequence, once master 1's salt-api acknowledged it (master 2 may be down)."""
    status = _status(system)
    first = next(iter(status.get("endpoints", [])), {})
    return status.get("sequence") if first.get("publishedSequence") == status.get("sequence") else None


def _published(system, previous):
    """Wait until the controller published a sequence after ``previous``; return it."""
    return wait_until(lambda: (_sequence(system) or 0) > previous and _sequence(system), timeout=60,
                      what=f"the controller to publish after sequence {previous}")


def _status(system):
    """The NodeAllowlist's status."""
    return system.clusters[CLUSTER].kube.get_allowlist(NAME).get("status", {})


def _condition(status, condition_type):
    """One condition of ``status`` (empty when unset)."""
    return next((c for c in status.get("conditions", []) if c["type"] == condition_type), {})


def _endpoints_say(system, published):
    """The status when status.endpoints holds ``published`` ({salt-api URL: publishedSequence}), else None."""
    status = _status(system)
    have = {e["url"]: e.get("publishedSequence") for e in status.get("endpoints", [])}
    return status if have == published else None


def _minion_record(system, minion_id):
    """The sequence in the minion's last-known-good store (what its last apply left in effect)."""
    cachedir = f"{system.salt.minions[minion_id].root}/var/cache/salt/minion"
    return lastgood.load(cachedir)["allowlists"][ALLOWLIST].sequence


def _one_change_one_no_op(masters, sequence):
    """For each minion, of the two masters' applies of ``sequence`` one changed the firewall and one did not.

    Either may be the full apply or a delta ("Firewall updated by delta (...)", "... as wanted (delta)").
    """
    for minion_id in MINIONS:
        comments = sorted(m.applies()[minion_id]["comment"] for m in masters)
        outcomes = [next((o for o in (NO_OP, UPDATED) if c.startswith(o)), c) for c in comments]
        assert outcomes == [NO_OP, UPDATED], (minion_id, sequence, comments)


def test_two_masters_store_apply_and_one_down_never_rolls_a_minion_back(multi, capsys):
    """Both store and apply; master 2 killed during publishes, back with its old store: no roll-back, it catches up."""
    system, started = multi
    alpha = system.clusters[CLUSTER]
    m1, m2 = (Master(salt) for salt in system.salts)
    test_started = time.monotonic()
    sampler = SetSampler({m: (lambda m=m: system.allowed(m, ALLOWLIST)) for m in MINIONS})
    with sampler:
        # Both masters up: both store, both apply; the second apply on each minion is a no-op.
        alpha.kube.create_node("alpha-w1", [W1], labels=LABELS)
        for minion_id in MINIONS:
            system.wait_allowed(minion_id, ALLOWLIST, [ANCHOR, W1])
        s1 = wait_until(lambda: _sequence(system) if m1.applied(_sequence(system)) and m2.applied(_sequence(system))
                        else None, timeout=60, what="both masters to store and apply the snapshot with alpha-w1")
        _one_change_one_no_op((m1, m2), s1)
        assert {m: _minion_record(system, m) for m in MINIONS} == dict.fromkeys(MINIONS, s1)

        # Master 2 goes down hard; publishes go on through master 1 alone, not slowed down.
        system.salts[1].kill()
        followed = []
        alpha.kube.create_node("alpha-w2", [W2], labels=LABELS)
        for minion_id in MINIONS:
            followed.append(system.wait_allowed(minion_id, ALLOWLIST, [ANCHOR, W1, W2], timeout=30))
        s2 = _published(system, s1)
        alpha.kube.delete_node("alpha-w1")
        for minion_id in MINIONS:
            followed.append(system.wait_allowed(minion_id, ALLOWLIST, [ANCHOR, W2], timeout=30))
        w1_gone = time.monotonic()
        s3 = _published(system, s2)
        wait_until(lambda: m1.applied(s3), timeout=30, what=f"master 1 to record sequence {s3} applied")
        api1, api2 = (s.api_url for s in system.salts)
        status = wait_until(lambda: _endpoints_say(system, {api1: s3, api2: s1}), timeout=30,
                            what=f"status.endpoints to hold master 1 at {s3} and master 2 at {s1}")
        assert status["masters"] == "1/2" and status["publishedSequence"] == s1, status
        # Ready False (PublishStalled, then PublishFailed) or Unknown (a retry just left), never True, naming
        # master 2; lastError too, once its first attempt failed (the publisher retries for seconds first).
        status = wait_until(lambda: (lambda st: st if f"salt-api at {api2}" in st.get("lastError", "") else None)(
            _status(system)), timeout=30, what="lastError to name master 2's salt-api")
        ready = _condition(status, "Ready")
        assert ready["status"] != "True" and f"salt-api at {api2}" in ready["message"], ready
        assert status["masters"] == "1/2", status

        # Master 2 back, salt-api still down: its store has the old sequence (alpha-w1 still in it).
        back = time.monotonic()
        system.salts[1].start_master()
        assert m2.sequence() == s1, "master 2 missed the publishes while it was down"
        wait_until(lambda: all(system.salts[1].salt(MINIONS, "test.ping", timeout=5, check=False).get(m) is True
                               for m in MINIONS),
                   timeout=90, interval=0.5, what="the minions to reconnect to master 2")
        reconnected = time.monotonic() - back
        # An apply from master 2 now (a highstate, a schedule) compiles master 2's pillar: sequence s1.
        ret = system.salts[1].salt(list(MINIONS), "state.single", "nodeallow.managed", "name=nodeallow",
                                   "queue=True", timeout=60)
        for minion_id in MINIONS:
            state = next(iter(ret[minion_id].values()))
            assert state["result"] is True and state["changes"] == {}, (minion_id, state)
            summary = state["allowlists"][ALLOWLIST]
            assert (summary["sequence"], summary["ahead_of"], summary["applied"]) == (s3, s1, False), summary
            assert f"kept {ALLOWLIST}: the pillar copy has sequence {s1}" in state["comment"], state["comment"]
            assert "refusing to go back" in state["comment"], state["comment"]
            assert system.allowed(minion_id, ALLOWLIST) == frozenset({f"{ANCHOR}/32", f"{W2}/32"})
            assert _minion_record(system, minion_id) == s3
        # Master 2's engine counts that as done (result True, ahead_of): nobody is behind, nothing is retried.
        wait_until(lambda: all((m2.applies().get(m) or {}).get("ahead_of") == s1 for m in MINIONS), timeout=30,
                   what="master 2's engine to record the minions ahead of its sequence")
        assert m2.applied(s1)
        status = system.salts[1].run("nodeallow.status")[ALLOWLIST]
        assert status["behind"] == [] and {s["ahead_of"] for s in status["subscribers"].values()} == {s1}, status

        # Master 2's salt-api back: the controller sends it the current snapshot at once.
        system.salts[1].start_api()
        api_back = time.monotonic()
        wait_until(lambda: m2.sequence() == s3, timeout=60, interval=0.1, what=f"master 2 to store sequence {s3}")
        delivered = time.monotonic() - api_back
        wait_until(lambda: m2.applied(s3), timeout=60, interval=0.1,
                   what=f"master 2 to store sequence {s3} with every minion done")
        caught_up = time.monotonic() - api_back
        status = wait_until(lambda: _endpoints_say(system, {api1: s3, api2: s3}), timeout=30,
                            what=f"status.endpoints to hold both masters at {s3}")
        assert status["masters"] == "2/2" and status["publishedSequence"] == s3 and not status.get("lastError"), status
        wait_until(lambda: _condition(_status(system), "Ready")["status"] == "True", timeout=30,
                   what="Ready True once both masters hold the current sequence")

        # Both up again: both follow the next change, again one apply and one no-op per minion.
        alpha.kube.create_node("alpha-w3", [W3], labels=LABELS)
        for minion_id in MINIONS:
            system.wait_allowed(minion_id, ALLOWLIST, [ANCHOR, W2, W3])
        s4 = _published(system, s3)
        wait_until(lambda: m1.applied(s4) and m2.applied(s4), timeout=60,
                   what=f"both masters to store and apply sequence {s4}")
        _one_change_one_no_op((m1, m2), s4)
    sampler.assert_never_empty()
    samples = {m: sampler.series(m) for m in MINIONS}
    empty = sum(1 for series in samples.values() for _, value in series if not value)
    assert empty == 0
    for minion_id in MINIONS:
        last = sampler.last_holding(minion_id, f"{W1}/32")
        assert last is not None and last < w1_gone, f"{minion_id} allowed alpha-w1 again after its removal"
    with capsys.disabled():
        print(f"\ne2e multi-master: sequences {s1}..{s4}; while master 2 was down the minions followed the "
              f"changes in {', '.join(f'{t:.1f}' for t in followed)}s; they answered master 2 {reconnected:.1f}s "
              f"after it restarted; once its salt-api answered, the controller delivered sequence {s3} to it within "
              f"{delivered:.1f}s and master 2 held it with every minion done after {caught_up:.1f}s; "
              f"{sum(len(s) for s in samples.values())} samples, {empty} empty; "
              f"test {time.monotonic() - test_started:.0f}s, with the system's start "
              f"{time.monotonic() - started:.0f}s")
