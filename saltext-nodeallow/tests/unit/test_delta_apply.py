# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The minion's half of a delta (firewall/delta.py): applied against the last-known-good store, or ``need_full``.

The firewall is the ruleset-file backend (no root needed; the same pipeline and store as nftables);
tests/master/test_deltas.py runs real minions with nftables in namespaces.
"""

import json
import os
import random

import pytest

from saltext.nodeallow import deltas, results
from saltext.nodeallow.firewall import delta, engine, lastgood
from saltext.nodeallow.firewall.contents import _address_key
from saltext.nodeallow.protocol import canonical
from tests.support.firewall import pillar_record

FIRST = ["10.0.0.1/32", "10.0.0.2/32", "10.0.1.0/24", "fd00::1/128"]
OTHER = ["192.0.2.1/32"]



@pytest.fixture
def minion(tmp_path):
    """Minion opts writing a ruleset file, after a full apply of prod/a (sequence 1) and prod/b."""
    opts = {"cachedir": str(tmp_path / "cache"), "nodeallow_ruleset_file": str(tmp_path / "ruleset.nft")}
    pillar = {
        "rules": [{"allowlist": "prod/a", "ports": [5432]}, {"allowlist": "prod/b", "ports": [8080]}],
        "allowlists": {"prod/a": pillar_record("prod/a", 1, FIRST), "prod/b": pillar_record("prod/b", 7, OTHER)},
    }
    ret = engine.managed(opts, pillar)
    assert ret["result"] is True, ret
    return opts


def payload(base_sequence, base, sequence, new, name="prod/a"):
    """The master's delta (deltas.compose) from ``base`` to ``new``."""
    step = deltas.step(pillar_record(name, base_sequence, base), pillar_record(name, sequence, new))
    return deltas.compose(name, [step], base_sequence)


def stored(opts):
    """``{name: (sequence, addresses)}`` of the last-known-good store."""
    return {n: (r.sequence, list(r.addresses)) for n, r in lastgood.load(opts["cachedir"])["allowlists"].items()}


def in_file(opts):
    """The addresses the ruleset file's record holds per set."""
    with open(opts["nodeallow_ruleset_file"] + ".json", encoding="utf-8") as fh:
        return json.load(fh)


def test_a_delta_applies_and_updates_the_store_leaving_other_allowlists_alone(minion):
    """The new list is in effect and stored; prod/b (not in the delta) is untouched."""
    new = ["10.0.0.2/32", "10.0.0.3/32", "10.0.1.0/24", "fd00::1/128", "fd00::2/128"]
    ret = delta.apply(minion, [payload(1, FIRST, 2, new)])
    assert ret["result"] is True and ret["need_full"] == "", ret
    assert results.is_delta(ret) and results.managed_entry(ret) is ret
    assert ret["allowlists"]["prod/a"]["sequence"] == 2 and ret["allowlists"]["prod/a"]["applied"] is True
    assert list(ret["allowlists"]) == ["prod/a"]
    assert ret["changes"]["allowlists"]["prod/a"]["ipv4"]["added"] == ["10.0.0.3/32"]
    assert ret["changes"]["allowlists"]["prod/a"]["ipv4"]["removed"] == ["10.0.0.1/32"]
    assert stored(minion) == {"prod/a": (2, new), "prod/b": (7, OTHER)}
    text = open(minion["nodeallow_ruleset_file"], encoding="utf-8").read()
    assert "10.0.0.3" in text and "10.0.0.1," not in text and "192.0.2.1" in text
    # The state's next run finds the firewall as wanted from the same pillar copy.
    pillar = {
        "rules": [{"allowlist": "prod/a", "ports": [5432]}, {"allowlist": "prod/b", "ports": [8080]}],
        "allowlists": {"prod/a": pillar_record("prod/a", 2, new), "prod/b": pillar_record("prod/b", 7, OTHER)},
    }
    again = engine.managed(minion, pillar)
    assert again["result"] is True and again["changes"] == {}, again


def test_the_same_delta_twice_is_applied_once(minion):
    """A job sent again (resend after a reconnect) reports the delta applied and changes nothing."""
    new = FIRST[1:]
    assert delta.apply(minion, [payload(1, FIRST, 2, new)])["result"] is True
    ret = delta.apply(minion, [payload(1, FIRST, 2, new)])
    assert ret["result"] is True and ret["changes"] == {} and ret["allowlists"]["prod/a"]["sequence"] == 2, ret


def _need_full(opts, items):
    """Apply ``items``; assert nothing changed and return the reason."""
    before = stored(opts) if os.path.exists(lastgood.path(opts["cachedir"])) else None
    ruleset = in_file(opts) if os.path.exists(opts["nodeallow_ruleset_file"] + ".json") else None
    ret = delta.apply(opts, items)
    assert ret["result"] is False and ret["need_full"], ret
    assert results.need_full(ret) == ret["need_full"]
    if before is not None:
        assert stored(opts) == before
    if ruleset is not None:
        assert in_file(opts) == ruleset
    return ret["need_full"]


