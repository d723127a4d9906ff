# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The minion's delta on real nftables and ipset (in a namespace): element changes straight from the delta
when the firewall's cheap check shows the base, the full comparison otherwise; either way the kernel ends with
exactly the snapshot's list.
"""

import ipaddress

import pytest

from saltext.nodeallow import deltas
from saltext.nodeallow.firewall import delta, engine, lastgood, naming
from saltext.nodeallow.protocol import canonical
from tests.support.firewall import pillar_record

NAME = "prod/a"
OTHER = "prod/b"
FIRST = ["10.0.0.1/32", "10.0.0.2/32", "10.0.1.0/24", "fd00::1/128", "fd00:1::/64"]
SECOND = ["10.0.0.2/32", "10.0.0.3/32", "10.0.2.0/24", "fd00::2/128", "fd00:1::/64"]



def payload(base, new):
    """The master's delta (deltas.compose) of prod/a from sequence 1 (``base``) to 2 (``new``)."""
    return deltas.compose(NAME, [deltas.step(pillar_record(NAME, 1, base), pillar_record(NAME, 2, new))], 1)


def pillar(backend, sequence, addresses):
    """The pillar of prod/a at ``sequence`` and prod/b (a rule with local sources too)."""
    return {
        "backend": backend,
        "rules": [
            {"allowlist": NAME, "ports": [5432]},
            {"allowlist": OTHER, "ports": [8080], "sources": ["198.51.100.7/32"]},
        ],
        "allowlists": {
            NAME: pillar_record(NAME, sequence, addresses),
            OTHER: pillar_record(OTHER, 7, ["192.0.2.1/32"]),
        },
    }


def _minion(netns, tmp_path, backend):
    """Minion opts on ``netns`` after a full apply of :func:`pillar` at sequence 1."""
    opts = {"cachedir": str(tmp_path / "cache"), "nodeallow_netns": netns.name}
    assert engine.managed(opts, pillar(backend, 1, FIRST))["result"] is True
    return opts


@pytest.fixture
def minion(netns, tmp_path):
    """``(opts, netns)`` of an nftables minion after its full apply."""
    return _minion(netns, tmp_path, "nftables"), netns


@pytest.fixture
def ipset_minion(netns, tmp_path):
    """``(opts, netns)`` of an ipset minion after its full apply."""
    return _minion(netns, tmp_path, "ipset"), netns


def no_comparison(monkeypatch):
    """Make the full comparison fail the test (the delta must go by element changes)."""

    def compared(*_):
        raise AssertionError("the full comparison ran")

    monkeypatch.setattr(delta, "_compared", compared)


def held(netns, name):
    """The canonical entries the kernel's sets of ``name`` hold."""
    out = set()
    for family in (4, 6):
        for set_name in naming.nft_sets(name, family):
            out |= {str(ipaddress.ip_network(e)) for e in netns.nft_set_elements("inet", "nodeallow", set_name)}
    return out


def test_a_delta_changes_only_the_elements_when_the_record_shows_the_base(minion, monkeypatch):
    """No full comparison runs; the sets, chain state's record and the store are the new list's."""
    opts, netns = minion
    no_comparison(monkeypatch)
    ret = delta.apply(opts, [payload(FIRST, SECOND)])
    assert ret["result"] is True, ret
    entry = ret["changes"]["allowlists"][NAME]
    assert entry["ipv4"] == {
        "added": ["10.0.0.3/32", "10.0.2.0/24"],
        "removed": ["10.0.0.1/32", "10.0.1.0/24"],
        "added_count": 2,
        "removed_count": 2,
    }
    assert entry["ipv6"]["added"] == ["fd00::2/128"] and entry["ipv6"]["removed"] == ["fd00::1/128"]
    assert held(netns, NAME) == set(SECOND) and held(netns, OTHER) == {"192.0.2.1/32"}
    record_text = canonical.digest(SECOND)[7:39]
    assert record_text in netns.run(["nft", "list", "chain", "inet", "nodeallow", "state"]).stdout
    assert list(lastgood.load(opts["cachedir"])["allowlists"][NAME].addresses) == SECOND
    # Again (the job resent): nothing to change, no nft run.
    again = delta.apply(opts, [payload(FIRST, SECOND)])
    assert again["result"] is True and again["changes"] == {}, again


def test_a_firewall_that_lost_an_element_is_repaired_to_the_new_list(minion):
    """The record shows the base but an element to delete is gone: nft refuses, the full path puts it right."""
    opts, netns = minion
    netns.run(["nft", "delete", "element", "inet", "nodeallow", naming.nft_sets(NAME, 4)[0], "{ 10.0.0.1 }"])
    ret = delta.apply(opts, [payload(FIRST, SECOND)])
    assert ret["result"] is True, ret
    assert held(netns, NAME) == set(SECOND)


def test_a_firewall_whose_record_differs_gets_the_full_comparison(minion):
    """Chain state's record flushed (someone else's change): the delta is applied by the full pipeline."""
    opts, netns = minion
    netns.run(["nft", "flush", "chain", "inet", "nodeallow", "state"])
    netns.run(["nft", "add", "element", "inet", "nodeallow", naming.nft_sets(NAME, 4)[0], "{ 10.9.9.9 }"])
    ret = delta.apply(opts, [payload(FIRST, SECOND)])
    assert ret["result"] is True, ret
    assert held(netns, NAME) == set(SECOND) and held(netns, OTHER) == {"192.0.2.1/32"}
    again = engine.managed(opts, pillar("nftables", 2, SECOND), audit=True)
    assert again["result"] is True and again["changes"] == {}, again


def ipset_members(netns, name):
    """The canonical entries our ipsets of ``name`` hold."""
    sets = {naming.ipset(name, f) for f in (4, 6)}
    out = set()
    for line in netns.ipset_save().splitlines():
        parts = line.split()
        if parts[:1] == ["add"] and parts[1] in sets:
            out.add(str(ipaddress.ip_network(parts[2])))
    return out


def test_an_ipset_delta_changes_only_the_members(ipset_minion, monkeypatch):
    """Counts as the base's: one restore of del and add lines, the store follows; the state agrees afterwards."""
    opts, netns = ipset_minion
    no_comparison(monkeypatch)
    ret = delta.apply(opts, [payload(FIRST, SECOND)])
    assert ret["result"] is True and ret["changes"]["allowlists"][NAME]["ipv4"]["added_count"] == 2, ret
    assert ipset_members(netns, NAME) == set(SECOND) and ipset_members(netns, OTHER) == {"192.0.2.1/32"}
    assert list(lastgood.load(opts["cachedir"])["allowlists"][NAME].addresses) == SECOND
    monkeypatch.undo()
    again = engine.managed(opts, pillar("ipset", 2, SECOND), audit=True)
    assert again["result"] is True and again["changes"] == {}, again


def test_an_ipset_whose_count_differs_gets_the_full_comparison(ipset_minion):
    """A member added by hand: the counts are not the base's, so the sets are listed and put right."""
    opts, netns = ipset_minion
    netns.run(["ipset", "add", naming.ipset(NAME, 4), "10.9.9.9"])
    ret = delta.apply(opts, [payload(FIRST, SECOND)])
    assert ret["result"] is True, ret
    assert ipset_members(netns, NAME) == set(SECOND)
