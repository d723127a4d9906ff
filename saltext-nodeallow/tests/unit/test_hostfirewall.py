# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""``firewall/hostfirewall.py``: which other base chains drop the traffic nodeallow accepts.

Most cases run on rulesets captured from real firewalld, ufw, an nftables.conf and an iptables formula
beside nodeallow's objects (tests/unit/data/hostfirewalls, written by tests/support/capture_rulesets.py
from the files and commands docs/firewall.md shows); the rest are small listings written out here for the
corners real set-ups did not reach (verdict maps, gotos, interface-specific zones).
"""

import json
import pathlib

import pytest

from saltext.nodeallow.firewall import command, desired, engine, hostfirewall
from saltext.nodeallow.firewall.contents import Contents
from tests.support import hostfirewalls as hf

DATA = pathlib.Path(__file__).parent / "data" / "hostfirewalls"
V4, V6 = "10.0.0.1/32", "fd00::1/128"
# Scenario -> the tables and chains that drop port 5432 before the admin opened it, and the docs' block.
CLOSED = {
    "firewalld": ({("inet firewalld", "filter_INPUT")}, ("sh", "firewall-cmd")),
    "ufw": ({("ip filter", "INPUT"), ("ip6 filter", "INPUT")}, ("sh", "ufw allow")),
    "nftables-conf": ({("inet filter", "input")}, ("nft", "flush ruleset")),
    "iptables-formula": ({("ip filter", "INPUT")}, ("text", "*filter")),
}


def load(name):
    """The captured ruleset ``name`` (its ``nftables`` items) and the docs' text it was made from."""
    data = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    return data["nftables"], data["source"]


def want(ports=(5432,), proto="tcp", addresses=(V4, V6), backend="nftables", nft_table=None, rules=None):
    """The Desired of one rule for prod/workers (or ``rules``)."""
    pillar = {
        "backend": backend,
        "rules": rules or [{"allowlist": "prod/workers", "proto": proto, "ports": list(ports)}],
        "allowlists": {
            "prod/workers": {
                "cluster": "prod",
                "allowlist": "workers",
                "sequence": 1,
                "addresses": list(addresses),
                "retired": False,
            }
        },
    }
    if nft_table:
        pillar["nft_table"] = nft_table
    return desired.build(pillar, {}, None, {})


def named(warnings):
    """``{(table, chain)}`` the warnings name."""
    out = set()
    for text in warnings:
        words = text.split()
        assert words[0] == "table" and words[3] == "chain", text
        out.add((f"{words[1]} {words[2]}", words[4]))
    return out


@pytest.mark.parametrize("scenario", sorted(CLOSED))
def test_captures_were_made_from_the_docs(scenario):
    """Each capture keeps the docs' text it was made from: re-capture when the docs change."""
    block = hf.doc_block(*CLOSED[scenario][1])
    for state in ("closed", "open"):
        assert load(f"{scenario}-{state}")[1] == block, (
            f"docs/firewall.md changed since {scenario}-{state}.json was captured; run the command in "
            "tests/support/capture_rulesets.py"
        )


@pytest.mark.parametrize("scenario", sorted(CLOSED))
def test_a_closed_port_is_reported_with_table_and_chain(scenario):
    """Before the admin opened the port, each host firewall's input chain is named, and nothing else."""
    items, _ = load(f"{scenario}-closed")
    warnings = hostfirewall.warnings(items, want())
    assert named(warnings) == CLOSED[scenario][0], warnings
    for text in warnings:
        assert "tcp 5432 " in text and "prod/workers" in text and "drop" in text, text


@pytest.mark.parametrize("scenario", sorted(CLOSED))
def test_the_opened_port_is_not_reported(scenario):
    """After the docs' commands (or file), the host firewall accepts the port: no warning."""
    items, _ = load(f"{scenario}-open")
    assert hostfirewall.warnings(items, want()) == []


@pytest.mark.parametrize("scenario", sorted(CLOSED))
def test_other_ports_and_protocols_are_still_reported(scenario):
    """The host firewall opened tcp 5432 only: udp 5432 and tcp 6000 are dropped there (ssh's 22 is open but in ufw)."""
    items, _ = load(f"{scenario}-open")
    assert named(hostfirewall.warnings(items, want(ports=(6000,)))) == CLOSED[scenario][0]
    assert named(hostfirewall.warnings(items, want(proto="udp"))) == CLOSED[scenario][0]
    ssh = hostfirewall.warnings(items, want(ports=(22,)))
    assert named(ssh) == (CLOSED[scenario][0] if scenario == "ufw" else set()), ssh


