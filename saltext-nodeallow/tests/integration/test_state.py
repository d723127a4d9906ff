# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The ``nodeallow.managed`` state and ``nodeallow`` execution module on a real minion, firewall in a netns.

One minion (``nodeallow_netns`` in its config) serves every test; each test starts from an empty
namespace and an empty last-known-good store. Pillar is passed to ``state.single`` with ``pillar=``,
standing in for what the ext_pillar serves (the master-side tests cover that path). Assertions read the
kernel inside the namespace.
"""

import pytest

from saltext.nodeallow.firewall import naming
from saltext.nodeallow.protocol.canonical import digest
from tests.support import firewall as fw
from tests.support import netns as netns_support

V4 = ["192.0.2.10/32", "198.51.100.0/24"]
V6 = ["2001:db8::10/128"]


def pillar(backend="nftables", addresses=None, rules=None, sequence=1, policy="restrict", **extra):
    """A ``nodeallow`` pillar with one tcp rule for prod/workers and its snapshot."""
    data = {
        "backend": backend,
        "policy": policy,
        "rules": (
            rules
            if rules is not None
            else [
                {
                    "allowlist": "prod/workers",
                    "proto": "tcp",
                    "ports": [5432, "8000-8100"],
                    "comment": "pg",
                }
            ]
        ),
        "allowlists": {
            "prod/workers": {
                "cluster": "prod",
                "allowlist": "workers",
                "sequence": sequence,
                "addresses": list(addresses if addresses is not None else V4 + V6),
                "retired": False,
            }
        },
    }
    data.update(extra)
    return {"nodeallow": data}


@pytest.fixture(scope="module")
def fw_netns(netns_available):  # pylint: disable=unused-argument
    """One namespace for this module's minion (its config names it, so it outlives single tests)."""
    with netns_support.netns() as ns:
        yield ns


@pytest.fixture(scope="module")
def fw_minion(minion_factory, fw_netns):
    """A real minion whose firewall commands run inside ``fw_netns``."""
    return minion_factory(overrides={"nodeallow_netns": fw_netns.name})


@pytest.fixture
def ns(fw_netns, fw_minion):
    """The minion's namespace, emptied (nft, iptables, ipset) with the store removed, before each test."""
    fw_netns.run(["nft", "flush", "ruleset"])
    fw_netns.run(["ipset", "destroy"])
    fw.remove_last_good(fw_minion)
    return fw_netns


@pytest.fixture
def apply(salt_cli, fw_minion):
    """``apply(pillar_data, test=False)`` runs the state on the minion and returns its state return."""
    return fw.state_applier(salt_cli, fw_minion)


def kernel(ns, backend):
    """``{"ipv4": set, "ipv6": set}`` of prod/workers addresses in the kernel, read the backend's way."""
    if backend == "nftables":
        sets = fw.nft_sets(ns)
        return {
            "ipv4": sets.get(("prod/workers", "ipv4_addr"), set()),
            "ipv6": sets.get(("prod/workers", "ipv6_addr"), set()),
        }
    if backend == "ipset":
        out = {"ipv4": set(), "ipv6": set()}
        for name, (family, members) in fw.ipsets(ns).items():
            assert len(name) <= 31, name
            out["ipv6" if family == "inet6" else "ipv4"] |= members
        return out
    return {"ipv4": fw.sources(ns.iptables_save()), "ipv6": fw.sources(ns.ip6tables_save())}


def split(addresses):
    """``{"ipv4": set, "ipv6": set}`` of a list of CIDRs."""
    return {
        "ipv4": {a for a in addresses if ":" not in a},
        "ipv6": {a for a in addresses if ":" in a},
    }


def nothing_of_ours(ns):
    """Assert that no nodeallow object is left in the namespace."""
    assert ("inet", "nodeallow") not in fw.nft_tables(ns)
    assert not [n for n in fw.ipsets(ns) if n.startswith("nodeallow_")]
    for save in (ns.iptables_save(), ns.ip6tables_save()):
        assert "NODEALLOW" not in save


