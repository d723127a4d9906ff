# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Batched ingest: what a batch stores is what its bodies would store one by one, at one store per allowlist.

Over a real localfs store; the engine's loop with a stand-in bus (tests/unit/test_engine_schedule.py's) shows
that hook events waiting on the bus are ingested as one batch with one reconcile pass, and that a peer's
forwarded hook is left alone. With real daemons: tests/master/test_bench_burst.py and test_ingest.py.
"""

import pytest
import salt.config

from saltext.nodeallow import index as subscriber_index
from saltext.nodeallow import ingest, jobcache
from saltext.nodeallow import settings as nodeallow_settings
from saltext.nodeallow import store as nodeallow_store
from saltext.nodeallow.engines import nodeallow as engine
from saltext.nodeallow.protocol.wire import SIGNATURE_HEADER
from tests.support.events import QueuedBus
from tests.support.master_side import chunked_bodies, encode_body, signature

KEY = "k" * 64
SETTINGS = nodeallow_settings.Settings(clusters={"prod": {"signing_key": KEY}})


def hook(allowlist, body, key=KEY):
    """``(tag, body, headers)`` of a signed hook event for prod/<allowlist>."""
    headers = {SIGNATURE_HEADER: signature(key, body), "Content-Length": str(len(body.encode()))}
    return f"salt/netapi/hook/nodeallow/prod/{allowlist}", body, headers


def snapshot(allowlist, sequence, **kwargs):
    """A hook of a single-body snapshot of prod/<allowlist> at ``sequence``."""
    return hook(allowlist, encode_body("prod", allowlist, sequence, [f"10.0.{sequence}.1/32"], **kwargs))


@pytest.fixture
def store(tmp_path):
    """A Store over a fresh master cachedir, counting its record writes."""
    opts = dict(salt.config.DEFAULT_MASTER_OPTS, cachedir=str(tmp_path / "cache"), id="master1")
    store = nodeallow_store.Store(opts)
    store.puts = []
    put = store.put
    store.put = lambda record: store.puts.append((record["allowlist"], record["sequence"])) or put(record)
    return store


def ingester(store):
    """An Ingest over ``store`` whose fired events are kept in ``.fired``."""
    fired = []
    running = ingest.Ingest(store, SETTINGS, lambda tag, data: fired.append((tag, data)))
    running.fired = fired
    return running


def test_a_batch_stores_each_allowlists_newest_once_and_supersedes_the_rest(store):
    """Sequences 2..5 of a, 1..2 of b, a bad signature and an older one: one store per allowlist, all accounted for."""
    first = ingester(store)
    assert first(*snapshot("a", 2))["result"] == ingest.STORED
    store.puts.clear()
    running = ingester(store)
    bodies = [snapshot("a", 3), snapshot("b", 1), snapshot("a", 1), snapshot("a", 5), snapshot("b", 2),
              hook("a", encode_body("prod", "a", 6, ["10.0.6.1/32"]), key="x" * 64), snapshot("a", 4)]
    summaries = running.batch(bodies)
    assert [s["result"] for s in summaries] == [
        ingest.SUPERSEDED, ingest.SUPERSEDED, ingest.OLDER, ingest.STORED, ingest.STORED,
        ingest.REJECTED, ingest.SUPERSEDED,
    ]
    assert sorted(store.puts) == [("a", 5), ("b", 2)]
    assert store.get("prod", "a")["sequence"] == 5 and store.get("prod", "b")["sequence"] == 2
    assert summaries[3]["previous_sequence"] == 2 and summaries[4]["previous_sequence"] is None
    tags = sorted(tag.split("/")[1] + ":" + str(data.get("outcome", data.get("reason", ""))) for tag, data in
                  running.fired)
    assert tags == ["rejected:bad-signature", "stored:", "stored:", "unchanged:older", "unchanged:superseded",
                    "unchanged:superseded", "unchanged:superseded"]
    # The next body is ordered against the stored newest, as one by one.
    assert running(*snapshot("a", 4))["result"] == ingest.OLDER


def test_a_batch_keeps_the_per_body_rules(store):
    """Replays, conflicts, chunks completing in the batch and a retirement end as they would one by one."""
    running = ingester(store)
    addresses = [f"10.1.0.{n}/32" for n in range(4)]
    chunks = [hook("c", body) for body in chunked_bodies("prod", "c", 7, addresses, 2)]
    bodies = [
        snapshot("a", 1), snapshot("a", 1),
        snapshot("a", 1, digest="sha256:" + "0" * 64),
        chunks[0], snapshot("c", 6), chunks[1],
        snapshot("r", 1), hook("r", encode_body("prod", "r", 2, [], kind="retirement")),
    ]
    results = [s["result"] for s in running.batch(bodies)]
    assert results == [
        ingest.STORED, ingest.REPLAY, ingest.REJECTED,
        ingest.CHUNK, ingest.SUPERSEDED, ingest.STORED,
        ingest.SUPERSEDED, ingest.RETIRED,
    ]
    assert store.get("prod", "c")["addresses"] == addresses and store.chunks("prod", "c") == {}
    assert store.get("prod", "r")["retired"] is True


def test_the_engine_ingests_what_waits_on_the_bus_as_one_batch(store, monkeypatch):
    """Ten hook events queued: two stores, one apply job for the subscriber; a peer's forwarded hook is skipped."""
    monkeypatch.setattr(jobcache, "lookup_function", lambda opts: lambda jid: {})
    subscriber_index.record(store, "db1", [("prod", "a"), ("prod", "b")])
    events = []
    for sequence in range(1, 6):
        for allowlist in ("a", "b"):
            tag, body, headers = snapshot(allowlist, sequence)
            events.append({"tag": tag, "data": {"body": body, "headers": headers}})
    tag, body, headers = snapshot("a", 9)
    events.append({"tag": tag, "data": {"body": body, "headers": headers, "__peer_id": "master2"}})
    loop = engine.Loop(store.opts, SETTINGS, store, QueuedBus(events))
    published = []
    loop.reconciler.publish = lambda ids: published.append(sorted(ids)) or "20261207000000000001"
    loop.next_pass = float("inf")
    loop.step()
    assert loop.bus.events == []
    assert sorted(store.puts) == [("a", 5), ("b", 5)]
    assert published == [["db1"]]


@pytest.mark.parametrize(
    "engines, expected",
    [
        (None, False),
        ([], False),
        ([{"nodeallow": {}}], True),
        (["nodeallow"], True),
        ([{"webhook": {"port": 1}}, {"ours": {"engine_module": "nodeallow"}}], True),
        ([{"reactor": {}}], False),
    ],
)
def test_the_reactor_leaves_ingest_to_a_configured_engine(engines, expected):
    """``engine_ingests`` reads the master's ``engines`` list as Salt does (a name, or ``engine_module``)."""
    assert ingest.engine_ingests({"engines": engines}) is expected
