# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Fail closed and local sources, with real packets: a real minion, its firewall in a namespace, TCP from a peer.

From the first apply of a rule its port admits only loopback, the rule's local ``sources`` and the
allowlist's addresses: before the allowlist was ever published (held without a copy), while it is
in effect, and after its retirement (then loopback and the sources only). Only removing the rule
from pillar opens the port again. Each backend (nftables, ipset, iptables) is tried with real
connects sampled every ~200 ms from a second namespace (tests/support/probe.py).
"""

import pytest

from tests.support import firewall as fw
from tests.support import netns as netns_support
from tests.support import probe

HOST4, GOOD4, BAD4, LOCAL4 = "10.201.0.1", "10.201.0.2", "10.201.0.3", "10.201.0.4"
HOST6, GOOD6, BAD6, LOCAL6 = "fd00:201::1", "fd00:201::2", "fd00:201::3", "fd00:201::4"
PORT, OTHER_PORT = 5432, 6000
PAIRS = [
    (GOOD4, HOST4), (BAD4, HOST4), (LOCAL4, HOST4), (GOOD6, HOST6), (BAD6, HOST6), (LOCAL6, HOST6),
    ("127.0.0.1", "127.0.0.1"),
]


def pillar(backend, allowlist=None, *, rules=True, sequence=1, policy="restrict"):
    """A ``nodeallow`` pillar: one rule for prod/workers on PORT with the local sources, and ``allowlist``.

    ``allowlist``: ``None`` not in pillar (never published), ``"retired"``, or a list of addresses.
    """
    rule = {"allowlist": "prod/workers", "ports": [PORT], "sources": [f"{LOCAL4}/32", f"{LOCAL6}/128"]}
    data = {"backend": backend, "policy": policy, "rules": [rule] if rules else [], "allowlists": {}}
    if allowlist == "retired":
        data["allowlists"]["prod/workers"] = {"sequence": sequence, "addresses": [], "retired": True}
    elif allowlist is not None:
        data["allowlists"]["prod/workers"] = {"sequence": sequence, "addresses": list(allowlist)}
    return {"nodeallow": data}


@pytest.fixture(scope="module")
def fc_netns(netns_available):  # pylint: disable=unused-argument
    """The namespace of this module's minion."""
    with netns_support.netns() as ns:
        yield ns


@pytest.fixture(scope="module")
def fc_minion(minion_factory, fc_netns):
    """A real minion (a new one: no last-known-good store) whose firewall commands run in ``fc_netns``."""
    return minion_factory(overrides={"nodeallow_netns": fc_netns.name})


@pytest.fixture(scope="module")
def link(fc_netns):
    """A peer namespace with an allowlisted, an outside and a local source; a listener on PORT and OTHER_PORT."""
    with probe.Link(fc_netns, (HOST4, HOST6), (GOOD4, BAD4, LOCAL4, GOOD6, BAD6, LOCAL6), (PORT, OTHER_PORT)) as lk:
        yield lk


@pytest.fixture
def ns(fc_netns, fc_minion, link):  # pylint: disable=unused-argument
    """The minion's namespace emptied (nft, ipset, iptables and their policies) and its store removed."""
    fc_netns.run(["nft", "flush", "ruleset"])
    fc_netns.run(["ipset", "destroy"])
    for tool in ("iptables", "ip6tables"):
        fc_netns.run([tool, "-P", "INPUT", "ACCEPT"])
        fc_netns.run([tool, "-F", "INPUT"])
    fw.remove_last_good(fc_minion)
    return fc_netns


@pytest.fixture
def apply(salt_cli, fc_minion):
    """``apply(pillar_data)``: run the state on the minion, return its state return."""
    return fw.state_applier(salt_cli, fc_minion)


def verdicts(link, port=PORT):
    """``{source: connected}`` for one connect from each source now."""
    return {src: link.connects(src, dst, port) for src, dst in PAIRS}


CLOSED = {GOOD4: False, BAD4: False, LOCAL4: True, GOOD6: False, BAD6: False, LOCAL6: True, "127.0.0.1": True}
OPEN_TO_ALLOWLIST = {**CLOSED, GOOD4: True, GOOD6: True}


