# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Benchmark: a burst of publishes costs what is current, not every step of it (issue 25 item 4).

A real salt-master with salt-api, the shipped reactor and the nodeallow engine, and two minions whose
nftables firewalls live in network namespaces, both subscribed to every allowlist. Many allowlists
each get a run of sequences (20-address signed bodies) POSTed as fast as salt-api takes them, each
allowlist's in order (as its controller sends them), several allowlists at once (as several clusters
do). Measured from the first POST (master event stamps): when every allowlist's last sequence was
stored, and when both subscribers had applied it (also from the last POST: salt-api's pace is the
machine's); every body must be accounted for by exactly one outcome event (``stored`` or ``unchanged``:
``superseded``, ``replay``, ``older``; a second ingest of a body would count twice) and none refused.

Quick by default (part of ``make test``: 20 allowlists x 10 sequences); ``NODEALLOW_BENCH=1`` runs
the issue's 50 x 20 = 1,000 bodies, ``NODEALLOW_BENCH_RUNS`` times (default 3, medians reported).
"""

import collections
import contextlib
import os
import statistics
import time

import pytest
from pytestshellutils.utils import ports
from saltfactories.utils import random_string

from saltext.nodeallow import store as nodeallow_store
from tests.master.conftest import nodeallow_master_config
from tests.support import netns as netns_support
from tests.support.events import MasterEvents, stamp
from tests.support.hooks import HookClient
from tests.support.master_side import PillarFiles, Publisher, encode_body

FULL = bool(os.environ.get("NODEALLOW_BENCH"))
ALLOWLISTS = 50 if FULL else 20
SEQUENCES = 20 if FULL else 10
RUNS = int(os.environ.get("NODEALLOW_BENCH_RUNS", "3")) if FULL else 1
ADDRESSES = 20
# Issue 25's targets for the full burst, in seconds after the first POST, with its 1,000 POSTs taking 2.9 s.
# How fast salt-api takes POSTs is the machine's (45-50 ms each on the shared 2 cores at a load of 12), so
# the check is the master's own part: from the last POST, within the target less the issue's posting time.
STORED_TARGET = 15.0
CURRENT_TARGET = 20.0
ISSUE_POSTING = 2.9


@pytest.fixture(scope="module")
def burst_master(salt_factories, signing_keys, salt_factories_default_root_dir):
    """A nodeallow master (documented settings) with salt-api, for this benchmark only."""
    pillar = PillarFiles(salt_factories_default_root_dir / "nodeallow-burst-pillar")
    config = nodeallow_master_config(ports.get_unused_localhost_port(), pillar.root, signing_keys)
    factory = salt_factories.salt_master_daemon(random_string("na-burst-"), overrides=config)
    with factory.started(), factory.salt_api_daemon().started():
        yield factory, pillar


@pytest.fixture(scope="module")
def burst_minions(burst_master, netns_available):  # pylint: disable=unused-argument
    """Two running minions of the burst master, each with its nftables firewall in its own namespace."""
    master, _ = burst_master
    with contextlib.ExitStack() as stack:
        ids = []
        for _ in range(2):
            ns = stack.enter_context(netns_support.netns())
            factory = master.salt_minion_daemon(
                random_string("na-burst-minion-", uppercase=False), overrides={"nodeallow_netns": ns.name}
            )
            stack.enter_context(factory.started())
            ids.append(factory.id)
        yield ids


def addresses_of(number, sequence):
    """Twenty host addresses of allowlist ``number`` at ``sequence`` (one changes per sequence)."""
    return [f"10.{100 + number}.{sequence}.{n}/32" for n in range(ADDRESSES)]


def post_all(publisher, names, first, last):
    """POST sequences ``first..last`` of every allowlist, round by round (each allowlist's in order).

    One connection, one POST at a time, as the controller sends them to one salt-api: salt-api's hook shares
    one event sender between its threads, and POSTs at once break it (HTTP 500, for every later POST too:
    tests/master/test_hook_concurrency.py, docs/salt.md "Troubleshooting").
    Returns the wall time of the first POST and the seconds the posting took.
    """
    started = time.time()
    for sequence in range(first, last + 1):
        for number, allowlist in names:
            publisher.post("prod", allowlist, encode_body("prod", allowlist, sequence, addresses_of(number, sequence)))
    return started, time.time() - started


def burst_once(master, publisher, minion_ids, names, first, last):
    """One burst of sequences ``first..last``: ``(seconds to post, to stored, to current, outcomes)``."""
    want = {f"prod/{allowlist}" for _, allowlist in names}
    stored_at = {}
    current_at = {}
    outcomes = collections.Counter()
    with MasterEvents(master.config) as events:
        started, posting = post_all(publisher, names, first, last)
        deadline = time.monotonic() + 300
        while len(current_at) < len(want) * len(minion_ids) or len(stored_at) < len(want):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"after 300s: {len(stored_at)}/{len(want)} stored, "
                    f"{len(current_at)}/{len(want) * len(minion_ids)} applied; outcomes {dict(outcomes)}"
                )
            events.drain(0.5)
            for event in events.seen:
                if event.get("_counted"):
                    continue
                event["_counted"] = True
                parts = event["tag"].split("/")
                if parts[0] != "nodeallow" or len(parts) != 4:
                    continue
                name, data = f"{parts[2]}/{parts[3]}", event["data"]
                if name not in want:
                    continue
                if parts[1] in ("stored", "rejected"):
                    outcomes[parts[1]] += 1
                elif parts[1] == "unchanged":
                    outcomes[data["outcome"]] += 1
                if parts[1] == "stored" and data["sequence"] == last:
                    stored_at[name] = stamp(event) - started
                if parts[1] == "applied" and data["sequence"] == last and data["result"] is True:
                    for minion_id in data["minions"]:
                        current_at.setdefault((name, minion_id), stamp(event) - started)
    return posting, max(stored_at.values()), max(current_at.values()), outcomes


def test_a_burst_costs_what_is_current(burst_master, burst_minions, signing_keys, capsys):
    """Every allowlist's last sequence is stored and applied on both subscribers soon after a burst; none is lost."""
    master, pillar = burst_master
    names = [(number, f"burst-{number:02d}") for number in range(ALLOWLISTS)]
    for minion_id in burst_minions:
        pillar.subscribe(minion_id, *(f"prod/{allowlist}" for _, allowlist in names))
    ret = master.salt_run_cli(timeout=300).run("nodeallow.reindex", "--out=json")
    assert ret.returncode == 0, ret
    client = HookClient(f"http://127.0.0.1:{master.config['rest_cherrypy']['port']}", timeout=60)
    publisher = Publisher(client, signing_keys)
    rows = []
    try:
        # A first round stores every allowlist and applies it, so each run measures a burst on a settled master.
        burst_once(master, publisher, burst_minions, names, 1, 1)
        for run in range(RUNS):
            first = 2 + run * SEQUENCES
            rows.append(burst_once(master, publisher, burst_minions, names, first, first + SEQUENCES - 1))
    finally:
        client.close()
    store = nodeallow_store.Store(master.config)
    last = 1 + RUNS * SEQUENCES
    for _, allowlist in names:
        assert store.get("prod", allowlist)["sequence"] == last, allowlist
    bodies = ALLOWLISTS * SEQUENCES
    for _, _, _, outcomes in rows:
        # Every body is accounted for by an event; none refused, none lost.
        assert outcomes["rejected"] == 0 and sum(outcomes.values()) == bodies, outcomes
    posting = statistics.median(r[0] for r in rows)
    after_stored = statistics.median(r[1] - r[0] for r in rows)
    after_current = statistics.median(r[2] - r[0] for r in rows)
    to_stored = statistics.median(r[1] for r in rows)
    to_current = statistics.median(r[2] for r in rows)
    with capsys.disabled():
        print(
            f"\nburst: {ALLOWLISTS} allowlists x {SEQUENCES} sequences ({bodies} bodies of {ADDRESSES} addresses), "
            f"2 subscribers, median of {RUNS}:"
        )
        print("seconds after the first POST (after the last POST)")
        print("run | posted in | last sequence stored | both subscribers current | outcomes")
        for number, (post, to_s, to_c, outcomes) in enumerate(rows, start=1):
            print(
                f"{number:3d} | {post:9.1f} | {to_s:10.1f} ({to_s - post:5.1f}) | {to_c:14.1f} ({to_c - post:5.1f}) | "
                f"{dict(sorted(outcomes.items()))}"
            )
        print(
            f"median: posted in {posting:.1f}s, stored {to_stored:.1f}s ({after_stored:.1f}), "
            f"current {to_current:.1f}s ({after_current:.1f})"
        )
    if FULL:
        assert after_stored <= STORED_TARGET - ISSUE_POSTING, rows
        assert after_current <= CURRENT_TARGET - ISSUE_POSTING, rows
