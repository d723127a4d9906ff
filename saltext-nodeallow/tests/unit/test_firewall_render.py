# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Pillar validation and rendering of the firewall backends, as pure Python (no commands run)."""

import pytest

from saltext.nodeallow import records
from saltext.nodeallow.firewall import contents, desired, ipset, iptables, naming, nftables, xtables
from saltext.nodeallow.protocol.canonical import AddressError, digest, parse_list


def build(rules=None, allowlists=None, last_good=None, **top):
    """``desired.build`` of a pillar with the given parts."""
    data = {
        "rules": rules if rules is not None else [{"allowlist": "prod/workers", "ports": [5432]}],
        "allowlists": (
            allowlists
            if allowlists is not None
            else {"prod/workers": {"sequence": 4, "addresses": ["10.0.0.1/32", "fd00::1/128"]}}
        ),
    }
    data.update(top)
    return desired.build(data, last_good or {})


def problems(**kwargs):
    """The problems ``desired.build`` reports for a pillar (fails if it accepts it)."""
    with pytest.raises(desired.PillarError) as info:
        build(**kwargs)
    return " | ".join(info.value.problems)


def held(allowlists, last_good=None):
    """Why ``desired.build`` holds prod/workers (fails if it applies the pillar copy)."""
    want = build(allowlists=allowlists, last_good=last_good)
    assert "prod/workers" in want.held, want
    return want.held["prod/workers"]


@pytest.mark.parametrize(
    "ports, expected",
    [
        ([22], ((22, 22),)),
        (["8000-8100", 8050, 22, "23"], ((22, 23), (8000, 8100))),
        ([65535, 1], ((1, 1), (65535, 65535))),
    ],
)
def test_ports_are_merged(ports, expected):
    """Ports and ranges are sorted, and overlapping or adjacent ones merged (nft refuses overlaps)."""
    want = build(rules=[{"allowlist": "prod/workers", "ports": ports}])
    assert want.rules[0].ports == expected


@pytest.mark.parametrize(
    "rule, needle",
    [
        ({"allowlist": "prod/workers", "ports": [0]}, "not a port"),
        ({"allowlist": "prod/workers", "ports": [65536]}, "not a port"),
        ({"allowlist": "prod/workers", "ports": ["9-3"]}, "not a port"),
        ({"allowlist": "prod/workers", "ports": [True]}, "not a port"),
        ({"allowlist": "prod/workers", "ports": ["22; drop"]}, "not a port"),
        ({"allowlist": "prod/workers", "ports": []}, "non-empty"),
        ({"allowlist": "prod/workers", "ports": [22], "proto": "icmp"}, "proto"),
        ({"allowlist": "x; flush ruleset", "ports": [22]}, "<cluster>/<allowlist>"),
        ({"allowlist": "Prod/workers", "ports": [22]}, "<cluster>/<allowlist>"),
        ({"allowlist": "prod/workers/x", "ports": [22]}, "<cluster>/<allowlist>"),
        ({"allowlist": "prod/workers", "ports": [22], "source": "0.0.0.0/0"}, "unknown keys"),
    ],
)
def test_bad_rules_refused(rule, needle):
    """Each malformed rule is refused with a message naming the problem."""
    assert needle in problems(rules=[rule])


@pytest.mark.parametrize(
    "address, needle",
    [
        ("10.0.0.1/24", "not a CIDR prefix"),
        ("10.0.0.1/32 }", "not a CIDR prefix"),
        ('10.0.0.1"', "not a CIDR prefix"),
        ("fe80::1%eth0/128", "not a CIDR prefix"),
        ("::ffff:10.0.0.1/128", "IPv4-mapped"),
        ("0.0.0.0/0", "allow everyone"),
        (17, "not an address string"),
        ("10.0.0.0/08", "prefix length"),
        ("10.0.0.0/33", "prefix length"),
        ("10.0.0.256/32", "not an IPv4 address"),
        ("fd00::1/129", "prefix length"),
    ],
)
def test_bad_addresses_refused(address, needle):
    """Addresses are parsed as strict CIDR; anything else holds that allowlist."""
    lists = {"prod/workers": {"sequence": 1, "addresses": ["10.0.0.2/32", address]}}
    assert needle in held(lists)