@pytest.mark.parametrize("backend", ["nftables", "ipset", "iptables"])
def test_create_grow_shrink_remove(ns, apply, backend):
    """Each backend creates, grows, shrinks and removes its objects, IPv4 and IPv6, idempotently."""
    ret = apply(pillar(backend, V4 + V6, sequence=1))
    assert ret["result"] is True, ret
    assert ret["sequence"] == {"prod/workers": 1}
    assert ret["changes"]["allowlists"]["prod/workers"]["ipv4"]["added"] == sorted(V4)
    assert kernel(ns, backend) == split(V4 + V6)

    again = apply(pillar(backend, V4 + V6, sequence=1))
    assert again["result"] is True and again["changes"] == {}, again

    grown = V4 + ["203.0.113.7/32"] + V6 + ["2001:db8:1::/64"]
    ret = apply(pillar(backend, grown, sequence=2))
    assert ret["result"] is True, ret
    assert ret["sequence"] == {"prod/workers": 2}
    assert ret["changes"]["allowlists"]["prod/workers"]["ipv6"]["added"] == ["2001:db8:1::/64"]
    assert kernel(ns, backend) == split(grown)

    shrunk = ["203.0.113.7/32", "2001:db8:1::/64"]
    ret = apply(pillar(backend, shrunk, sequence=3))
    assert ret["result"] is True, ret
    assert sorted(ret["changes"]["allowlists"]["prod/workers"]["ipv4"]["removed"]) == sorted(V4)
    assert kernel(ns, backend) == split(shrunk)
    assert apply(pillar(backend, shrunk, sequence=3))["changes"] == {}

    ret = apply(pillar(backend, shrunk, rules=[], sequence=3))
    assert ret["result"] is True, ret
    assert ret["changes"]["allowlists"]["prod/workers"]["removed"] is True
    nothing_of_ours(ns)


def test_nft_rules_restrict_ports(ns, apply):
    """nftables: loopback and allowlist accepts (host and prefix set per family) for the rule's ports, then a drop."""
    assert apply(pillar("nftables"))["result"] is True
    rules = fw.nft_rules(ns)
    assert len(rules) == 6, rules
    assert rules[0].startswith('iifname "lo" tcp dport { 5432, 8000-8100 } accept')
    for rule, match in zip(rules[1:5], ("ip saddr @", "ip saddr @", "ip6 saddr @", "ip6 saddr @"), strict=True):
        assert match in rule and rule.split(" comment")[0].endswith("accept"), rule
    assert rules[5].startswith("tcp dport { 5432, 8000-8100 } drop")


def test_xtables_jump_once_and_accept_policy(ns, apply):
    """ipset/iptables: one INPUT jump however often applied; policy accept writes no drop rule."""
    for _ in range(2):
        assert apply(pillar("ipset", policy="accept"))["result"] is True
    save = ns.iptables_save()
    assert save.splitlines().count("-A INPUT -j NODEALLOW") == 1
    targets = [fw.option(args, "-j") for args in fw.chain_rules(save)]
    assert targets == ["ACCEPT"], save
    assert any(fw.option(args, "--match-set") for args in fw.chain_rules(save))


def test_test_mode_changes_nothing(ns, apply):
    """test=True reports the difference with result None and leaves the kernel as it was."""
    assert apply(pillar("nftables", V4))["result"] is True
    before = ns.nft_ruleset()

    ret = apply(pillar("nftables", V4 + V6, sequence=2), test=True)

    assert ret["result"] is None, ret
    assert ret["changes"]["allowlists"]["prod/workers"]["ipv6"]["added"] == V6
    assert ns.nft_ruleset() == before
    # Nothing was recorded either: a real run still has the change to make.
    assert apply(pillar("nftables", V4 + V6, sequence=2))["changes"]


def test_first_test_run_creates_nothing(ns, apply):
    """test=True on a fresh host creates no table, chain or set."""
    ret = apply(pillar("ipset"), test=True)
    assert ret["result"] is None and ret["changes"]["objects"]["created"], ret
    nothing_of_ours(ns)


