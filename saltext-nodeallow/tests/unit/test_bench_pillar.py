# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Benchmark: the nodeallow pillar per minion per publish, in bytes, and the master's time to render it.

The ext_pillar over Salt's real localfs cache in a temporary cachedir, one stored allowlist of N
addresses (the shape of tests/integration/test_bench_firewall.py), one subscribed minion. Bytes
are Salt's own serialisation of the pillar (``salt.payload.dumps``, msgpack: what the master
sends, before encryption), beside JSON and beside the one compact alternative that keeps a text
shape (the addresses as one newline-joined string). Quick by default (1,000 addresses, part of
``make test``); ``NODEALLOW_BENCH=1`` runs 1k/10k/100k, medians of 5.
"""

import json
import os
import statistics
import time

import pytest
import salt.config
import salt.payload

from saltext.nodeallow import store as nodeallow_store
from saltext.nodeallow.pillar import nodeallow as pillar_module
from saltext.nodeallow.protocol.canonical import digest
from tests.integration.test_bench_firewall import addresses

FULL = bool(os.environ.get("NODEALLOW_BENCH"))
SIZES = (1000, 10000, 100000) if FULL else (1000,)
RUNS = 5 if FULL else 1


@pytest.fixture
def master_opts(tmp_path, monkeypatch):
    """Master options over a fresh cachedir, given to the ext_pillar as its ``__opts__``."""
    opts = dict(salt.config.DEFAULT_MASTER_OPTS)
    opts["cachedir"] = str(tmp_path / "cache")
    monkeypatch.setattr(pillar_module, "__opts__", opts, raising=False)
    return opts


def test_pillar_bytes_and_render_time(master_opts, capsys):
    """The pillar carries the stored list as is (about 20 bytes per address) and renders without parsing it."""
    store = nodeallow_store.Store(master_opts)
    minion_pillar = {"nodeallow": {"rules": [{"allowlist": "prod/bench", "ports": [5432]}]}}
    rows = []
    for size in SIZES:
        entries = addresses(size, seed=size)
        store.put(
            {
                "cluster": "prod",
                "allowlist": "bench",
                "sequence": size,
                "digest": digest(entries),
                "generated_at": "2026-12-02T00:00:00Z",
                "stored_at": 1.0,
                "addresses": entries,
                "retired": False,
                "signed_with_key": 0,
            }
        )
        times = []
        for _ in range(RUNS):
            started = time.perf_counter()
            out = pillar_module.ext_pillar("db1", minion_pillar)
            times.append(time.perf_counter() - started)
        record = out["nodeallow"]["allowlists"]["prod/bench"]
        assert record["addresses"] == entries and record["digest"] == digest(entries)
        packed = len(salt.payload.dumps(out))
        joined = len(salt.payload.dumps({**record, "addresses": "\n".join(entries)}))
        rows.append((size, statistics.median(times) * 1000, packed, len(json.dumps(out)), joined))
    with capsys.disabled():
        print(f"\nnodeallow pillar per minion per publish (median of {RUNS}):")
        print("addresses | render (ms) | msgpack bytes (per address) | JSON bytes | msgpack, addresses joined")
        for size, render, packed, as_json, joined in rows:
            print(f"{size:9d} | {render:11.1f} | {packed:11d} ({packed / size:.1f}) | {as_json:10d} | {joined}")
    for size, _, packed, _, joined in rows:
        # The text list costs little over its own characters: a joined string would save under 5%.
        assert joined > packed * 0.95, (size, packed, joined)