def test_fast_parser_agrees_with_ipaddress():
    """The inet_pton parser yields exactly Python's canonical text, for random and odd prefixes."""
    import ipaddress  # pylint: disable=import-outside-toplevel
    import random  # pylint: disable=import-outside-toplevel

    rng = random.Random(4)
    samples = ["::1.2.3.4/128", "::/127", "FD00:0:0::1/128", "2001:db8:0:0:1:0:0:1/128", "1.2.3.4"]
    for _ in range(2000):
        version = rng.choice((4, 6))
        bits = 32 if version == 4 else 128
        length = rng.randint(1, bits)
        number = rng.getrandbits(bits) >> (bits - length) << (bits - length)
        net = (ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network)((number, length))
        if version == 6 and net.network_address.ipv4_mapped:
            continue
        samples.append(str(net).upper() if rng.random() < 0.2 else str(net))
    for sample in samples:
        expected = str(ipaddress.ip_network(sample))
        assert parse_list([sample]).entries == (expected,), sample
    # The bulk path (a canonical list in C-level passes) agrees with the entry-by-entry one.
    canonical = [
        str(n)
        for n in sorted({ipaddress.ip_network(s) for s in samples}, key=lambda n: (n.version, int(n.network_address)))
    ]
    canonical = [
        str(n) for n in ipaddress.collapse_addresses(ipaddress.ip_network(c) for c in canonical if ":" not in c)
    ] + [str(n) for n in ipaddress.collapse_addresses(ipaddress.ip_network(c) for c in canonical if ":" in c)]
    assert parse_list(canonical, allow_everyone=True).entries == tuple(canonical)
    assert parse_list(list(reversed(canonical)), allow_everyone=True).entries == tuple(canonical)
    hosts = {ipaddress.ip_network((rng.getrandbits(32), 32)) for _ in range(3000)}
    hosts |= {
        ipaddress.ip_network((rng.getrandbits(128) >> 100 if i % 3 == 0 else rng.getrandbits(128), 128))
        for i in range(1000)
    }
    hosts |= {ipaddress.ip_network("10.20.0.0/16"), ipaddress.ip_network("2001:db8::/48")}
    nodes = [str(n) for v in (4, 6) for n in ipaddress.collapse_addresses(h for h in hosts if h.version == v)]
    nodes = [n for n in nodes if not getattr(ipaddress.ip_network(n).network_address, "ipv4_mapped", None)]
    assert parse_list(nodes).entries == tuple(nodes)


@pytest.mark.parametrize(
    "entries",
    [
        ["01.2.3.4/32"],
        ["1.2.3/32"],
        ["1.2.3.4 /32"],
        ["1.2.3.4/32", "1.2.3.4/32"],
        ["10.0.0.0/24", "10.0.0.5/32"],
        ["fd00::1/128", "10.0.0.1/32"],
        ["FD00::1/128"],
        ["::ffff:1.2.3.4/128"],
        ["::0.1.0.2/128"],
        ["1.2.3.4/32\n5.6.7.8/32"],
    ],
)
def test_bulk_path_never_accepts_what_is_not_canonical(entries):
    """Lists the fast path must not take as canonical: they are refused or come back collapsed and sorted."""
    try:
        got = parse_list(entries).entries
    except AddressError:
        return
    assert list(got) != entries
    assert got == parse_list(list(got)).entries


def test_wrong_digest_refused():
    """A digest that does not match the addresses marks the pillar copy as corrupt."""
    lists = {
        "prod/workers": {
            "sequence": 1,
            "digest": digest(["10.0.0.9/32"]),
            "addresses": ["10.0.0.1/32"],
        }
    }
    assert "does not match its addresses" in held(lists)