def test_empty_set_refused(ns, apply):
    """An empty allowlist is refused with result False; the existing rules stay as they were."""
    assert apply(pillar("iptables", V4 + V6))["result"] is True
    before = [fw.without_comments(s) for s in (ns.iptables_save(), ns.ip6tables_save())]

    ret = apply(pillar("iptables", [], sequence=2))

    assert ret["result"] is False
    assert "empty" in ret["comment"] and "prod/workers" in ret["comment"]
    assert [fw.without_comments(s) for s in (ns.iptables_save(), ns.ip6tables_save())] == before
    assert kernel(ns, "iptables") == split(V4 + V6)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"rules": [{"allowlist": "x; flush ruleset", "ports": [22]}]}, id="rule-name"),
        pytest.param(
            {
                "allowlists": {
                    "prod/workers": {
                        "sequence": 2,
                        "addresses": ["10.0.0.1/32 } ; flush ruleset ; {"],
                    }
                }
            },
            id="address",
        ),
        pytest.param({"nft_table": "nodeallow { }; flush ruleset"}, id="table"),
        pytest.param(
            {"rules": [{"allowlist": "prod/workers", "proto": "tcp", "ports": [0, 70000, "9-3"]}]},
            id="ports",
        ),
    ],
)
def test_injection_refused(ns, apply, bad):
    """Names, addresses and ports built to break out of nft syntax are refused; nothing is applied."""
    ns.nft_apply(
        "table inet bystander {\n\tset keep {\n\t\ttype ipv4_addr\n\t\telements = { 192.0.2.99 }\n\t}\n}\n"
    )
    assert apply(pillar("nftables"))["result"] is True
    before = ns.nft_ruleset()
    data = pillar("nftables")
    data["nodeallow"].update(bad)

    ret = apply(data)

    assert ret["result"] is False
    assert "invalid" in ret["comment"], ret["comment"]
    assert ret["changes"] == {}
    assert ns.nft_ruleset() == before


def test_records_nobody_subscribes_to_are_never_read(ns, apply):
    """A hostile record under a name no rule uses changes nothing and holds nothing."""
    assert apply(pillar("nftables"))["result"] is True
    before = ns.nft_ruleset()
    data = pillar("nftables")
    data["nodeallow"]["allowlists"]["prod/workers; flush ruleset"] = {"addresses": ["10.0.0.1/32 } ; flush ruleset"]}

    ret = apply(data)

    assert ret["result"] is True and ret["changes"] == {}, ret
    assert ns.nft_ruleset() == before


@pytest.mark.parametrize(
    "addresses, limits, needle",
    [
        pytest.param(["0.0.0.0/1", "128.0.0.0/1"], None, "too-wide", id="ipv4-two-slash-1"),
        pytest.param(["::/1", "8000::/1"], None, "too-wide", id="ipv6-two-slash-1"),
        pytest.param([f"11.{i}.0.0/16" for i in range(5)], None, "too-wide", id="narrow-prefixes-add-up"),
        pytest.param(["127.0.0.1/32"], None, "special-address", id="loopback"),
        pytest.param(["10.9.0.0/24"], {"min_prefix": {"ipv4": 28}}, "too-wide", id="pillar-tightens-the-limit"),
    ],
)
def test_world_opening_copies_are_held_by_the_minion(ns, apply, addresses, limits, needle):
    """A pillar copy wider than the limits is held: the last applied set stays, the comment says why."""
    assert apply(pillar("nftables", V4 + V6))["result"] is True
    data = pillar("nftables", addresses, sequence=2)
    if limits:
        data["nodeallow"]["limits"] = limits

    ret = apply(data)

    assert ret["result"] is False, ret
    assert "held prod/workers: wider than this minion allows" in ret["comment"] and needle in ret["comment"], ret
    assert "last-known-good copy (sequence 1)" in ret["comment"], ret
    assert kernel(ns, "nftables") == split(V4 + V6)


def test_one_held_allowlist_never_stops_the_others(ns, apply):
    """Two clusters on one minion: one never published, one refused; the third still grows and shrinks."""
    rules = [
        {"allowlist": name, "proto": "tcp", "ports": [5432]}
        for name in ("prod/workers", "beta/workers", "gamma/workers")
    ]
    first = pillar("nftables", V4 + V6, rules=rules)
    # beta/workers was never published (not in pillar); gamma/workers' copy is invalid.
    first["nodeallow"]["allowlists"]["gamma/workers"] = {"sequence": 3, "addresses": ["10.0.0.1/24"]}

    ret = apply(first)

    assert ret["result"] is False, ret
    assert "held beta/workers: unknown" in ret["comment"] and "no copy of it was ever applied" in ret["comment"]
    assert "held gamma/workers: invalid pillar copy" in ret["comment"] and "host bits" in ret["comment"]
    assert ret["allowlists"]["prod/workers"]["applied"] is True
    assert ret["allowlists"]["beta/workers"]["applied"] is False
    assert kernel(ns, "nftables") == split(V4 + V6)
    fewer = pillar("nftables", V4[:1], rules=rules, sequence=2)
    fewer["nodeallow"]["allowlists"]["gamma/workers"] = {"sequence": 3, "addresses": ["10.0.0.1/24"]}
    assert apply(fewer)["allowlists"]["prod/workers"] == {
        "sequence": 2, "digest": digest(V4[:1]),
        "count": 1, "source": "pillar", "retired": False, "applied": True, "ahead_of": None, "reason": "",
    }
    assert kernel(ns, "nftables") == split(V4[:1])