def test_a_minion_without_a_store_needs_the_full_apply(tmp_path):
    """New minion, or its cache wiped: nothing to apply a delta to."""
    opts = {"cachedir": str(tmp_path / "cache"), "nodeallow_ruleset_file": str(tmp_path / "ruleset.nft")}
    assert "no applied rules" in _need_full(opts, [payload(1, FIRST, 2, FIRST[1:])])


def test_a_wiped_store_needs_the_full_apply(minion):
    """The store deleted after the full apply."""
    os.unlink(lastgood.path(minion["cachedir"]))
    assert "no applied rules" in _need_full(minion, [payload(1, FIRST, 2, FIRST[1:])])


def test_another_base_needs_the_full_apply(minion):
    """The minion holds another sequence (or digest) than the delta starts from."""
    assert "starts from sequence 0" in _need_full(minion, [payload(0, FIRST, 2, FIRST[1:])])
    other = payload(1, FIRST, 2, FIRST[1:])
    other["base_digest"] = canonical.digest(["10.9.9.9/32"])
    assert "holds sequence 1" in _need_full(minion, [other])


def test_a_delta_never_goes_back(minion):
    """A delta to a lower sequence is refused whatever its base (no going back)."""
    item = payload(1, FIRST, 2, FIRST[1:])
    item["sequence"] = 1
    assert "goes from sequence 1 to 1" in _need_full(minion, [item])


def test_a_digest_mismatch_needs_the_full_apply_and_changes_nothing(minion):
    """The result must hash to the snapshot's digest before anything is in effect."""
    wrong = payload(1, FIRST, 2, FIRST[1:])
    wrong["digest"] = canonical.digest(FIRST[2:])
    assert "digest mismatch" in _need_full(minion, [wrong])


@pytest.mark.parametrize(
    "added, needle",
    [
        (["10.0.0.009/32"], "not an IPv4 address"),
        (["10.0.0.8/24"], "host bits"),
        (["10.0.0.8/32; flush ruleset"], "only hex digits"),
        (["10.0.0.8"], "not canonical"),
        (["10.0.0.0/8"], "too-wide"),
        (["127.0.0.1/32"], "special-address"),
    ],
)
def test_bad_added_entries_need_the_full_apply(minion, added, needle):
    """Added entries are parsed and checked against the stored limits, as the full path does."""
    item = payload(1, FIRST, 2, FIRST)
    item["added"] = added
    assert needle in _need_full(minion, [item])


def test_a_delta_that_does_not_fit_or_empties_needs_the_full_apply(minion):
    """Removing what the copy lacks, adding what it has, or leaving nothing."""
    item = payload(1, FIRST, 2, FIRST[1:])
    item["removed"] = ["10.7.7.7/32"]
    assert "does not fit" in _need_full(minion, [item])
    item = payload(1, FIRST, 2, FIRST)
    item["added"] = ["10.0.0.1/32"]
    assert "does not fit" in _need_full(minion, [item])
    item = payload(1, FIRST, 2, FIRST)
    item["removed"] = list(FIRST)
    assert "empty" in _need_full(minion, [item])


def test_a_due_audit_or_unused_allowlist_needs_the_full_apply(minion):
    """The drift audit is the full path's; an allowlist the stored rules do not use means the rules changed."""
    assert "audit" in _need_full({**minion, "nodeallow_audit_interval": 0}, [payload(1, FIRST, 2, FIRST[1:])])
    assert "no stored rule" in _need_full(minion, [payload(1, FIRST, 2, FIRST[1:], name="prod/c")])


@pytest.mark.parametrize(
    "bad", [None, [], [{"allowlist": "prod/a"}], "x", [{**payload(1, FIRST, 2, FIRST), "sequence": "2"}]]
)
def test_a_malformed_payload_needs_the_full_apply(minion, bad):
    """Shape checked before use."""
    _need_full(minion, bad)


def test_merged_matches_sorting_the_set():
    """merged() inserts and removes in address order (property over random lists, seeded)."""
    rng = random.Random(25)
    universe = [f"10.{a}.{b}.0/24" for a in range(4) for b in range(40)] + [f"fd00::{n:x}/128" for n in range(80)]
    for _ in range(200):
        base = sorted(rng.sample(universe, 60), key=_address_key)
        removed = rng.sample(base, rng.randrange(0, 10))
        added = rng.sample(sorted(set(universe) - set(base)), rng.randrange(0, 10))
        expected = sorted((set(base) - set(removed)) | set(added), key=_address_key)
        assert delta.merged(base, added, removed) == expected
