# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Self-repair's pure parts: the store's rules (format 3), the Desired rebuilt from it, event classes, records."""

import calendar
import dataclasses
import json
import time
import types

import jsonschema
import pytest
import salt.config

from saltext.nodeallow import status, status_table
from saltext.nodeallow import store as nodeallow_store
from saltext.nodeallow.engines import nodeallow as engine_module
from saltext.nodeallow.firewall import desired, lastgood, repair, watch
from tests.support.master_side import load_status_vectors

PILLAR = {
    "rules": [
        {"allowlist": "prod/workers", "ports": [5432, "8000-8100"], "comment": "pg"},
        {"allowlist": "prod/workers", "proto": "udp", "ports": [53]},
    ],
    "allowlists": {
        "prod/workers": {
            "cluster": "prod",
            "allowlist": "workers",
            "sequence": 4,
            "addresses": ["10.0.0.1/32", "10.9.0.0/24", "fd00::1/128"],
            "retired": False,
            "generated_at": "2026-12-01T10:00:00Z",
        }
    },
}


def _saved(tmp_path, pillar=PILLAR):
    """Save the Desired of ``pillar`` as last known good; return it and the cachedir."""
    want = desired.build(pillar, {})
    lastgood.save(str(tmp_path), want, 12.0)
    return want, str(tmp_path)


def test_the_store_keeps_every_field_of_the_applied_rules(tmp_path):
    """Format 3 stores the validated rules field by field and reads them back equal."""
    want, cachedir = _saved(tmp_path)
    with open(lastgood.path(cachedir), encoding="utf-8") as fh:
        data = json.load(fh)
    assert data["format"] == 3
    assert data["rules"] == json.loads(json.dumps([dataclasses.asdict(r) for r in want.rules]))
    assert lastgood.load(cachedir)["rules"] == want.rules


