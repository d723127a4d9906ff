# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""A minion never goes back to an older copy of an allowlist (classic multi-master: a master that is behind).

The state runs through ``engine.managed`` with the ruleset-file backend (no root, no kernel), so the
last-known-good store, the firewall record and the state return are the real ones; the master's side
(reading the return, deciding who is behind) is checked on the same returns.
"""

import json

import pytest

from saltext.nodeallow import reconcile, results
from saltext.nodeallow.firewall import desired, engine, lastgood, rulesetfile
from saltext.nodeallow.protocol.canonical import digest

NAME = "prod/workers"
OLD = ["10.0.0.1/32", "10.0.0.2/32"]
NEW = ["10.0.0.1/32", "10.0.0.3/32"]
STATE_KEY = "nodeallow_|-nodeallow_|-nodeallow_|-managed"


def pillar(sequence, addresses=NEW, generated_at="2026-03-01T12:00:00Z", retired=False):
    """The ``nodeallow`` pillar of a minion subscribed to prod/workers on tcp/5432, with the given copy."""
    record = {
        "cluster": "prod",
        "allowlist": "workers",
        "sequence": sequence,
        "digest": digest([] if retired else addresses),
        "addresses": [] if retired else list(addresses),
        "retired": retired,
    }
    if generated_at is not None:
        record["generated_at"] = generated_at
    return {"rules": [{"allowlist": NAME, "ports": [5432]}], "allowlists": {NAME: record}}


@pytest.fixture
def minion(tmp_path):
    """``apply(pillar)`` runs the state with a ruleset file; ``.allowed()`` reads what the firewall holds."""

    class Minion:
        """One minion's options, its state runs and what its firewall allows."""

        opts = {"cachedir": str(tmp_path / "cache"), "nodeallow_ruleset_file": str(tmp_path / "fw.nft")}

        def apply(self, data):
            """Run ``nodeallow.managed`` with pillar ``data``; return the state return."""
            return engine.managed(self.opts, data)

        def allowed(self):
            """The CIDRs prod/workers' sets hold (empty when the allowlist is not in the firewall)."""
            tables = rulesetfile.RulesetFile(self.opts["nodeallow_ruleset_file"]).load()
            found = set()
            for table in tables.values():
                for family in (table.get("addresses") or {}).get(NAME, {}).values():
                    found.update(family)
            return found

        def store(self):
            """The last-known-good store as loaded."""
            return lastgood.load(self.opts["cachedir"])

    return Minion()


def test_an_older_copy_is_refused_and_is_no_failure(minion):
    """Sequence 5 applied, then a master that is behind serves 4: the set stays at 5, the result says why."""
    assert minion.apply(pillar(5, NEW, "2026-03-01T12:05:00Z"))["result"] is True
    assert minion.allowed() == set(NEW)

    ret = minion.apply(pillar(4, OLD, "2026-03-01T12:04:00Z"))

    assert ret["result"] is True and ret["changes"] == {}, ret
    assert minion.allowed() == set(NEW), "the older copy must not roll the set back"
    assert ret["sequence"] == {NAME: 5}
    summary = ret["allowlists"][NAME]
    assert summary["sequence"] == 5 and summary["source"] == "last-good", summary
    assert summary["applied"] is False and summary["ahead_of"] == 4, summary
    assert f"kept {NAME}: the pillar copy has sequence 4" in ret["comment"], ret["comment"]
    assert "older than the copy this minion applied last (sequence 5" in ret["comment"], ret["comment"]
    assert "refusing to go back" in ret["comment"] and "(sequence 5) stays in effect" in ret["comment"]
    assert minion.store()["allowlists"][NAME].sequence == 5
    # The next sequence, from whichever master, applies as usual.
    ret = minion.apply(pillar(6, OLD, "2026-03-01T12:06:00Z"))
    assert ret["result"] is True and ret["allowlists"][NAME]["applied"] is True, ret
    assert ret["allowlists"][NAME]["ahead_of"] is None
    assert minion.allowed() == set(OLD)