def test_matching_digest_and_canonical_form():
    """A canonical list with its protocol digest is accepted; a sloppy list is collapsed and sorted."""
    good = ["10.0.0.1/32", "fd00::1/128"]
    want = build(allowlists={"prod/workers": {"sequence": 1, "digest": digest(good), "addresses": good}})
    assert want.allowlists["prod/workers"].addresses == tuple(good)
    sloppy = ["fd00::1", "10.0.0.1/32", "10.0.0.0/24", "10.0.0.1"]
    want = build(allowlists={"prod/workers": {"sequence": 1, "addresses": sloppy}})
    assert want.allowlists["prod/workers"].addresses == ("10.0.0.0/24", "fd00::1/128")


def test_policy_accept_needs_an_xtables_backend():
    """An nft accept cannot override another table's drop, so accept is refused with nftables."""
    assert "policy accept does not work with backend nftables" in problems(policy="accept")
    assert build(policy="accept", backend="ipset").policy == "accept"


def test_empty_unknown_and_last_good():
    """Empty and unknown allowlists are held: the last-known-good copy stays in effect, or their rules stay out."""
    empty = build(allowlists={"prod/workers": {"sequence": 2, "addresses": []}})
    assert "is empty" in empty.held["prod/workers"]
    # The rule stays in force (its port stays closed) but admits no allowlist.
    assert not empty.admits(empty.rules[0]) and "prod/workers" not in empty.allowlists
    unknown = build(allowlists={})
    assert "unknown" in unknown.held["prod/workers"] and not unknown.admits(unknown.rules[0])
    good = {
        "prod/workers": records.validate(
            "prod/workers",
            {"sequence": 3, "digest": digest(["10.0.0.5/32"]), "addresses": ["10.0.0.5/32"]},
            "store",
        )
    }
    fallback = build(allowlists={}, last_good=good)
    assert "unknown" in fallback.held["prod/workers"]
    assert fallback.allowlists["prod/workers"].source == "last-good"
    assert fallback.allowlists["prod/workers"].addresses == ("10.0.0.5/32",)
    assert [r.allowlist for r in fallback.rules if fallback.admits(r)] == ["prod/workers"]


def test_one_bad_allowlist_never_holds_the_others():
    """An invalid, empty or unknown allowlist is held alone; every other subscribed allowlist applies."""
    rules = [{"allowlist": name, "ports": [5432]} for name in ("prod/workers", "beta/workers", "gamma/w", "delta/w")]
    lists = {
        "prod/workers": {"sequence": 4, "addresses": ["10.0.0.1/32"]},
        "beta/workers": {"sequence": 2, "addresses": ["10.0.0.1/24"]},  # host bits set
        "gamma/w": {"sequence": 1, "addresses": []},
        # delta/w is not in pillar (never published)
        "nobody/subscribes": {"sequence": "garbage"},  # no rule uses it: never read
    }
    want = build(rules=rules, allowlists=lists)
    assert sorted(want.held) == ["beta/workers", "delta/w", "gamma/w"]
    assert "host bits" in want.held["beta/workers"]
    assert [r.allowlist for r in want.rules if want.admits(r)] == ["prod/workers"]
    assert want.allowlists["prod/workers"].addresses == ("10.0.0.1/32",)


def test_retired_allowlist_admits_nobody_but_keeps_the_rule():
    """A retired allowlist keeps its sequence; its rule stays in force (fail closed) and admits none of it."""
    want = build(allowlists={"prod/workers": {"sequence": 8, "retired": True, "addresses": []}})
    assert [r.allowlist for r in want.rules] == ["prod/workers"] and not want.held
    assert not want.admits(want.rules[0]) and want.groups() == {}
    assert want.allowlists["prod/workers"].sequence == 8


def test_names_are_short_and_safe():
    """Set names fit old kernels (nft 32, ipset 31 including the temporary suffix) and only use [a-z0-9_]."""
    longest = ("a" * 63) + "/" + ("b" * 63)
    for family in (4, 6):
        assert len(nftables_name := naming.nft_set(longest, family)) < 32
        assert len(naming.ipset_temp(naming.ipset(longest, family))) <= 31
        assert nftables_name.replace("_", "").isalnum()
    assert naming.nft_set("prod/a", 4) != naming.nft_set("prod/b", 4)