def test_last_known_good_used_when_pillar_lacks_allowlist(ns, apply, salt_cli, fw_minion):
    """An allowlist missing from pillar keeps its last applied addresses (state and execution module)."""
    assert apply(pillar("nftables", V4 + V6, sequence=7))["result"] is True
    without = pillar("nftables")
    del without["nodeallow"]["allowlists"]

    ret = apply(without)

    # Held: the state says so (result False) and keeps the last-known-good copy in effect.
    assert ret["result"] is False and ret["changes"] == {}, ret
    assert "held prod/workers: unknown" in ret["comment"], ret
    assert ret["allowlists"]["prod/workers"]["source"] == "last-good"
    assert ret["sequence"] == {"prod/workers": 7}
    assert kernel(ns, "nftables") == split(V4 + V6)
    # The minion's real pillar has no nodeallow data, so this comes from the store too.
    listed = salt_cli.run("nodeallow.addresses", "prod/workers", minion_tgt=fw_minion.id)
    assert listed.data == sorted(V4) + V6, listed
    unknown = salt_cli.run("nodeallow.addresses", "prod/nobody", minion_tgt=fw_minion.id)
    assert "neither in this minion's pillar" in str(unknown.data), unknown


def test_nft_drift_by_hand_is_repaired_by_the_audit(ns, apply, fw_minion):
    """A set flushed or an element deleted by hand: the cheap check trusts the record, the audit repairs it."""
    assert apply(pillar("nftables", V4 + V6))["result"] is True
    hosts4, hosts6 = naming.nft_set("prod/workers", 4), naming.nft_set("prod/workers", 6)
    ns.run(["nft", "flush", "set", "inet", "nodeallow", hosts4])
    ns.run(["nft", "delete", "element", "inet", "nodeallow", hosts6, "{", "2001:db8::10", "}"])
    assert kernel(ns, "nftables") == {"ipv4": {"198.51.100.0/24"}, "ipv6": set()}

    # Between audits a run reads only the table's record of its contents (no set elements).
    ret = apply(pillar("nftables", V4 + V6))
    assert ret["result"] is True and ret["changes"] == {}, ret

    ret = apply(pillar("nftables", V4 + V6), audit=True)
    assert ret["result"] is True, ret
    assert ret["changes"]["allowlists"]["prod/workers"]["ipv4"]["added"] == ["192.0.2.10/32"], ret
    assert ret["changes"]["allowlists"]["prod/workers"]["ipv6"]["added"] == ["2001:db8::10/128"], ret
    assert kernel(ns, "nftables") == split(V4 + V6)

    # Once nodeallow_audit_interval has passed, an ordinary run audits (and repairs) by itself.
    ns.run(["nft", "flush", "set", "inet", "nodeallow", hosts4])
    fw.age_last_audit(fw_minion)
    ret = apply(pillar("nftables", V4 + V6))
    assert ret["result"] is True and ret["changes"]["allowlists"]["prod/workers"]["ipv4"]["added"], ret
    assert kernel(ns, "nftables") == split(V4 + V6)
    assert apply(pillar("nftables", V4 + V6))["changes"] == {}


def test_nft_old_layout_and_foreign_changes_rebuild_the_table(ns, apply):
    """A table of the old layout (one interval set per family, no record) is rebuilt in one transaction."""
    old = (
        "table inet nodeallow {\n"
        f"\tset {naming.nft_set('prod/workers', 4)} {{ type ipv4_addr; flags interval; "
        'comment "prod/workers"; elements = { 192.0.2.10 } }\n'
        "\tchain input { type filter hook input priority filter; policy accept; }\n}\n"
    )
    ns.nft_apply(old)
    ret = apply(pillar("nftables", V4 + V6))
    assert ret["result"] is True and ret["changes"]["objects"]["created"], ret
    assert kernel(ns, "nftables") == split(V4 + V6)
    assert apply(pillar("nftables", V4 + V6))["changes"] == {}