def test_a_range_the_other_firewall_opens_in_part_is_not_reported():
    """5400-5500 includes the opened 5432 and more: undecided, so in the traffic's favour (documented)."""
    items, _ = load("firewalld-open")
    assert hostfirewall.warnings(items, want(ports=("5400-5500",))) == []
    assert hostfirewall.warnings(items, want(ports=("5433-5500",)))


def test_only_the_families_the_allowlist_has():
    """An IPv4-only allowlist: ufw's ip6 table is not named, and the sentence says IPv4."""
    items, _ = load("ufw-closed")
    warnings = hostfirewall.warnings(items, want(addresses=(V4,)))
    assert named(warnings) == {("ip filter", "INPUT")}
    assert "(IPv4)" in warnings[0]


def test_the_sentence_names_where_the_packet_ends():
    """firewalld: the zone's reject; the nftables.conf and the formula: the chain's policy."""
    assert "reject in chain filter_IN_public" in hostfirewall.warnings(load("firewalld-closed")[0], want())[0]
    assert "policy drop of chain input" in hostfirewall.warnings(load("nftables-conf-closed")[0], want())[0]
    assert "policy drop of chain INPUT" in hostfirewall.warnings(load("iptables-formula-closed")[0], want())[0]


def test_our_own_objects_are_left_out():
    """nodeallow's table (by its configured name) and the xtables backends' NODEALLOW chain are ours."""
    items, _ = load("nftables-conf-open")
    assert ("inet", "nodeallow") in {(i["table"]["family"], i["table"]["name"]) for i in items if "table" in i}
    # Named as another table it would still pass (its accepts test sets the listing cannot decide).
    assert hostfirewall.warnings(items, want(nft_table="other")) == []
    # ufw drops the port, but the iptables backend's jump to NODEALLOW comes first in INPUT and accepts.
    items, _ = load("ufw-iptables-closed")
    assert hostfirewall.warnings(items, want(backend="iptables")) == []
    # Without that chain ufw is reported for the same backend.
    items, _ = load("ufw-closed")
    ufw = {("ip filter", "INPUT"), ("ip6 filter", "INPUT")}
    assert named(hostfirewall.warnings(items, want(backend="iptables"))) == ufw


def test_every_rule_and_allowlist_is_named():
    """Two rules on two allowlists with different ports: each port names its own allowlist."""
    items, _ = load("nftables-conf-open")
    pillar_rules = [
        {"allowlist": "prod/workers", "ports": [5432, 6000]},
    ]
    warnings = hostfirewall.warnings(items, want(rules=pillar_rules))
    assert len(warnings) == 1 and "tcp 6000 " in warnings[0] and "5432" not in warnings[0], warnings


def chain(name, rules, hook=None, policy="accept", family="inet", table="t", prio=0):
    """A written-out listing: one chain (a base chain when ``hook``) and its rules (lists of expressions)."""
    body = {"family": family, "table": table, "name": name, "handle": 1}
    if hook:
        body.update(type="filter", hook=hook, prio=prio, policy=policy)
    return [{"chain": body}] + [
        {"rule": {"family": family, "table": table, "chain": name, "handle": i + 2, "expr": expr}}
        for i, expr in enumerate(rules)
    ]


def match(left, right, op="=="):
    """A match expression."""
    return {"match": {"op": op, "left": left, "right": right}}


TCP_DPORT = {"payload": {"protocol": "tcp", "field": "dport"}}
IIFNAME = {"meta": {"key": "iifname"}}
ACCEPT, DROP = {"accept": None}, {"drop": None}


def test_interface_zones_are_decided_in_the_traffic_favour():
    """Zones by interface: one that opens the port is enough (the heuristic cannot tell the interface)."""
    items = chain("in", [[match(IIFNAME, "eth1"), {"goto": {"target": "open"}}], [{"goto": {"target": "closed"}}]],
                  hook="input") + chain("open", [[match(TCP_DPORT, 5432), ACCEPT], [{"reject": None}]]) + chain(
        "closed", [[{"reject": None}]])
    assert hostfirewall.warnings(items, want()) == []
    assert named(hostfirewall.warnings(items, want(ports=(6000,)))) == {("inet t", "in")}