def test_the_same_sequence_again_is_a_no_op(minion):
    """A replay (the second master's apply of what the first one applied, a resync) changes nothing."""
    first = minion.apply(pillar(5))
    assert first["result"] is True and first["changes"], first
    again = minion.apply(pillar(5))
    assert again["result"] is True and again["changes"] == {}, again
    assert again["allowlists"][NAME]["applied"] is True and again["allowlists"][NAME]["ahead_of"] is None
    assert again["comment"].startswith("Firewall already as wanted"), again["comment"]


def test_a_retirement_applies_and_an_older_copy_cannot_bring_the_allowlist_back(minion):
    """Retirement 6 removes the rules and leaves a tombstone; a behind master's sequence 5 is refused."""
    assert minion.apply(pillar(5, NEW, "2026-03-01T12:05:00Z"))["result"] is True

    retired = minion.apply(pillar(6, generated_at="2026-03-01T12:06:00Z", retired=True))

    assert retired["result"] is True and retired["sequence"] == {NAME: 6}, retired
    assert minion.allowed() == set()
    assert minion.store()["retired"][NAME].sequence == 6
    assert NAME not in minion.store()["allowlists"]

    ret = minion.apply(pillar(5, NEW, "2026-03-01T12:05:00Z"))

    assert ret["result"] is True and minion.allowed() == set(), ret
    assert ret["allowlists"][NAME]["retired"] is True and ret["allowlists"][NAME]["ahead_of"] == 5, ret
    assert "its retirement (sequence 6) stays in effect" in ret["comment"], ret["comment"]
    with pytest.raises(ValueError, match="is retired"):
        engine.addresses(minion.opts, pillar(5, NEW, "2026-03-01T12:05:00Z"), NAME)
    # The tombstone outlives a run whose pillar lacks the allowlist (that master never knew it).
    unknown = pillar(5)
    del unknown["allowlists"]
    assert minion.apply(unknown)["result"] is False
    assert minion.store()["retired"][NAME].sequence == 6


def test_a_recreated_allowlist_starts_again_at_sequence_one(minion):
    """After its retirement, a new allowlist of the same name (sequence 1, generated later) is applied."""
    minion.apply(pillar(5, NEW, "2026-03-01T12:05:00Z"))
    minion.apply(pillar(6, generated_at="2026-03-01T12:06:00Z", retired=True))

    ret = minion.apply(pillar(1, OLD, "2026-03-02T08:00:00Z"))

    assert ret["result"] is True and ret["allowlists"][NAME]["applied"] is True, ret
    assert minion.allowed() == set(OLD)
    assert NAME not in minion.store()["retired"], "the tombstone gives way to the applied copy"


def test_numbering_restarted_without_a_retirement_is_applied_when_generated_later(minion):
    """A flushed master record (sequence-conflict, docs/salt.md): sequence 1 generated after 5 is applied."""
    minion.apply(pillar(5, NEW, "2026-03-01T12:05:00Z"))
    ret = minion.apply(pillar(1, OLD, "2026-03-01T13:00:00Z"))
    assert ret["result"] is True and ret["allowlists"][NAME]["applied"] is True, ret
    assert minion.allowed() == set(OLD)


@pytest.mark.parametrize(
    "generated_at",
    [
        pytest.param("2026-03-01T12:05:00Z", id="same-second"),
        pytest.param(None, id="unknown"),
        pytest.param("yesterday", id="not-rfc3339"),
    ],
)
def test_a_lower_sequence_not_known_to_be_later_is_refused(minion, generated_at):
    """Only a copy known to be generated later may go below the sequence applied last."""
    minion.apply(pillar(5, NEW, "2026-03-01T12:05:00Z"))
    ret = minion.apply(pillar(4, OLD, generated_at))
    assert ret["allowlists"][NAME]["ahead_of"] == 4, ret
    assert minion.allowed() == set(NEW)


