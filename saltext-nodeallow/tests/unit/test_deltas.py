# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Deltas: the master's history and composition, the decision delta vs full, the Reconciler's delta jobs.

The minion's half (firewall/delta.py) is in test_delta_apply.py; real masters and minions in
tests/master/test_deltas.py.
"""

import dataclasses
import random

import pytest
import salt.config

from saltext.nodeallow import deltas, reconcile, results
from saltext.nodeallow import index as subscriber_index
from saltext.nodeallow import store as nodeallow_store
from saltext.nodeallow.protocol import canonical
from tests.support import master_side
from tests.unit.test_reconcile import SETTINGS, Clock, ok, state_return


def snapshot(sequence, addresses, retired=False):
    """A stored record of ``addresses`` (canonical) under ``sequence``."""
    return {
        "cluster": "prod",
        "allowlist": "a",
        "sequence": sequence,
        "digest": canonical.digest(addresses),
        "generated_at": f"2026-12-07T10:00:{sequence:02d}Z",
        "addresses": [] if retired else list(addresses),
        "retired": retired,
    }


def hosts(numbers):
    """Canonical IPv4 host routes of the given numbers (sorted)."""
    return [f"10.0.{n // 256}.{n % 256}/32" for n in sorted(set(numbers))]


def test_a_step_holds_what_changed_in_canonical_order():
    """One pass over both lists; added and removed keep the protocol's order."""
    step = deltas.step(snapshot(1, hosts([1, 2, 3])), snapshot(2, hosts([2, 3, 4, 5])))
    assert step["added"] == hosts([4, 5]) and step["removed"] == hosts([1])
    assert (step["from_sequence"], step["sequence"]) == (1, 2)
    assert step["from_digest"] == canonical.digest(hosts([1, 2, 3]))
    assert step["digest"] == canonical.digest(hosts([2, 3, 4, 5]))


@pytest.mark.parametrize(
    "previous, new",
    [
        pytest.param(None, snapshot(1, hosts([1])), id="first-snapshot"),
        pytest.param(snapshot(1, hosts([1])), snapshot(2, [], retired=True), id="retirement"),
        pytest.param(snapshot(2, [], retired=True), snapshot(3, hosts([1])), id="after-a-retirement"),
    ],
)
def test_no_step_without_two_snapshots(previous, new):
    """No delta from nothing, to or from a retirement: those subscribers get the full apply."""
    assert deltas.step(previous, new) is None
    assert deltas.extend([{"sequence": 1}], deltas.step(previous, new)) == []


def test_compose_cancels_what_came_and_went_and_needs_a_kept_base():
    """Composed over several steps: an address removed then added again is in neither list."""
    lists = [hosts([1, 2, 3]), hosts([2, 3, 4]), hosts([1, 2, 4, 5]), hosts([2, 5, 6])]
    steps = []
    for sequence in range(1, len(lists)):
        steps = deltas.extend(
            steps, deltas.step(snapshot(sequence, lists[sequence - 1]), snapshot(sequence + 1, lists[sequence]))
        )
    assert deltas.bases(steps) == {1, 2, 3}
    for base in (1, 2, 3):
        composed = deltas.compose("prod/a", steps, base)
        before, after = set(lists[base - 1]), set(lists[-1])
        assert set(composed["added"]) == after - before and set(composed["removed"]) == before - after
        assert composed["base_digest"] == canonical.digest(lists[base - 1])
        assert composed["digest"] == canonical.digest(lists[-1]) and composed["sequence"] == 4
    assert deltas.compose("prod/a", steps, 4) is None
    assert deltas.compose("prod/a", steps, 0) is None


def test_the_history_is_bounded_and_restarts_after_a_gap(monkeypatch):
    """At most KEEP_STEPS steps and KEEP_ADDRESSES changed addresses; a step that does not follow restarts it."""
    monkeypatch.setattr(deltas, "KEEP_STEPS", 3)
    monkeypatch.setattr(deltas, "KEEP_ADDRESSES", 10)
    steps = []
    for sequence in range(1, 6):
        steps = deltas.extend(
            steps, deltas.step(snapshot(sequence, hosts([sequence])), snapshot(sequence + 1, hosts([sequence + 1])))
        )
    assert [s["sequence"] for s in steps] == [4, 5, 6]
    big = deltas.step(snapshot(6, hosts([6])), snapshot(7, hosts(range(7, 16))))
    assert [s["sequence"] for s in deltas.extend(steps, big)] == [7]
    huge = deltas.step(snapshot(6, hosts([6])), snapshot(7, hosts(range(7, 30))))
    assert deltas.extend(steps, huge) == []
    gap = deltas.step(snapshot(9, hosts([9])), snapshot(10, hosts([10])))
    assert [s["sequence"] for s in deltas.extend(steps, gap)] == [10]


BASES = {"p/a": {2}}
FINGERPRINTS = {"db1": "f1"}
GOOD = {"settings": "f1"}