def test_nft_render_is_one_transaction():
    """The nft file recreates the whole table: create, delete, full definition; sets carry the name."""
    text = nftables.render(build())
    lines = text.splitlines()
    assert lines[:3] == [
        "table inet nodeallow {}",
        "delete table inet nodeallow",
        "table inet nodeallow {",
    ]
    assert 'comment "prod/workers"' in text
    set4 = naming.nft_set("prod/workers", 4)
    # Host routes go into plain hash sets, without their length.
    assert f"set {set4} {{" in text and "\t10.0.0.1\n" in text and "\tfd00::1\n" in text
    assert f"set {naming.nft_prefix_set('prod/workers', 4)} {{\n\t\ttype ipv4_addr\n\t\tflags interval" in text
    assert (
        "chain state {" in text
        and f"na-state {set4[:-2]} {digest(['10.0.0.1/32', 'fd00::1/128'])[7:39]} 2" in text
    )
    assert "type filter hook input priority filter; policy accept;" in text
    chain = text[text.index("chain input") :]
    assert chain.index('iifname "lo"') < chain.index(f"@{set4} accept") < chain.index("drop")


def test_nft_render_without_rules_deletes_the_table():
    """No rules: the file only deletes our table."""
    text = nftables.render(build(rules=[]))
    assert text == "table inet nodeallow {}\ndelete table inet nodeallow\n"


def test_multiport_groups_respect_the_limit():
    """multiport takes 15 ports (a range counts twice): longer lists are split."""
    ranges = tuple((p, p) for p in range(1, 21)) + ((100, 200),)
    groups = xtables.port_groups(ranges)
    assert [len(g.split(",")) for g in groups] == [15, 6]
    assert groups[1].endswith("100:200")


def test_xtables_restore_names_only_our_chain():
    """iptables-restore input declares and flushes only NODEALLOW and adds the jump when asked."""
    want = build(backend="ipset")
    text = xtables.render(ipset.family_lines(want, 4), add_jump=True)
    assert text.splitlines()[:4] == [
        "*filter",
        ":NODEALLOW - [0:0]",
        "-F NODEALLOW",
        "-I INPUT 1 -j NODEALLOW",
    ]
    assert all(
        line.startswith(("-A NODEALLOW ", "*filter", ":NODEALLOW", "-F NODEALLOW", "-I INPUT", "COMMIT"))
        for line in text.splitlines()
    )
    assert f"--match-set {naming.ipset('prod/workers', 4)} src" in text
    assert "-I INPUT" not in xtables.render(ipset.family_lines(want, 4), add_jump=False)


def test_ipset_restore_swaps_a_temporary_set():
    """ipset restore input fills a temporary set, swaps it in and destroys it."""
    want = build(backend="ipset")
    live = naming.ipset("prod/workers", 6)
    temp = naming.ipset_temp(live)
    lines = ipset.restore_input(want, existing={live: (6, set())}).splitlines()
    six = [line for line in lines if live in line]
    assert six == [
        f"create {temp} hash:net family inet6 maxelem 65536",
        f"add {temp} fd00::1/128",
        f"swap {temp} {live}",
        f"destroy {temp}",
    ]


def test_per_address_rules_and_diff():
    """The per-address backend writes one rule per address; the diff names added and removed ones."""
    want = build(backend="iptables", policy="accept")
    lines = iptables.family_lines(want, 4)
    assert [line[3].split(" -m comment")[0] for line in lines] == [
        "-s 10.0.0.1/32 -p tcp -m multiport --dports 5432 -j ACCEPT"
    ]
    target = iptables.target(want)
    current = contents.Contents(
        set(target.objects),
        list(target.lines),
        {"prod/workers": {4: {"10.0.0.9/32"}, 6: {"fd00::1/128"}}},
    )
    changes = contents.differences(target, current)
    assert changes["allowlists"]["prod/workers"]["ipv4"] == {
        "added": ["10.0.0.1/32"],
        "removed": ["10.0.0.9/32"],
        "added_count": 1,
        "removed_count": 1,
    }
    assert contents.differences(target, target) == {}