def test_loopback_and_established_accepts_do_not_count():
    """``iif lo accept`` and ``ct state established,related accept`` do not let a new connection in."""
    items = chain("in", [
        [match(IIFNAME, "lo"), ACCEPT],
        [match({"ct": {"key": "state"}}, {"set": ["established", "related"]}, "in"), ACCEPT],
        [{"xt": {"type": "match", "name": "conntrack"}}, ACCEPT],
    ], hook="input", policy="drop")
    assert named(hostfirewall.warnings(items, want())) == {("inet t", "in")}


def test_a_new_state_match_with_the_port_counts():
    """``-p tcp --dport 5432 -m conntrack --ctstate NEW -j ACCEPT`` opens the port."""
    items = chain("INPUT", [[match(TCP_DPORT, 5432), {"xt": {"type": "match", "name": "conntrack"}}, ACCEPT]],
                  hook="input", policy="drop", family="ip", table="filter")
    assert hostfirewall.warnings(items, want()) == []


def test_verdict_maps_return_and_jumps():
    """A verdict map on the port, a jump that returns, a goto that falls off: followed as nft does."""
    vmap = {"vmap": {"key": TCP_DPORT, "data": {"set": [[22, ACCEPT], [5432, {"jump": {"target": "sub"}}]]}}}
    items = chain("in", [[vmap], [DROP]], hook="input") + chain("sub", [[{"return": None}], [ACCEPT]])
    # 5432: the jump returns at once, the next rule drops.
    assert named(hostfirewall.warnings(items, want())) == {("inet t", "in")}
    # 22: accepted by the map.
    assert hostfirewall.warnings(items, want(ports=(22,))) == []
    goto = chain("in", [[{"goto": {"target": "sub"}}], [DROP]], hook="input") + chain("sub", [[match(TCP_DPORT, 1)]])
    # The goto's chain falls off its end: back to the base chain's caller, i.e. its policy (accept).
    assert hostfirewall.warnings(goto, want()) == []


def test_other_hooks_and_families_are_left_out():
    """A drop on the forward hook, or in an ip6 table for an IPv4-only allowlist, is not ours to report."""
    items = chain("fwd", [[DROP]], hook="forward") + chain("in6", [[DROP]], hook="input", family="ip6", table="x")
    assert hostfirewall.warnings(items, want(addresses=(V4,))) == []
    assert named(hostfirewall.warnings(items, want())) == {("ip6 x", "in6")}


class _NoNft:
    """An executor without nft installed."""

    def run(self, args, **_):
        raise command.CommandError(args, 127, "nft is not installed")


def test_the_state_reuses_the_cheap_check_and_tolerates_a_missing_nft():
    """The state looks at the listing its cheap check read; without one and without nft it warns of nothing."""
    fw = engine.Firewall(_NoNft(), None, None, True)
    items, _ = load("nftables-conf-closed")
    assert named(engine.host_warnings(fw, want(), Contents(ruleset=items))) == {("inet filter", "input")}
    assert engine.host_warnings(fw, want(), Contents()) == []
    # A ruleset file has no other firewalls.
    assert engine.host_warnings(engine.Firewall(_NoNft(), None, None, False), want(), Contents(ruleset=items)) == []


def test_the_work_is_bounded():
    """More distinct port ranges than MAX_PACKETS: the first are checked, the rest are named as not checked."""
    items, _ = load("nftables-conf-closed")
    ports = [2 * i + 1 for i in range(hostfirewall.MAX_PACKETS // 2 + 5)]  # not adjacent, so not merged
    rules = [{"allowlist": "prod/workers", "ports": ports[i : i + 64]} for i in range(0, len(ports), 64)]
    warnings = hostfirewall.warnings(items, want(rules=rules))
    assert warnings[-1].startswith("10 more port ranges were not checked"), warnings[-1]
    assert named(warnings[:-1]) == {("inet filter", "input")}


def test_local_sources_are_checked_too():
    """A rule's local sources need the port open as well; the sentence names them (here IPv4 only)."""
    items, _ = load("ufw-closed")
    rules = [{"allowlist": "prod/workers", "ports": [5432], "sources": ["192.0.2.7/32"]}]
    warnings = hostfirewall.warnings(items, want(rules=rules, addresses=(V6,)))
    v4 = [text for text in warnings if text.startswith("table ip filter")]
    assert len(v4) == 1 and "for the local sources of tcp:5432 prod/workers:" in v4[0], warnings
    v6 = [text for text in warnings if text.startswith("table ip6 filter")]
    assert len(v6) == 1 and "for prod/workers:" in v6[0], warnings