def test_a_store_without_generated_at_refuses_going_back_and_is_upgraded(minion):
    """A store written before generatedAt was kept: going back is refused; the next run records the time."""
    minion.apply(pillar(5, NEW, "2026-03-01T12:05:00Z"))
    path = lastgood.path(minion.opts["cachedir"])
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    del data["allowlists"][NAME]["generated_at"]
    data.pop("retired")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    assert minion.store()["allowlists"][NAME].generated_at is None

    ret = minion.apply(pillar(4, OLD, "2026-03-02T00:00:00Z"))
    assert ret["allowlists"][NAME]["ahead_of"] == 4 and minion.allowed() == set(NEW), ret
    minion.apply(pillar(5, NEW, "2026-03-01T12:05:00Z"))
    assert minion.store()["allowlists"][NAME].generated_at == "2026-03-01T12:05:00Z"


def test_a_held_copy_still_fails_and_an_older_one_does_not(minion):
    """An empty pillar copy is held (result False); an older one is kept back (result True)."""
    minion.apply(pillar(5, NEW, "2026-03-01T12:05:00Z"))
    empty = minion.apply(pillar(7, [], "2026-03-01T12:07:00Z"))
    assert empty["result"] is False and "refusing to apply an empty set" in empty["comment"], empty
    older = minion.apply(pillar(3, OLD, "2026-03-01T12:03:00Z"))
    assert older["result"] is True and minion.allowed() == set(NEW), older


def test_addresses_for_templates_ignore_an_older_pillar_copy(minion):
    """``nodeallow.addresses`` reads the store's copy when the pillar's is older."""
    minion.apply(pillar(5, NEW, "2026-03-01T12:05:00Z"))
    assert engine.addresses(minion.opts, pillar(4, OLD, "2026-03-01T12:04:00Z"), NAME) == NEW
    assert engine.addresses(minion.opts, pillar(6, OLD, "2026-03-01T12:06:00Z"), NAME) == OLD


def test_rollback_is_decided_on_sequence_and_generation_time():
    """The pure rule: higher or equal applies; lower only when generated later."""
    known = desired.Allowlist(NAME, 5, digest(NEW), tuple(NEW), generated_at="2026-03-01T12:05:00Z")
    copy = desired.records.validate(NAME, pillar(4, OLD, "2026-03-01T12:04:00Z")["allowlists"][NAME], "x")
    assert desired.rollback(copy, known)
    assert not desired.rollback(copy, None)
    later = desired.records.validate(NAME, pillar(4, OLD, "2026-03-01T12:06:00Z")["allowlists"][NAME], "x")
    assert not desired.rollback(later, known)
    for sequence in (5, 6):
        same = desired.records.validate(NAME, pillar(sequence)["allowlists"][NAME], "x")
        assert not desired.rollback(same, known)


def test_the_master_counts_an_older_copy_refused_as_done(minion):
    """The behind master reads the return: result True with ahead_of, so it neither retries nor backs off."""
    minion.apply(pillar(5, NEW, "2026-03-01T12:05:00Z"))
    ret = {STATE_KEY: minion.apply(pillar(4, OLD, "2026-03-01T12:04:00Z"))}

    out = results.per_allowlist(ret, {NAME: 4}, jid="20261201000000000009", now=5.0)

    assert out[NAME]["result"] is True and out[NAME]["sequence"] == 5 and out[NAME]["ahead_of"] == 4, out
    assert "older than the copy" in out[NAME]["comment"]
    applies = {NAME: {"db1": out[NAME]}}
    assert reconcile.behind("db1", {NAME: 4}, applies) == []
    # Once that master stores 5 the minion has it; a newer sequence there makes the minion behind again.
    assert reconcile.behind("db1", {NAME: 5}, applies) == []
    assert reconcile.behind("db1", {NAME: 6}, applies) == [NAME]
    # A minion that holds a higher sequence without having refused this one (a flushed store) is behind.
    assert reconcile.behind("db1", {NAME: 1}, {NAME: {"db1": {"sequence": 5, "result": True}}}) == [NAME]