@pytest.mark.parametrize("backend", ["ipset", "iptables"])
def test_xtables_drift_by_hand_is_repaired_at_once(ns, apply, backend):
    """ipset: the cheap check counts the members, so a flushed set is refilled; iptables reads its rules every run."""
    assert apply(pillar(backend, V4 + V6))["result"] is True
    if backend == "ipset":
        ns.run(["ipset", "flush", naming.ipset("prod/workers", 4)])
    else:
        ns.run(["iptables", "-D", "NODEALLOW", "2"])
    assert kernel(ns, backend) != split(V4 + V6)

    ret = apply(pillar(backend, V4 + V6))

    assert ret["result"] is True and ret["changes"]["allowlists"]["prod/workers"]["ipv4"]["added"], ret
    assert kernel(ns, backend) == split(V4 + V6)
    assert apply(pillar(backend, V4 + V6))["changes"] == {}


def test_unknown_allowlist_refused(ns, apply):
    """A rule for an allowlist with neither pillar data nor a last-known-good copy is refused; its ports stay
    closed (fail closed): loopback and drop, no set."""
    data = pillar("nftables")
    del data["nodeallow"]["allowlists"]
    ret = apply(data)
    assert ret["result"] is False and "unknown" in ret["comment"], ret
    rules = fw.nft_rules(ns)
    assert len(rules) == 2 and rules[0].startswith('iifname "lo"') and " drop " in rules[1], rules
    assert fw.nft_sets(ns) == {}


def test_retired_allowlist_removes_its_sets_and_keeps_the_port_closed(ns, apply):
    """A retired allowlist's sets and accepts go away, the port's loopback and drop stay (fail closed); the
    return still reports its sequence; removing the rule removes the rest."""
    assert apply(pillar("ipset"))["result"] is True
    data = pillar("ipset", [], sequence=9)
    data["nodeallow"]["allowlists"]["prod/workers"]["retired"] = True

    ret = apply(data)

    assert ret["result"] is True, ret
    assert ret["sequence"] == {"prod/workers": 9}
    assert not [n for n in fw.ipsets(ns) if n.startswith("nodeallow_")]
    for save in (ns.iptables_save(), ns.ip6tables_save()):
        targets = [fw.option(args, "-j") for args in fw.chain_rules(save)]
        assert targets == ["ACCEPT", "DROP"] and fw.has_jump(save), save
    ret = apply(pillar("ipset", [], rules=[], sequence=9))
    assert ret["result"] is True, ret
    nothing_of_ours(ns)


def test_backend_switch_cleans_up_and_leaves_others_alone(ns, apply):
    """Switching backend removes the previous backend's objects and never touches foreign ones."""
    ns.nft_apply(
        "table inet bystander {\n\tchain c {\n\t\ttype filter hook input priority 10;\n\t}\n}\n"
    )
    ns.run(["ipset", "create", "bystander", "hash:ip"])
    ns.run(["iptables", "-A", "INPUT", "-s", "192.0.2.99", "-j", "ACCEPT"])

    assert apply(pillar("nftables"))["result"] is True
    ret = apply(pillar("ipset"))
    assert ret["result"] is True, ret
    assert "nft table inet nodeallow" in ret["changes"]["objects"]["removed"]
    assert ("inet", "nodeallow") not in fw.nft_tables(ns)
    assert kernel(ns, "ipset") == split(V4 + V6)

    ret = apply(pillar("iptables"))
    assert ret["result"] is True, ret
    assert not [n for n in fw.ipsets(ns) if n.startswith("nodeallow_")]
    assert kernel(ns, "iptables") == split(V4 + V6)

    ret = apply(pillar("nftables"))
    assert ret["result"] is True, ret
    assert "NODEALLOW" not in ns.iptables_save() and "NODEALLOW" not in ns.ip6tables_save()
    assert kernel(ns, "nftables") == split(V4 + V6)

    assert ("inet", "bystander") in fw.nft_tables(ns)
    assert "bystander" in fw.ipsets(ns)
    assert "-A INPUT -s 192.0.2.99/32 -j ACCEPT" in ns.iptables_save()


