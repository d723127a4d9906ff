# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Benchmark: how long ingest takes as the number of accepted minion keys grows.

A real salt-master and salt-api; N accepted minion keys (key files in the master's pki dir, as
``salt-key -A`` leaves them), 20 of them subscribed in the index; a signed snapshot POSTed to the
hook. The figure is ingest's time in the engine (the hook event's stamp → the ``stored`` event's). The
anchor, measured in the same run, is what every ingest paid before the index: compiling every
accepted minion's pillar (``salt-run nodeallow.reindex``).

Quick by default (part of ``make test``: the anchor only at the first key count, since compiling 200
pillars took 37 s in CI and is not what the test checks); ``NODEALLOW_BENCH=1``
runs the full matrix of docs/benchmarks.md (10/100/1000/2000 keys and 10 again, 10k addresses,
medians of 5, the anchor at every count); NODEALLOW_BENCH_KEYS=10,2000 picks the key counts.
"""

import os
import shutil
import statistics
import time

import pytest
from pytestshellutils.utils import ports
from saltfactories.utils import random_string

from saltext.nodeallow import index as subscriber_index
from saltext.nodeallow import store as nodeallow_store
from tests.master.conftest import nodeallow_master_config
from tests.support.events import MasterEvents, ingest_times
from tests.support.hooks import HookClient
from tests.support.master_side import PillarFiles, Publisher, encode_body

FULL = bool(os.environ.get("NODEALLOW_BENCH"))
KEY_COUNTS = tuple(int(n) for n in os.environ.get("NODEALLOW_BENCH_KEYS", "").split(",") if n) or (
    (10, 100, 1000, 2000, 10) if FULL else (10, 200)
)
ADDRESSES = 10000 if FULL else 1000
RUNS = 5 if FULL else 3
SUBSCRIBED = 20


@pytest.fixture(scope="module")
def bench_master(salt_factories, signing_keys, salt_factories_default_root_dir):
    """A nodeallow master with salt-api, for the benchmark only."""
    pillar = PillarFiles(salt_factories_default_root_dir / "nodeallow-bench-pillar")
    config = nodeallow_master_config(ports.get_unused_localhost_port(), pillar.root, signing_keys)
    # A 10k-address body (~180 kB) is carried twice by the hook event.
    factory = salt_factories.salt_master_daemon(random_string("na-bench-"), overrides=config)
    with factory.started(), factory.salt_api_daemon().started():
        yield factory, pillar


def accept_keys(master, count, template):
    """Make exactly ``count`` accepted minion keys (``bench-<n>``), as accepted key files in the pki dir."""
    folder = os.path.join(master.config["pki_dir"], "minions")
    for name in os.listdir(folder):
        if name.startswith("bench-"):
            os.remove(os.path.join(folder, name))
    for number in range(count):
        shutil.copyfile(template, os.path.join(folder, f"bench-{number:05d}"))


def test_ingest_time_does_not_grow_with_accepted_minions(bench_master, signing_keys, capsys):
    """Ingest of one snapshot stays flat from 10 to 2000 accepted keys (20 subscribed), under 0.5 s at 10k addresses."""
    master, pillar = bench_master
    template = os.path.join(master.config["pki_dir"], "master.pub")
    store = nodeallow_store.Store(master.config)
    addresses = [f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}/32" for n in range(ADDRESSES)]
    client = HookClient(f"http://127.0.0.1:{master.config['rest_cherrypy']['port']}", timeout=60)
    publisher = Publisher(client, signing_keys)
    rows = []
    sequence = 0
    try:
        # A first publish, not counted: the engine's first ingest and reconcile pass after the start.
        with MasterEvents(master.config) as events:
            sequence += 1
            publisher.post("prod", "bench", encode_body("prod", "bench", sequence, addresses))
            events.wait_for("nodeallow/stored/prod/bench", timeout=120)
        for count in KEY_COUNTS:
            accept_keys(master, count, template)
            for number in range(SUBSCRIBED):
                pillar.subscribe(f"bench-{number:05d}", "prod/bench")
                subscriber_index.record(store, f"bench-{number:05d}", [("prod", "bench")])
            held = []
            with MasterEvents(master.config) as events:
                for _ in range(RUNS):
                    sequence += 1
                    body = encode_body("prod", "bench", sequence, addresses[: ADDRESSES - sequence % 2])
                    publisher.post("prod", "bench", body)
                    events.wait_for("nodeallow/stored/prod/bench", timeout=120)
                held = ingest_times(events)
            compile_all = None
            if FULL or not rows:
                started = time.monotonic()
                ret = master.salt_run_cli(timeout=600).run("nodeallow.reindex", "--out=json")
                compile_all = time.monotonic() - started
                assert ret.returncode == 0, ret
            rows.append((count, statistics.median(held), compile_all))
    finally:
        client.close()
        accept_keys(master, 0, template)
    with capsys.disabled():
        print(f"\ningest of a {ADDRESSES}-address snapshot, {SUBSCRIBED} subscribers (median of {RUNS}):")
        print("accepted keys | ingest (s) | compiling every pillar, the old per-publish cost (s)")
        for count, ingest, compile_all in rows:
            anchor = "-" if compile_all is None else f"{compile_all:.2f}"
            print(f"{count:13d} | {ingest:10.3f} | {anchor}")
    ingests = [ingest for _, ingest, _ in rows]
    # Flat: the largest fleet costs no more than the smallest plus noise.
    assert max(ingests) < min(ingests) * 3 + 0.2, rows
    if FULL:
        assert max(ingests) < 0.5, rows