@pytest.mark.parametrize(
    "applies, state, bases, delta",
    [
        pytest.param({"p/a": {"db1": ok(2)}}, GOOD, BASES, {"db1": {"p/a": 2}}, id="behind-with-a-kept-base"),
        pytest.param({"p/a": {"db1": ok(1)}}, GOOD, BASES, {}, id="base-too-old"),
        pytest.param({}, GOOD, BASES, {}, id="never-applied"),
        pytest.param({"p/a": {"db1": {**ok(2), "result": False}}}, GOOD, BASES, {}, id="last-apply-failed"),
        pytest.param({"p/a": {"db1": ok(2)}}, {}, BASES, {}, id="no-full-apply-recorded"),
        pytest.param({"p/a": {"db1": ok(2)}}, {"settings": "f0"}, BASES, {}, id="rules-changed-in-pillar"),
        pytest.param({"p/a": {"db1": ok(2)}}, {**GOOD, "full": "no base"}, BASES, {}, id="asked-for-full"),
        pytest.param({"p/a": {"db1": ok(2)}}, GOOD, None, {}, id="deltas-off"),
        pytest.param({"p/a": {"db1": ok(2)}, "p/b": {"db1": ok(1)}}, GOOD, BASES, {}, id="one-allowlist-has-no-base"),
        pytest.param(
            {"p/a": {"db1": ok(2)}, "p/b": {"db1": ok(5)}}, GOOD, BASES, {"db1": {"p/a": 2}}, id="only-what-is-behind"
        ),
        pytest.param(
            {"p/a": {"db1": ok(2)}, "p/b": {"db1": ok(1)}},
            GOOD,
            {**BASES, "p/b": {1}},
            {"db1": {"p/a": 2, "p/b": 1}},
            id="two-allowlists-by-delta",
        ),
    ],
)
def test_decide_delta_or_full(applies, state, bases, delta):
    """Who gets a delta instead of the full apply (every row is also started: delta or full, never nothing)."""
    want = reconcile.wanted({"p/a": 3, "p/b": 5}, {"db1": ["p/a", "p/b"]})
    applies = {"p/b": {"db1": ok(5)}, **applies}  # p/b is current unless the row says otherwise
    decision = reconcile.decide(100, want, applies, {"db1": state}, SETTINGS, None, bases, FINGERPRINTS)
    assert list(decision.start) == ["db1"]
    assert decision.delta == delta


@pytest.fixture
def loop(tmp_path):
    """A Reconciler with deltas over a real localfs store: db1, db2 applied prod/a at 3 with a full apply."""
    opts = dict(salt.config.DEFAULT_MASTER_OPTS)
    opts["cachedir"] = str(tmp_path / "cache")
    store = nodeallow_store.Store(opts)
    for minion_id in ("db1", "db2", "db3"):
        subscriber_index.record(store, minion_id, [("prod", "a")])
        subscriber_index.record_settings(store, minion_id, "f1")
    master_side.put_snapshot(store, "prod", "a", 3, hosts([1, 2]))
    published = []
    clock = Clock()

    def publish(minion_ids, payload=None):
        """Record the publish; job ids grow with the clock like Salt's."""
        clock.now += 0.001
        published.append((sorted(minion_ids), payload))
        return f"{int(clock.now * 1000):020d}"

    settings = dataclasses.replace(SETTINGS, deltas=True)
    reconciler = reconcile.Reconciler(store, settings, lambda tag, data: None, publish, clock)
    reconciler.published, reconciler.time = published, clock
    started = reconciler.run()
    for minion_id, jid in started.items():
        reconciler.record_return(jid, minion_id, state_return(3))
    assert all(s["settings"] == "f1" for s in store.get_minions().values())
    published.clear()
    return reconciler


def store_next(loop, sequence, numbers):
    """Store the next snapshot as ingest does (with its step)."""
    store = loop.store
    with store.lock():
        previous = store.get("prod", "a")
        record = {**snapshot(sequence, hosts(numbers)), "stored_at": 0}
        store.put(record)
        deltas.record(store, previous, record)


def delta_return(sequence, need_full=""):
    """A minion's nodeallow.apply_delta return for prod/a."""
    return {
        results.DELTA_MARK: True,
        "need_full": need_full,
        "result": not need_full,
        "comment": "ok",
        "changes": {},
        "allowlists": {} if need_full else {"prod/a": {"sequence": sequence, "applied": True, "count": 2}},
    }


def test_subscribers_with_the_same_base_share_one_delta_job(loop):
    """One job for every subscriber holding the same base, carrying only what changed."""
    store_next(loop, 4, [2, 3])
    started = loop.run()
    assert len(set(started.values())) == 1
    [(minion_ids, payload)] = loop.published
    assert minion_ids == ["db1", "db2", "db3"]
    assert payload == [
        {
            "allowlist": "prod/a",
            "base_sequence": 3,
            "base_digest": canonical.digest(hosts([1, 2])),
            "sequence": 4,
            "digest": canonical.digest(hosts([2, 3])),
            "generated_at": "2026-12-07T10:00:04Z",
            "added": hosts([3]),
            "removed": hosts([1]),
        }
    ]
    assert loop.store.get_minions()["db1"]["job"]["mode"] == "delta"
    loop.record_return(started["db1"], "db1", delta_return(4))
    assert loop.store.get_applies("prod", "a")["db1"]["sequence"] == 4


