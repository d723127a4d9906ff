# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The engine's loop plans its next pass by the reconciler's deadlines, also those an event creates.

The bus and the job publisher are stand-ins (one layer under test: the engine adapter over a real
Reconciler and a real localfs store); the engine with a real master is tested in tests/master and test/e2e.
"""

import datetime
import time

import pytest
import salt.config

from saltext.nodeallow import index as subscriber_index
from saltext.nodeallow import jobcache
from saltext.nodeallow import settings as nodeallow_settings
from saltext.nodeallow import store as nodeallow_store
from saltext.nodeallow.engines import nodeallow as engine
from tests.support import master_side
from tests.support.events import QueuedBus

SETTINGS = nodeallow_settings.Settings(clusters={}, apply_timeout=60, start_grace=5, start_window=15)


def event(tag, **data):
    """A bus event as ``get_event(full=True)`` returns it, stamped now as Salt stamps them (UTC, no zone)."""
    stamp = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None).isoformat()
    return {"tag": tag, "data": {**data, "_stamp": stamp}}


@pytest.fixture
def loop(tmp_path, monkeypatch):
    """An engine Loop over a real store with db1 subscribed to prod/a (sequence 3, never applied)."""
    monkeypatch.setattr(jobcache, "lookup_function", lambda opts: lambda jid: {})
    opts = dict(salt.config.DEFAULT_MASTER_OPTS, cachedir=str(tmp_path / "cache"), id="master1")
    store = nodeallow_store.Store(opts)
    subscriber_index.record(store, "db1", [("prod", "a")])
    master_side.put_snapshot(store, "prod", "a", 3, ["10.0.0.1/32"])
    running = engine.Loop(opts, SETTINGS, store, QueuedBus([]))
    running.published = []
    running.reconciler.publish = lambda ids: running.published.append(sorted(ids)) or f"{len(running.published):020d}"
    return running


def test_a_start_event_brings_the_next_pass_forward_to_its_start_grace(loop):
    """The catch-up a start event starts must be looked at after start_grace, not at the pass planned before."""
    loop.next_pass = time.time() + SETTINGS.reconcile_interval
    loop.bus.events.append(event("salt/minion/db1/start"))
    before = time.time()
    loop.step()
    after = time.time()
    assert loop.published == [["db1"]]
    assert before + SETTINGS.start_grace <= loop.next_pass <= after + SETTINGS.start_grace + 0.2


def test_events_that_are_not_ours_leave_the_plan_alone(loop):
    """Other bus traffic neither reads the store's deadlines nor moves the next pass."""
    planned = time.time() + SETTINGS.reconcile_interval
    loop.next_pass = planned
    loop.bus.events += [event("salt/job/1/ret/db1", fun="test.ping", **{"return": True}), event("salt/minion/x/start")]
    loop.step()
    loop.step()
    assert loop.next_pass == planned and loop.published == []
