# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Fail closed and local sources per rule: pillar validation and what each backend renders (no commands run)."""

import pytest

from saltext.nodeallow.firewall import contents, desired, ipset, iptables, naming, nftables
from saltext.nodeallow.protocol.canonical import digest

BASTION = ["192.0.2.10/32", "2001:db8::10/128"]
WORKERS = {"prod/workers": {"sequence": 4, "addresses": ["10.0.0.1/32", "fd00::1/128"]}}
RETIRED = {"prod/workers": {"sequence": 5, "retired": True, "addresses": []}}


def build(sources=BASTION, allowlists=None, policy="restrict", backend="nftables", **rule_extra):
    """``desired.build`` of one tcp/5432 rule for prod/workers with local ``sources``."""
    rule = {"allowlist": "prod/workers", "ports": [5432], **rule_extra}
    if sources is not None:
        rule["sources"] = sources
    data = {"backend": backend, "policy": policy, "rules": [rule]}
    data["allowlists"] = WORKERS if allowlists is None else allowlists
    return desired.build(data, {})


def problems(**kwargs):
    """The problems ``desired.build`` reports (fails if it accepts the pillar)."""
    with pytest.raises(desired.PillarError) as info:
        build(**kwargs)
    return " | ".join(info.value.problems)


def test_sources_are_canonical_and_kept_in_the_rule():
    """Sources are parsed by the protocol's parser: collapsed, sorted, IPv4 first, in the rule object."""
    want = build(sources=["2001:db8::10", "192.0.2.11/32", "192.0.2.10/32"])
    assert want.rules[0].sources == ("192.0.2.10/31", "2001:db8::10/128")
    label = naming.sources_label("tcp:5432 prod/workers")
    assert want.rules[0].sources_label() == label
    assert want.local()[label].addresses == ("192.0.2.10/31", "2001:db8::10/128")
    assert list(want.groups()) == ["prod/workers", label]


@pytest.mark.parametrize(
    "sources, needle",
    [
        ("192.0.2.10/32", "sources must be a list"),
        (["192.0.2.10/24"], "nodeallow:rules[0]:sources[0]: '192.0.2.10/24' is not a CIDR prefix"),
        (["192.0.2.10/32", "bastion.example.com"], "nodeallow:rules[0]:sources[1]: 'bastion.example.com'"),
        (["0.0.0.0/0"], "would allow everyone"),
        ([17], "not an address string"),
        (["10.0.0.0/8"], "nodeallow:rules[0]:sources: too-wide"),
        (["127.0.0.1/32"], "special-address"),
        ([f"10.{i}.0.0/24" for i in range(300)], "more than 256"),
    ],
)
def test_bad_sources_are_refused_naming_rule_and_entry(sources, needle):
    """A bad source makes the pillar invalid (nothing applied), with the rule and the entry named."""
    found = problems(sources=sources)
    assert needle in found, found


def test_limits_apply_to_sources_unless_the_rule_widens_them():
    """The pillar's limits apply to sources; sources_limits (same keys) widens them for that rule only."""
    assert "widen nodeallow:rules[0]:sources_limits" in problems(sources=["10.0.0.0/8"])
    want = build(sources=["10.0.0.0/8"], sources_limits={"min_prefix": {"ipv4": 8}, "max_span": {"ipv4": "/8"}})
    assert want.rules[0].sources == ("10.0.0.0/8",)
    # The top-level limits tighten them too.
    data = {
        "rules": [{"allowlist": "prod/workers", "ports": [5432], "sources": ["192.0.2.0/24"]}],
        "limits": {"min_prefix": {"ipv4": 28}},
        "allowlists": WORKERS,
    }
    with pytest.raises(desired.PillarError) as info:
        desired.build(data, {})
    assert "too-wide" in str(info.value)
    assert "sources_limits must be a mapping" in problems(sources_limits=[8])
    assert "unknown keys ['min_perfix']" in problems(sources_limits={"min_perfix": {"ipv4": 8}})


@pytest.mark.parametrize("allowlists", [RETIRED, {}, {"prod/workers": {"sequence": 6, "addresses": []}}])
def test_nft_port_stays_closed_without_its_allowlist(allowlists):
    """Retired, never published or empty: the port keeps loopback, the local sources and the drop."""
    want = build(allowlists=allowlists)
    text = nftables.render(want)
    chain = text[text.index("chain input") :]
    src4 = naming.nft_set(naming.sources_label("tcp:5432 prod/workers"), 4)
    assert src4.startswith("s_") and f"set {src4} {{" in text and "\t192.0.2.10\n" in text
    assert 'iifname "lo" tcp dport { 5432 } accept' in chain
    assert f"ip saddr @{src4} accept" in chain
    assert "tcp dport { 5432 } drop" in chain
    assert naming.nft_set("prod/workers", 4) not in text
    assert chain.index('iifname "lo"') < chain.index(f"@{src4}") < chain.index("drop")