def test_a_format_2_store_is_read_without_rules(tmp_path):
    """An older store still loads; it has no rules, so there is nothing to repair from yet."""
    _, cachedir = _saved(tmp_path)
    with open(lastgood.path(cachedir), encoding="utf-8") as fh:
        data = json.load(fh)
    data["format"] = 2
    del data["rules"]
    with open(lastgood.path(cachedir), "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    store = lastgood.load(cachedir)
    assert store["rules"] is None
    assert store["allowlists"]["prod/workers"].sequence == 4
    assert repair.desired_from_store(store) is None


@pytest.mark.parametrize(
    "rule, problem",
    [
        (
            {"allowlist": "prod/workers", "proto": "tcp", "ports": [[5432, 5432]], "comment": "", "x": 1},
            "not a nodeallow",
        ),
        ({"allowlist": "prod/workers", "proto": "icmp", "ports": [[1, 2]], "comment": ""}, "proto"),
        ({"allowlist": "prod/workers", "proto": "tcp", "ports": [[0, 70000]], "comment": ""}, "ports"),
        ({"allowlist": "Prod_x", "proto": "tcp", "ports": [[1, 2]], "comment": ""}, "allowlist"),
    ],
)
def test_a_stored_rule_that_is_wrong_makes_the_store_corrupt(tmp_path, rule, problem):
    """Stored rules reach nft and iptables text: one that does not check out is an error naming the file."""
    _, cachedir = _saved(tmp_path)
    with open(lastgood.path(cachedir), encoding="utf-8") as fh:
        data = json.load(fh)
    data["rules"] = [rule]
    with open(lastgood.path(cachedir), "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    with pytest.raises(ValueError, match=problem) as info:
        lastgood.load(cachedir)
    assert lastgood.path(cachedir) in str(info.value)


def test_the_desired_rebuilt_from_the_store_renders_like_the_applied_one(tmp_path):
    """Without pillar, the store alone gives the same rules, sets and record as the apply wrote."""
    from saltext.nodeallow.firewall import nftables  # pylint: disable=import-outside-toplevel

    want, cachedir = _saved(tmp_path)
    again = repair.desired_from_store(lastgood.load(cachedir))
    assert again.rules == want.rules
    assert nftables.render(again) == nftables.render(want)
    assert again.backend == "nftables" and again.policy == "restrict"


OWN_DELTA = [
    "delete element inet nodeallow a_c034b9c847_4 { 10.0.0.1 }",
    "delete rule inet nodeallow state handle 9",
    'add rule inet nodeallow state counter packets 0 bytes 0 comment "na-state a_c034b9c847 ab 3"',
]


@pytest.mark.parametrize(
    "backend, lines, expected",
    [
        ("nftables", OWN_DELTA, None),
        ("nftables", ["delete table inet nodeallow"], "cheap"),
        ("nftables", ["delete element inet nodeallow a_c034b9c847_4 { 10.0.0.1 }"], "full"),
        ("nftables", ["delete table inet other", "add table ip filter"], None),
        ("nftables", ["delete table inet nodeallow2"], None),
        ("nftables", ["delete rule inet nodeallow input handle 4", "delete table inet nodeallow"], "cheap"),
        ("ipset", ["create chain ip filter NODEALLOW"], "cheap"),
        ("iptables", ["delete table ip6 filter"], "cheap"),
        ("iptables", ["delete table inet nodeallow"], None),
        (None, ["delete table inet nodeallow"], None),
    ],
)
def test_monitor_transactions_are_told_apart(backend, lines, expected):
    """Our own applies (they rewrite chain state) and unrelated tables wake nothing; the rest does."""
    assert watch.classify(lines, backend, "nodeallow") == expected


def test_engine_options_are_checked():
    """Unknown or non-positive options are refused with the option's name."""
    assert watch.options({}) == (watch.DEFAULT_POLL, watch.DEFAULT_BACKSTOP, watch.DEFAULT_SETTLE)
    assert watch.options({"poll": 1}) == (1.0, watch.DEFAULT_BACKSTOP, watch.DEFAULT_SETTLE)
    with pytest.raises(ValueError, match="poll"):
        watch.options({"poll": 0})
    with pytest.raises(ValueError, match="unknown"):
        watch.options({"pol": 1})


def test_the_master_records_repairs_once_and_status_shows_the_last(tmp_path):
    """An event carries the last few repairs again: each is kept once; status and its table show the newest."""
    opts = dict(salt.config.DEFAULT_MASTER_OPTS)
    opts["cachedir"] = str(tmp_path / "cache")
    store = nodeallow_store.Store(opts)
    first = {
        "time": "2026-12-01T10:00:00Z",
        "trigger": "nft monitor: delete table inet nodeallow",
        "summary": ["recreated nft table inet nodeallow"],
        "seconds": 0.05,
        "evil": "x" * 10,
    }
    second = dict(first, time="2026-12-01T10:05:00Z", summary=["prod/workers ipv4: 3 address(es) put back"])
    store.record_repairs("db1", [first])
    store.record_repairs("db1", [first, second])
    kept = store.get_repairs()["db1"]
    assert [r["time"] for r in kept] == [first["time"], second["time"]]
    assert "evil" not in kept[0]
    now = calendar.timegm(time.strptime(second["time"], "%Y-%m-%dT%H:%M:%SZ")) + 60
    line = status._last_repair(kept, now=now)  # pylint: disable=protected-access
    assert line["summary"] == second["summary"] and line["count"] == 2
    assert line["seconds_ago"] == 60
    sub = {
        "applied_sequence": 4,
        "result": True,
        "behind": False,
        "last_error": "",
        "seconds_ago": 3,
        "job": None,
        "next_retry_in": 0,
        "failures": 0,
        "last_repair": dict(line, seconds_ago=60),
    }
    text = status_table.render(
        {
            "prod/workers": {
                "cluster": "prod",
                "allowlist": "workers",
                "stored": True,
                "sequence": 4,
                "digest": "sha256:" + "0" * 64,
                "addresses": 3,
                "retired": False,
                "stored_seconds_ago": 5,
                "subscribers": {"db1": sub},
                "behind": [],
            }
        }
    )
    assert "repaired 1m ago: prod/workers ipv4: 3 address(es) put back" in text


def test_the_engine_records_a_minions_repair_event_and_status_reports_it(tmp_path):
    """The master engine's handler stores what the event carries; the runner's entry still matches the schema."""
    opts = dict(salt.config.DEFAULT_MASTER_OPTS)
    opts["cachedir"] = str(tmp_path / "cache")
    store = nodeallow_store.Store(opts)
    store.put_index({"db1": ["prod/workers"], "db2": ["prod/workers"]})
    repaired = {
        "time": "2026-12-01T10:00:00Z",
        "trigger": "periodic check",
        "backend": "ipset",
        "summary": ["prod/workers ipv4: 1 address(es) put back, 0 removed"],
        "seconds": 0.1,
    }
    loop = types.SimpleNamespace(store=store)
    # The master fires the minion's load: its id (checked by the master) and the data it sent.
    engine_module.Loop._repaired(loop, {"id": "db1", "data": {"repair": repaired, "recent": [repaired]}})
    engine_module.Loop._repaired(loop, {"id": "db2", "data": {"repair": "not a mapping"}})
    entry = status.report(store)["prod/workers"]
    assert entry["subscribers"]["db1"]["last_repair"]["summary"] == repaired["summary"]
    assert entry["subscribers"]["db1"]["last_repair"]["count"] == 1
    assert entry["subscribers"]["db2"]["last_repair"] is None
    jsonschema.validate(entry, load_status_vectors()["entrySchema"])


def test_the_watcher_takes_backend_and_table_from_the_store_as_it_changes(tmp_path):
    """A state run right after the watcher started must not leave it blind to events on the new table."""
    watcher = watch.Watcher({"cachedir": str(tmp_path)})
    watcher._refresh()  # pylint: disable=protected-access
    assert (watcher.backend, watcher.table) == (None, None)
    _saved(tmp_path, {**PILLAR, "nft_table": "na2"})
    watcher._refresh()  # pylint: disable=protected-access
    assert (watcher.backend, watcher.table) == ("nftables", "na2")
    assert watch.classify(["delete table inet na2"], watcher.backend, watcher.table) == "cheap"