@pytest.mark.parametrize("backend", ["nftables", "ipset", "iptables"])
def test_port_closed_from_first_apply_through_retirement(ns, apply, link, backend):
    """Held without a copy, published, retired: the outside never gets through; sources and loopback always do."""
    assert all(verdicts(link).values()), "the port must be open to everyone before any rule"
    with link.sampling(PAIRS, PORT) as sampled:
        # A new minion before the first publish: the allowlist is not in pillar and has no copy.
        ret = apply(pillar(backend))
        first = sampled.now()
        assert ret["result"] is False, ret
        assert "held prod/workers: unknown" in ret["comment"] and "no copy of it was ever applied" in ret["comment"]
        assert ret["changes"]["sources"]["tcp:5432 prod/workers"]["ipv4"]["added"] == [f"{LOCAL4}/32"], ret
        assert verdicts(link) == CLOSED
        assert link.connects(BAD4, HOST4, OTHER_PORT), "other ports are not touched"

        ret = apply(pillar(backend, [f"{GOOD4}/32", f"{GOOD6}/128"], sequence=1))
        published = sampled.now()
        assert ret["result"] is True, ret
        assert verdicts(link) == OPEN_TO_ALLOWLIST

        retiring = sampled.now()
        ret = apply(pillar(backend, "retired", sequence=2))
        retired = sampled.now()
        assert ret["result"] is True and ret["changes"]["allowlists"]["prod/workers"]["removed"] is True, ret
        assert verdicts(link) == CLOSED
        # Give the sampler a few rounds after the retirement.
        while sampled.now() < retired + 1.0:
            link.connects("127.0.0.1", "127.0.0.1", PORT)

    for outside in (BAD4, BAD6):
        assert sampled.through(outside, start=first) == [], f"{outside} got through while the rule was in force"
    for allowlisted in (GOOD4, GOOD6):
        assert sampled.through(allowlisted, start=first, end=published - 1.0) == []
        assert sampled.through(allowlisted, start=published + 0.5, end=retiring), f"{allowlisted} never got through"
        assert sampled.through(allowlisted, start=retired) == [], f"{allowlisted} got through after the retirement"
    for local in (LOCAL4, LOCAL6, "127.0.0.1"):
        assert sampled.refused(local, start=first) == [], f"{local} was refused while the rule was in force"
    assert len(sampled.series(BAD4, start=first)) >= 5, sampled.samples

    # Only removing the rule opens the port again.
    ret = apply(pillar(backend, "retired", rules=False, sequence=2))
    assert ret["result"] is True, ret
    assert all(verdicts(link).values())


@pytest.mark.parametrize("backend", ["nftables", "ipset", "iptables"])
def test_local_sources_change_without_touching_the_allowlist(ns, apply, link, backend):
    """A rule's sources are applied with the allowlist; a change of sources shows in changes.sources."""
    ret = apply(pillar(backend, [f"{GOOD4}/32"]))
    assert ret["result"] is True, ret
    assert verdicts(link) == {**OPEN_TO_ALLOWLIST, GOOD6: False}
    data = pillar(backend, [f"{GOOD4}/32"])
    data["nodeallow"]["rules"][0]["sources"] = [f"{BAD4}/32"]

    ret = apply(data)

    assert ret["result"] is True, ret
    assert ret["changes"]["sources"]["tcp:5432 prod/workers"]["ipv4"] == {
        "added": [f"{BAD4}/32"], "removed": [f"{LOCAL4}/32"], "added_count": 1, "removed_count": 1,
    }, ret
    assert ret["changes"]["sources"]["tcp:5432 prod/workers"]["ipv6"]["removed"] == [f"{LOCAL6}/128"], ret
    assert "allowlists" not in ret["changes"], ret
    assert link.connects(BAD4, HOST4, PORT) and link.connects(GOOD4, HOST4, PORT)
    assert not link.connects(LOCAL4, HOST4, PORT) and not link.connects(LOCAL6, HOST6, PORT)
    assert apply(data)["changes"] == {}
    assert apply(data, audit=True)["changes"] == {}


@pytest.mark.parametrize("backend", ["ipset", "iptables"])
def test_policy_accept_relies_on_the_host_dropping(ns, apply, link, backend):
    """policy accept writes accepts only: behind a host firewall that drops by default, a retirement closes the port
    to all but the sources (and what the host firewall itself admits, here loopback)."""
    for tool in ("iptables", "ip6tables"):
        ns.run([tool, "-A", "INPUT", "-i", "lo", "-j", "ACCEPT"])
        ns.run([tool, "-P", "INPUT", "DROP"])
    # Neighbour discovery must get through for IPv6 at all.
    ns.run(["ip6tables", "-A", "INPUT", "-p", "ipv6-icmp", "-j", "ACCEPT"])

    ret = apply(pillar(backend, [f"{GOOD4}/32", f"{GOOD6}/128"], policy="accept"))
    assert ret["result"] is True, ret
    assert verdicts(link) == OPEN_TO_ALLOWLIST
    ret = apply(pillar(backend, "retired", sequence=2, policy="accept"))
    assert ret["result"] is True, ret
    assert verdicts(link) == CLOSED


def test_show_lists_sources_and_whether_the_allowlist_is_in_effect(ns, apply, salt_cli, fc_minion):
    """nodeallow.show gives each rule's sources and says when its allowlist is not in effect."""
    data = pillar("nftables")
    assert apply(data)["result"] is False
    ret = salt_cli.run("nodeallow.show", "fresh=False", minion_tgt=fc_minion.id)
    assert ret.returncode == 0, ret
    # The minion's own pillar has no nodeallow data: show reads the store and the kernel.
    assert "sources tcp:5432 prod/workers" in ret.data["applied"]["addresses"], ret.data
    assert ret.data["applied"]["addresses"]["sources tcp:5432 prod/workers"] == {"ipv4": 1, "ipv6": 1}