@pytest.mark.parametrize("allowlists", [RETIRED, {}])
def test_nft_port_stays_closed_without_sources_either(allowlists):
    """Without sources and allowlist, the port admits loopback only: the table is not removed."""
    want = build(sources=None, allowlists=allowlists)
    text = nftables.render(want)
    assert "tcp dport { 5432 } drop" in text and 'iifname "lo" tcp dport { 5432 } accept' in text
    assert "set " not in text
    assert nftables.target(want).objects == {
        "nft table inet nodeallow",
        "nft chain inet nodeallow input",
        "nft chain inet nodeallow state",
    }


@pytest.mark.parametrize("module", [ipset, iptables])
def test_xtables_port_stays_closed_after_retirement(module):
    """ipset/iptables: after a retirement the chain keeps loopback, the local sources and the drops."""
    want = build(allowlists=RETIRED, backend=module.NAME)
    for family, source in ((4, "192.0.2.10/32"), (6, "2001:db8::10/128")):
        lines = [text for _, _, _, text in module.family_lines(want, family)]
        assert lines[0].startswith("-i lo ") and lines[-1].startswith("-p tcp -m multiport --dports 5432 -j DROP")
        accepts = lines[1:-1]
        assert len(accepts) == 1 and "sources tcp:5432 prod/workers" in accepts[0], accepts
        if module is ipset:
            label = naming.sources_label("tcp:5432 prod/workers")
            assert f"--match-set {naming.ipset(label, family)} src" in accepts[0]
        else:
            assert accepts[0].startswith(f"-s {source} ")
        assert naming.ipset("prod/workers", family) not in "".join(lines)


@pytest.mark.parametrize("module", [ipset, iptables])
def test_policy_accept_writes_only_the_accepts(module):
    """policy accept: no loopback or drop lines; a retirement leaves only the sources' accepts (the host drops)."""
    want = build(allowlists=RETIRED, backend=module.NAME, policy="accept")
    lines = [text for _, _, _, text in module.family_lines(want, 4)]
    assert len(lines) == 1 and "-j ACCEPT" in lines[0] and "sources" in lines[0], lines
    live = build(backend=module.NAME, policy="accept")
    assert [t for _, _, _, t in module.family_lines(live, 4) if "DROP" in t or "-i lo" in t] == []


def test_ipset_names_fit_and_differ():
    """Source ipsets carry an s_ of their own and fit ipset's 31 characters with the temporary suffix."""
    label = naming.sources_label("udp:1-2,3-4,5-6 " + "a" * 63 + "/" + "b" * 63)
    for family in (4, 6):
        name = naming.ipset(label, family)
        assert name.startswith("nodeallow_s_") and len(naming.ipset_temp(name)) <= 31
        assert naming.is_ours_ipset(name)


def test_changes_show_sources_apart_from_allowlists():
    """The state's changes list the rules' sources under ``sources``, by rule."""
    old = build(sources=["192.0.2.10/32"])
    new = build(sources=["192.0.2.11/32", "2001:db8::10/128"])
    current = nftables.target(old)
    changes = contents.differences(nftables.target(new), current)
    assert "allowlists" not in changes and "rules" not in changes
    assert changes["sources"]["tcp:5432 prod/workers"]["ipv4"] == {
        "added": ["192.0.2.11/32"],
        "removed": ["192.0.2.10/32"],
        "added_count": 1,
        "removed_count": 1,
    }
    delta = nftables.render_delta(new, nftables.target(new), current)
    src4 = naming.nft_set(naming.sources_label("tcp:5432 prod/workers"), 4)
    assert f"delete element inet nodeallow {src4} {{ 192.0.2.10 }}" in delta
    assert f"add element inet nodeallow {src4} {{ 192.0.2.11 }}" in delta


def test_iptables_reads_sources_back_under_their_label():
    """The per-address backend's descriptions give the sources' label back (not the allowlist's)."""
    want = build(backend="iptables")
    label = naming.sources_label("tcp:5432 prod/workers")
    got = {}
    for family in (4, 6):
        for _, desc, source, _ in iptables.family_lines(want, family):
            if source:
                got.setdefault(naming.line_label(desc), set()).add(source)
    assert got == {label: set(BASTION), "prod/workers": {"10.0.0.1/32", "fd00::1/128"}}