def test_need_full_is_no_failure_and_the_full_apply_follows_at_once(loop):
    """A minion without a usable base: its applies stand, no backoff, the full apply is started right away."""
    store_next(loop, 4, [2, 3])
    started = loop.run()
    loop.published.clear()
    followed = loop.record_return(started["db2"], "db2", delta_return(4, need_full="no store"))
    assert list(followed) == ["db2"] and loop.published == [(["db2"], None)]
    state = loop.store.get_minions()["db2"]
    assert state["full"] == "no store" and state.get("failures", 0) == 0
    assert loop.store.get_applies("prod", "a")["db2"]["sequence"] == 3
    # The full apply's return clears it: the next publish is a delta again.
    loop.record_return(followed["db2"], "db2", state_return(4))
    assert "full" not in loop.store.get_minions()["db2"]
    loop.record_return(started["db1"], "db1", delta_return(4))
    loop.record_return(started["db3"], "db3", delta_return(4))
    store_next(loop, 5, [3, 4])
    loop.published.clear()
    loop.run()
    [(minion_ids, payload)] = loop.published
    assert minion_ids == ["db1", "db2", "db3"] and payload[0]["base_sequence"] == 4


def test_groups_by_base_and_a_base_too_old_gets_the_full_apply(loop, monkeypatch):
    """Subscribers at different bases get one job per base; one whose base left the history gets the full apply."""
    monkeypatch.setattr(deltas, "KEEP_STEPS", 2)
    store_next(loop, 4, [2, 3])
    started = loop.run()
    loop.record_return(started["db1"], "db1", delta_return(4))
    loop.record_return(started["db2"], "db2", delta_return(4))
    loop.record_return(
        started["db3"],
        "db3",
        {
            **delta_return(4),
            "result": False,
            "comment": "nft failed",
            "allowlists": {"prod/a": {"sequence": 3, "applied": False}},
        },
    )
    store_next(loop, 5, [3, 4])
    store_next(loop, 6, [4, 5])
    loop.published.clear()
    loop.time.now += 1000  # past db3's backoff
    loop.run()
    published = {tuple(ids): payload for ids, payload in loop.published}
    assert published[("db1", "db2")][0]["base_sequence"] == 4
    # db3 failed its delta: the retry is the full apply.
    assert published[("db3",)] is None


def test_a_delta_job_changes_nothing_for_a_minion_that_unsubscribed(loop):
    """Deltas follow the index: a minion no longer subscribed gets no job."""
    subscriber_index.record(loop.store, "db3", [])
    store_next(loop, 4, [2, 3])
    loop.run()
    assert [ids for ids, _ in loop.published] == [["db1", "db2"]]


def test_random_histories_compose_to_the_newest_list():
    """Composed deltas from any kept base turn that base into the newest list (property, seeded)."""
    rng = random.Random(25)
    lists = [hosts(rng.sample(range(500), 50))]
    steps = []
    for sequence in range(1, 12):
        following = hosts(
            set(rng.sample(sorted(set(range(500)) - set(lists[-1])), 5)) | set(rng.sample(range(500), 40))
        )
        lists.append(following)
        steps = deltas.extend(steps, deltas.step(snapshot(sequence, lists[-2]), snapshot(sequence + 1, following)))
    for base in deltas.bases(steps):
        composed = deltas.compose("prod/a", steps, base)
        result = (set(lists[base - 1]) - set(composed["removed"])) | set(composed["added"])
        assert sorted(result) == sorted(lists[-1])


def test_a_minion_that_cannot_run_the_delta_gets_the_full_apply_until_it_restarts(loop):
    """An older extension on the minion: Salt's error, no backoff, the full apply at once, no delta until a start."""
    store_next(loop, 4, [2, 3])
    started = loop.run()
    loop.published.clear()
    missing = "'nodeallow.apply_delta' is not available."
    followed = loop.record_return(started["db2"], "db2", missing)
    assert list(followed) == ["db2"] and loop.published == [(["db2"], None)]
    state = loop.store.get_minions()["db2"]
    assert state.get("failures", 0) == 0 and "is not available" in state["no_delta"]
    assert loop.store.get_applies("prod", "a")["db2"]["sequence"] == 3
    loop.record_return(followed["db2"], "db2", state_return(4))
    loop.record_return(started["db1"], "db1", delta_return(4))
    loop.record_return(started["db3"], "db3", delta_return(4))
    store_next(loop, 5, [3, 4])
    loop.published.clear()
    loop.run()
    published = {tuple(ids): payload for ids, payload in loop.published}
    assert published[("db1", "db3")][0]["base_sequence"] == 4 and published[("db2",)] is None
    # Its next start clears it: it may have been upgraded.
    loop.alive("db2")
    assert "no_delta" not in loop.store.get_minions()["db2"]