def test_show_reports_pillar_and_kernel(ns, apply, salt_cli, fw_minion):
    """nodeallow.show lists the store and what is applied (real pillar empty: defaults)."""
    assert apply(pillar("nftables"))["result"] is True
    ret = salt_cli.run("nodeallow.show", minion_tgt=fw_minion.id)
    assert ret.returncode == 0, ret
    assert ret.data["last_good"]["allowlists"]["prod/workers"]["count"] == len(V4 + V6)
    assert ret.data["backend"] == "nftables"
    assert "nft table inet nodeallow" in ret.data["applied"]["objects"]


# Packets: the minion's namespace (host .1) and a peer namespace with an allowlisted (.2) and
# another (.3) address, joined by a veth pair.
HOST4, GOOD4, BAD4 = "10.200.0.1", "10.200.0.2", "10.200.0.3"
HOST6, GOOD6, BAD6 = "fd00:200::1", "fd00:200::2", "fd00:200::3"


@pytest.fixture(scope="module")
def peer(fw_netns):
    """A second namespace linked to the minion's by veth, and a listener on ports 5432 and 6000 in the minion's."""
    import subprocess  # pylint: disable=import-outside-toplevel
    import sys  # pylint: disable=import-outside-toplevel

    with netns_support.netns() as other:
        fw_netns.run(
            [
                "ip",
                "link",
                "add",
                "na-host",
                "type",
                "veth",
                "peer",
                "name",
                "na-peer",
                "netns",
                other.name,
            ]
        )
        for ns_, dev, addrs in (
            (fw_netns, "na-host", (HOST4, HOST6)),
            (other, "na-peer", (GOOD4, BAD4, GOOD6, BAD6)),
        ):
            for addr in addrs:
                if ":" in addr:
                    ns_.run(["ip", "-6", "addr", "add", f"{addr}/64", "dev", dev, "nodad"])
                else:
                    ns_.run(["ip", "addr", "add", f"{addr}/24", "dev", dev])
            ns_.run(["ip", "link", "set", dev, "up"])
            ns_.run(["ip", "link", "set", "lo", "up"])
        listener = subprocess.Popen(  # pylint: disable=consider-using-with
            [
                "ip",
                "netns",
                "exec",
                fw_netns.name,
                sys.executable,
                "-c",
                fw.LISTENER,
                "5432",
                "6000",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert listener.stdout.readline().strip() == "ready"
            yield other
        finally:
            listener.kill()
            listener.wait()


@pytest.mark.parametrize("backend", ["nftables", "ipset", "iptables"])
def test_packets_follow_the_allowlist(ns, apply, peer, backend):
    """Allowlisted sources reach the restricted port, others do not; other ports stay open; IPv4 and IPv6."""
    assert fw.tcp_connects(peer, BAD4, HOST4, 5432), "the port must be open before any rule"
    ret = apply(
        pillar(
            backend,
            [f"{GOOD4}/32", f"{GOOD6}/128"],
            rules=[{"allowlist": "prod/workers", "ports": [5432]}],
        )
    )
    assert ret["result"] is True, ret

    assert fw.tcp_connects(peer, GOOD4, HOST4, 5432)
    assert fw.tcp_connects(peer, GOOD6, HOST6, 5432)
    assert not fw.tcp_connects(peer, BAD4, HOST4, 5432)
    assert not fw.tcp_connects(peer, BAD6, HOST6, 5432)
    assert fw.tcp_connects(peer, BAD4, HOST4, 6000)
    assert fw.tcp_connects(peer, BAD6, HOST6, 6000)
    # Loopback is always allowed to a restricted port.
    assert fw.tcp_connects(ns, "127.0.0.1", "127.0.0.1", 5432)

    # Swapping the allowlist: the old address loses access, the new one gains it.
    ret = apply(
        pillar(
            backend,
            [f"{BAD4}/32", f"{BAD6}/128"],
            rules=[{"allowlist": "prod/workers", "ports": [5432]}],
            sequence=2,
        )
    )
    assert ret["result"] is True, ret
    assert fw.tcp_connects(peer, BAD4, HOST4, 5432)
    assert fw.tcp_connects(peer, BAD6, HOST6, 5432)
    assert not fw.tcp_connects(peer, GOOD4, HOST4, 5432)
    assert not fw.tcp_connects(peer, GOOD6, HOST6, 5432)