def test_cheap_check_record_covers_the_sources():
    """Chain state records the sources' digest too, so an unchanged table needs no full read."""
    want = build()
    records_ = nftables._record_rules(want)  # pylint: disable=protected-access
    label = naming.sources_label("tcp:5432 prod/workers")
    base = naming.nft_set(label, 4)[:-2]
    assert any(f"na-state {base} {digest(BASTION)[7:39]} 2" in r for r in records_), records_


def test_duplicate_rules_admit_the_union_of_their_sources():
    """Two rules with the same description share one label; their sources are merged."""
    data = {
        "rules": [
            {"allowlist": "prod/workers", "ports": [5432], "sources": ["192.0.2.10/32"]},
            {"allowlist": "prod/workers", "ports": [5432], "sources": ["192.0.2.11/32", "192.0.2.10/32"]},
        ],
        "allowlists": WORKERS,
    }
    want = desired.build(data, {})
    assert list(want.local().values())[0].addresses == ("192.0.2.10/31",)
    local = [key for key, desc, _, _ in nftables.rule_lines(want) if desc.startswith(naming.SOURCES_PREFIX)]
    assert len(local) == len(set(local)) == 4


def test_ruleset_file_keeps_the_drop_from_first_apply_to_retirement(tmp_path):
    """The demo backend (a ruleset file): never published, published, retired; the drop is there throughout,
    the sources too; the state's changes and comment say so; only removing the rule removes the table."""
    from saltext.nodeallow.firewall import engine  # pylint: disable=import-outside-toplevel

    path = tmp_path / "fw.nft"
    opts = {"cachedir": str(tmp_path / "cache"), "nodeallow_ruleset_file": str(path)}
    rule = {"allowlist": "prod/workers", "ports": [5432], "sources": ["192.0.2.10/32"]}

    def apply(allowlists, rules=(rule,)):
        return engine.managed(opts, {"rules": list(rules), "allowlists": allowlists})

    ret = apply({})
    assert ret["result"] is False and "no copy of it was ever applied here" in ret["comment"], ret
    assert ret["changes"]["sources"]["tcp:5432 prod/workers"]["ipv4"]["added"] == ["192.0.2.10/32"]
    assert "tcp dport { 5432 } drop" in path.read_text() and "192.0.2.10" in path.read_text()

    ret = apply(WORKERS)
    assert ret["result"] is True and "10.0.0.1" in path.read_text(), ret

    ret = apply(RETIRED)
    assert ret["result"] is True and ret["changes"]["allowlists"]["prod/workers"]["removed"] is True, ret
    text = path.read_text()
    assert "tcp dport { 5432 } drop" in text and "192.0.2.10" in text and "10.0.0.1" not in text
    assert apply(RETIRED)["changes"] == {}

    ret = apply(RETIRED, rules=())
    assert ret["result"] is True and path.read_text() == "", ret


def test_show_gives_each_rules_sources_and_whether_its_allowlist_is_in_effect(tmp_path):
    """nodeallow.show (engine.show): the rules' sources, allowlist_in_effect, the sources' address counts."""
    from saltext.nodeallow.firewall import engine  # pylint: disable=import-outside-toplevel

    opts = {"cachedir": str(tmp_path / "cache"), "nodeallow_ruleset_file": str(tmp_path / "fw.nft")}
    data = {"rules": [{"allowlist": "prod/workers", "ports": [5432], "sources": BASTION}], "allowlists": RETIRED}
    assert engine.managed(opts, data)["result"] is True
    out = engine.show(opts, data)
    assert out["rules"] == [
        {
            "allowlist": "prod/workers",
            "proto": "tcp",
            "ports": "5432",
            "comment": "",
            "sources": BASTION,
            "allowlist_in_effect": False,
        }
    ]
    assert out["applied"]["addresses"] == {"sources tcp:5432 prod/workers": {"ipv4": 1, "ipv6": 1}}
    assert out["pending_changes"] == {}


def test_the_documented_pillar_validates():
    """docs/firewall.md's pillar example (with sources and sources_limits) is accepted as written."""
    import pathlib  # pylint: disable=import-outside-toplevel

    import yaml  # pylint: disable=import-outside-toplevel

    doc = (pathlib.Path(__file__).parents[3] / "docs" / "firewall.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Pillar it reads") :]
    example = section[section.index("```yaml\n") + 8 : section.index("```\n", section.index("```yaml\n") + 8)]
    want = desired.build(yaml.safe_load(example)["nodeallow"], {})
    assert want.rules[0].sources == ("192.0.2.10/32", "2001:db8::10/128")
    assert want.rules[0].ports == ((5432, 5432), (8000, 8100))
