# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""saltext.nodeallow.store on Salt's real localfs cache in a temporary cachedir."""

import multiprocessing
import threading
import time

import pytest
import salt.config

from saltext.nodeallow import store as nodeallow_store
from saltext.nodeallow.protocol.canonical import digest
from saltext.nodeallow.protocol.decode import decode
from tests.support.master_side import encode_body


@pytest.fixture
def store(tmp_path):
    """A Store over a fresh master cachedir."""
    opts = dict(salt.config.DEFAULT_MASTER_OPTS)
    opts["cachedir"] = str(tmp_path / "cache")
    return nodeallow_store.Store(opts)


def record(cluster, allowlist, sequence, addresses):
    """A stored allowlist record."""
    return {
        "cluster": cluster,
        "allowlist": allowlist,
        "sequence": sequence,
        "digest": digest(addresses),
        "generated_at": "2026-03-01T12:00:00Z",
        "stored_at": 1.0,
        "addresses": addresses,
        "retired": False,
    }


def test_records_round_trip_and_list_sorted(store):
    """Records come back as stored; list() gives (cluster, allowlist) pairs sorted."""
    store.put(record("staging", "b", 1, ["10.0.0.1/32"]))
    store.put(record("prod", "workers", 7, ["10.0.0.2/32", "fd00::/64"]))
    assert store.get("prod", "workers") == record("prod", "workers", 7, ["10.0.0.2/32", "fd00::/64"])
    assert store.get("prod", "missing") is None
    assert store.list() == [("prod", "workers"), ("staging", "b")]


def test_records_survive_a_new_store_object(store):
    """Another Store (another process, a restarted master) reads what was written."""
    store.put(record("prod", "workers", 3, ["10.0.0.1/32"]))
    again = nodeallow_store.Store(store.opts)
    assert again.get("prod", "workers")["sequence"] == 3


def test_applies_merge_per_minion_and_never_go_back(store):
    """Apply results merge by minion id; one from an older job never replaces a newer one."""
    store.record_applies("prod", "w", {"a": {"sequence": 1, "result": True, "jid": "20261201000000000001"}})
    store.record_applies("prod", "w", {"b": {"sequence": 1, "result": False, "jid": "20261201000000000001"}})
    store.record_applies("prod", "w", {"a": {"sequence": 3, "result": True, "jid": "20261201000000000003"}})
    # The job of sequence 2 finishes last: it must not make minion a look older.
    kept = store.record_applies("prod", "w", {"a": {"sequence": 2, "result": True, "jid": "20261201000000000002"}})
    assert kept == {}
    assert store.get_applies("prod", "w") == {
        "a": {"sequence": 3, "result": True, "jid": "20261201000000000003"},
        "b": {"sequence": 1, "result": False, "jid": "20261201000000000001"},
    }


def test_sequences_summary_follows_the_records(store):
    """put() keeps the sequence summary; a record flushed by hand drops out of it."""
    store.put(record("prod", "a", 4, ["10.0.0.1/32"]))
    store.put(record("prod", "b", 9, ["10.0.0.2/32"]))
    store.put(record("prod", "a", 5, ["10.0.0.3/32"]))
    assert store.sequences() == {"prod/a": 5, "prod/b": 9}
    store.cache.flush(nodeallow_store.ALLOWLISTS_BANK, "prod.b")
    assert store.sequences() == {"prod/a": 5}


def test_chunks_are_kept_per_sequence_and_index(store):
    """Chunks are grouped by sequence and index; a duplicate replaces itself; drop removes a sequence."""
    for sequence, index in ((5, 1), (5, 0), (5, 1), (6, 0)):
        zero_digest = "sha256:" + "0" * 64
        body = encode_body("prod", "w", sequence, [f"10.0.0.{index + 1}/32"], chunk=(index, 3), digest=zero_digest)
        store.put_chunk("prod", "w", decode(body))
    chunks = store.chunks("prod", "w")
    assert sorted(chunks) == [5, 6]
    assert sorted(chunks[5]) == [0, 1]
    assert chunks[5][0]["addresses"] == ["10.0.0.1/32"]
    store.drop_chunks("prod", "w", {5})
    assert sorted(store.chunks("prod", "w")) == [6]
    assert list(store.pending_chunks()) == [("prod", "w")]


def test_incomplete_chunks_expire_after_the_timeout(store):
    """A set whose first chunk is older than the timeout is dropped; a younger one stays."""
    body = encode_body("prod", "w", 5, ["10.0.0.1/32"], chunk=(0, 2), digest="sha256:" + "0" * 64)
    store.put_chunk("prod", "w", decode(body))
    received = store.chunks("prod", "w")[5][0]["received_at"]
    assert store.expire_chunks(300, now=received + 299) == []
    assert store.expire_chunks(300, now=received + 301) == [("prod", "w", 5)]
    assert store.chunks("prod", "w") == {}


def test_lock_excludes_other_threads(store):
    """Only one holder of the store lock at a time (it guards read-decide-write steps)."""
    inside = []
    overlaps = []

    def work():
        for _ in range(20):
            with store.lock():
                inside.append(1)
                time.sleep(0.002)  # long enough for another thread to get in if the lock let it
                if len(inside) > 1:
                    overlaps.append(1)
                inside.pop()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not overlaps


def test_lock_excludes_other_processes(store):
    """A process (salt-run, the engine, another master of a cluster) waits while another holds the lock."""
    context = multiprocessing.get_context("fork")
    holding, release = context.Event(), context.Event()

    def hold():
        with store.lock():
            holding.set()
            release.wait(10)

    child = context.Process(target=hold)
    child.start()
    try:
        assert holding.wait(30), "the child never took the lock"
        threading.Timer(0.5, release.set).start()
        started = time.monotonic()
        with store.lock():
            waited = time.monotonic() - started
        assert waited >= 0.4, f"took the lock after {waited:.2f}s while another process held it"
    finally:
        release.set()
        child.join(10)


@pytest.mark.parametrize(
    ("result", "previous", "expected"),
    [
        ({"jid": "20261202000000000002", "time": 1}, {"jid": "20261202000000000001", "time": 5}, True),
        ({"jid": "20261202000000000001", "time": 9}, {"jid": "20261202000000000002", "time": 1}, False),
        # The same return recorded again later (a peer master's engine, a re-read): not newer.
        (
            {"jid": "20261202000000000001", "time": 9, "sequence": 3, "result": True, "comment": "ok"},
            {"jid": "20261202000000000001", "time": 1, "sequence": 3, "result": True, "comment": "ok"},
            False,
        ),
        # The real return of a job whose timeout was recorded first: replaces the timeout.
        (
            {"jid": "20261202000000000001", "time": 9, "sequence": 3, "result": True, "comment": "ok"},
            {"jid": "20261202000000000001", "time": 1, "sequence": 2, "result": False, "comment": "no answer"},
            True,
        ),
        # No job id (a failure recorded without one): the time decides.
        ({"jid": None, "time": 9}, {"jid": None, "time": 1}, True),
        ({"jid": "20261202000000000001", "time": 1}, None, True),
    ],
)
def test_newer_orders_by_job_then_outcome(result, previous, expected):
    """Job ids order results; the same job counts again only with a different outcome."""
    assert nodeallow_store.newer(result, previous) is expected