def _cheap_listing(want, record=None):
    """``nft -j -t list ruleset`` items of the table that ``nftables.render(want)`` loads (no elements)."""
    table = want.nft_table
    items = [{"table": {"family": "inet", "name": table}}]
    for name in want.active():
        for family in (4, 6):
            host_set, prefix_set = naming.nft_sets(name, family)
            kind = "ipv4_addr" if family == 4 else "ipv6_addr"
            items.append({"set": {"family": "inet", "table": table, "name": host_set, "type": kind, "comment": name}})
            items.append(
                {
                    "set": {
                        "family": "inet",
                        "table": table,
                        "name": prefix_set,
                        "type": kind,
                        "flags": ["interval"],
                        "comment": name,
                    }
                }
            )
    items.append({"chain": {"family": "inet", "table": table, "name": "input"}})
    items.append({"chain": {"family": "inet", "table": table, "name": "state"}})
    for key, desc, _, _ in nftables.rule_lines(want):
        items.append(
            {"rule": {"family": "inet", "table": table, "chain": "input", "comment": naming.line_comment(key, desc)}}
        )
    text = record if record is not None else nftables._record_rules(want)[0].split('"')[1]  # pylint: disable=protected-access
    items.append({"rule": {"family": "inet", "table": table, "chain": "state", "comment": text}})
    return items


class _Listing:
    """An executor answering ``nft -j -t list ruleset`` with fixed items (and nothing else)."""

    def __init__(self, items):
        self.items = items
        self.calls = []

    def run(self, args, **_):
        import json  # pylint: disable=import-outside-toplevel
        import subprocess  # pylint: disable=import-outside-toplevel

        self.calls.append(list(args))
        assert args == ["nft", "-j", "-t", "list", "ruleset"], args
        return subprocess.CompletedProcess(args, 0, json.dumps({"nftables": self.items}), "")


def test_cheap_check_trusts_the_record_of_the_wanted_or_the_last_good_copy():
    """The record chain names the digest: the wanted list (no diff), the stored one (a delta), or neither (read all)."""
    old = build(allowlists={"prod/workers": {"sequence": 1, "addresses": ["10.0.0.1/32", "10.9.0.0/24"]}})
    new = build(allowlists={"prod/workers": {"sequence": 2, "addresses": ["10.0.0.2/32", "10.9.0.0/24"]}})
    target = nftables.target(new)

    same = nftables.read(_Listing(_cheap_listing(new)), new, {}, target)
    assert not same.read_back and contents.differences(target, same) == {}

    store = {
        "prod/workers": records.validate(
            "prod/workers", {"sequence": 1, "addresses": list(old.allowlists["prod/workers"].addresses)}, "s"
        )
    }
    stale = nftables.read(_Listing(_cheap_listing(old)), new, store, target)
    assert stale.addresses["prod/workers"][4] == {"10.0.0.1/32", "10.9.0.0/24"}
    delta = nftables.render_delta(new, target, stale)
    assert delta.splitlines() == [
        f"delete element inet nodeallow {naming.nft_set('prod/workers', 4)} {{ 10.0.0.1 }}",
        f"add element inet nodeallow {naming.nft_set('prod/workers', 4)} {{ 10.0.0.2 }}",
        "flush chain inet nodeallow state",
        "add rule inet nodeallow state " + nftables._record_rules(new)[0],  # pylint: disable=protected-access
    ]

    class _Full(_Listing):
        def run(self, args, **kwargs):
            if args[:3] == ["nft", "-j", "list"]:
                import subprocess  # pylint: disable=import-outside-toplevel

                self.calls.append(list(args))
                return subprocess.CompletedProcess(args, 1, "", "Error: No such file or directory")
            return super().run(args, **kwargs)

    unknown = _Full(_cheap_listing(old, record="na-state a_0000000000 0 1"))
    assert nftables.read(unknown, new, store, target).is_empty()
    assert unknown.calls[-1][:3] == ["nft", "-j", "list"], unknown.calls
