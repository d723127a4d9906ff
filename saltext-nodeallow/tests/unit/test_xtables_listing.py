# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Our xtables chain in the terse nft listing (iptables-nft hosts): when it is used, and what it finds."""

import os

import pytest

from saltext.nodeallow.firewall import nftables, xtables


def tools(path, target):
    """Put iptables-save and ip6tables-save into ``path`` as links to an executable named ``target``."""
    binary = path / target
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    for name in ("iptables-save", "ip6tables-save"):
        os.symlink(binary, path / name)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("xtables-nft-multi", True),  # Debian, Ubuntu, RHEL: through the alternatives
        ("xtables-legacy-multi", False),
        ("xtables-multi", False),  # iptables before 1.8: legacy only
        ("busybox", False),  # unknown: read with iptables-save
    ],
)
def test_the_listing_is_used_only_for_the_nf_tables_variant(tmp_path, monkeypatch, target, expected):
    """Decided from what the tools resolve to on PATH; anything not known to be iptables-nft is read as before."""
    tools(tmp_path, target)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert xtables.in_nft_listing() is expected
    assert xtables.reads(switched=True) == ([nftables.TERSE] if expected else xtables.saves())
    assert xtables.reads(switched=False) == ([nftables.TERSE] if expected else []) + xtables.saves()


def test_a_missing_tool_means_iptables_save(tmp_path, monkeypatch):
    """Without ip6tables-save (or both) the listing is not trusted for either family."""
    (tmp_path / "xtables-nft-multi").write_text("#!/bin/sh\n")
    (tmp_path / "xtables-nft-multi").chmod(0o755)
    os.symlink(tmp_path / "xtables-nft-multi", tmp_path / "iptables-save")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert xtables.in_nft_listing() is False


def rule(family, chain, *exprs, **extra):
    """One rule item of ``nft -j -t list ruleset`` in table ``<family> filter``."""
    return {"rule": {"family": family, "table": "filter", "chain": chain, "handle": 3, "expr": list(exprs), **extra}}


COUNTER = {"counter": {"packets": 0, "bytes": 0}}
JUMP = {"jump": {"target": "NODEALLOW"}}


def test_objects_in_the_listing_are_named_as_iptables_save_names_them():
    """Our chain per family, and only INPUT rules that are a plain jump (as ``-A INPUT -j NODEALLOW``)."""
    items = [
        {"metainfo": {"version": "1.0.6"}},
        {"table": {"family": "ip", "name": "filter", "handle": 1}},
        {"chain": {"family": "ip", "table": "filter", "name": "NODEALLOW", "handle": 1}},
        {"chain": {"family": "ip", "table": "filter", "name": "INPUT", "handle": 2, "hook": "input"}},
        rule("ip", "INPUT", COUNTER, JUMP),
        rule("ip", "INPUT", {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "eth0"}}, JUMP),
        rule("ip", "INPUT", {"xt": {"type": "match", "name": "comment"}}, COUNTER, JUMP),
        rule("ip", "INPUT", COUNTER, {"goto": {"target": "NODEALLOW"}}),
        {"chain": {"family": "ip6", "table": "filter", "name": "NODEALLOW", "handle": 1}},
        rule("ip6", "INPUT", JUMP, comment="by hand"),
        # Not the filter table, not an xtables family: never ours.
        {"chain": {"family": "ip", "table": "mangle", "name": "NODEALLOW", "handle": 1}},
        {"chain": {"family": "inet", "table": "filter", "name": "NODEALLOW", "handle": 1}},
        rule("inet", "INPUT", JUMP),
    ]
    assert xtables.objects_in(items) == [
        "iptables chain NODEALLOW",
        "iptables jump INPUT -> NODEALLOW",
        "ip6tables chain NODEALLOW",
    ]
    assert xtables.objects_in([]) == []
