# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""``nodeallow_ruleset_file``: the nftables backend on a real minion, writing its ruleset to a file.

No namespace and no root needed: the minion's config names a file, the state writes the ruleset it
would have loaded there (plus a ``.json`` record it reads back), and the tests read both.
"""

import json
import stat

import pytest

from tests.integration.test_state import V4, V6, pillar, split
from tests.support import firewall as fw


@pytest.fixture(scope="module")
def ruleset_dir(tmp_path_factory):
    """The directory that holds the minion's ruleset file for this module."""
    return tmp_path_factory.mktemp("ruleset")


@pytest.fixture(scope="module")
def file_minion(minion_factory, ruleset_dir):
    """A real minion whose nftables backend writes to ``<ruleset_dir>/nodeallow.nft``."""
    return minion_factory(overrides={"nodeallow_ruleset_file": str(ruleset_dir / "nodeallow.nft")})


@pytest.fixture
def ruleset(file_minion, ruleset_dir):
    """The ruleset file path, with the file, its record and the last-known-good store removed."""
    path = ruleset_dir / "nodeallow.nft"
    for stale in (path, ruleset_dir / "nodeallow.nft.json"):
        if stale.exists():
            stale.unlink()
    fw.remove_last_good(file_minion)
    return path


@pytest.fixture
def apply(salt_cli, file_minion):
    """``apply(pillar_data, test=False)`` runs the state on the file minion and returns its return."""
    return fw.state_applier(salt_cli, file_minion)


def file_sets(path):
    """``{"ipv4": set, "ipv6": set}`` of the prod/workers set elements in the ruleset text at ``path``."""
    out = {"ipv4": set(), "ipv6": set()}
    family = None
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("type "):
            family = "ipv6" if "ipv6_addr" in line else "ipv4"
        elif line.startswith("elements") or line == "}" or not line[:1].isalnum():
            continue
        elif family and " " not in line:
            # Host routes stand in hash sets without their length, prefixes in interval sets.
            out[family].add(fw.cidr(line.rstrip(",")))
    return out


def test_create_grow_shrink_remove(ruleset, apply):
    """The file follows the pillar like the kernel would: create, grow, shrink, remove, idempotent."""
    ret = apply(pillar("nftables", V4 + V6, sequence=1))
    assert ret["result"] is True, ret
    assert ret["changes"]["allowlists"]["prod/workers"]["ipv4"]["added"] == sorted(V4)
    assert file_sets(ruleset) == split(V4 + V6)
    assert stat.S_IMODE(ruleset.stat().st_mode) == 0o644
    text = ruleset.read_text(encoding="utf-8")
    assert text.startswith("table inet nodeallow {}\ndelete table inet nodeallow\n"), text
    assert 'tcp dport { 5432, 8000-8100 } drop comment "na:' in text

    again = apply(pillar("nftables", V4 + V6, sequence=1))
    assert again["result"] is True and again["changes"] == {}, again
    assert ruleset.read_text(encoding="utf-8") == text

    grown = V4 + ["203.0.113.7/32"] + V6 + ["2001:db8:1::/64"]
    ret = apply(pillar("nftables", grown, sequence=2))
    assert ret["result"] is True, ret
    assert ret["changes"]["allowlists"]["prod/workers"]["ipv6"]["added"] == ["2001:db8:1::/64"]
    assert file_sets(ruleset) == split(grown)

    ret = apply(pillar("nftables", ["203.0.113.7/32"], sequence=3))
    assert ret["result"] is True, ret
    assert ret["changes"]["allowlists"]["prod/workers"]["ipv4"]["removed"] == sorted(V4)
    assert file_sets(ruleset) == split(["203.0.113.7/32"])

    ret = apply(pillar("nftables", [], rules=[]))
    assert ret["result"] is True, ret
    assert "nft table inet nodeallow" in ret["changes"]["objects"]["removed"]
    assert ruleset.read_text(encoding="utf-8") == ""
    again = apply(pillar("nftables", [], rules=[]))
    assert again["result"] is True and again["changes"] == {}, again


def test_test_mode_writes_nothing(ruleset, apply):
    """test=True reports the pending change from the file's record and leaves the file alone."""
    ret = apply(pillar("nftables", V4, sequence=1), test=True)
    assert ret["result"] is None, ret
    assert ret["changes"]["allowlists"]["prod/workers"]["ipv4"]["added"] == sorted(V4)
    assert not ruleset.exists()

    assert apply(pillar("nftables", V4, sequence=1))["result"] is True
    before = ruleset.read_text(encoding="utf-8")
    ret = apply(pillar("nftables", V4 + V6, sequence=2), test=True)
    assert ret["result"] is None, ret
    assert ret["changes"]["allowlists"]["prod/workers"]["ipv6"]["added"] == sorted(V6)
    assert ruleset.read_text(encoding="utf-8") == before


def test_last_known_good_keeps_rules(ruleset, apply):
    """An allowlist missing from pillar keeps the copy last written to the file."""
    assert apply(pillar("nftables", V4, sequence=4))["result"] is True
    data = pillar("nftables", V4)
    del data["nodeallow"]["allowlists"]
    ret = apply(data)
    # Held (the pillar lacks it), so the state says so; the file keeps the last-known-good copy.
    assert ret["result"] is False and ret["changes"] == {}, ret
    assert "held prod/workers" in ret["comment"] and "last-known-good copy (sequence 4)" in ret["comment"]
    assert ret["allowlists"]["prod/workers"]["source"] == "last-good"
    assert file_sets(ruleset) == split(V4)


def test_table_rename_moves_the_table(ruleset, apply):
    """Changing nft_table writes the new table and drops the old one from the file."""
    assert apply(pillar("nftables", V4))["result"] is True
    ret = apply(pillar("nftables", V4, nft_table="other"))
    assert ret["result"] is True, ret
    assert "nft table inet nodeallow" in ret["changes"]["objects"]["removed"]
    text = ruleset.read_text(encoding="utf-8")
    assert "table inet other {" in text and "table inet nodeallow" not in text, text
    tables = json.loads((ruleset.parent / "nodeallow.nft.json").read_text())["tables"]
    assert set(tables) == {"other"}


@pytest.mark.parametrize("backend", ["ipset", "iptables"])
def test_other_backends_refused(ruleset, apply, backend):
    """Backends that cannot write to a file refuse clearly and write nothing."""
    ret = apply(pillar(backend, V4))
    assert ret["result"] is False, ret
    assert f"backend {backend} cannot write to nodeallow_ruleset_file" in ret["comment"], ret
    assert not ruleset.exists()


def test_corrupt_record_is_an_error(ruleset, apply):
    """A broken record is reported with its path instead of being treated as an empty firewall."""
    ruleset.parent.joinpath("nodeallow.nft.json").write_text("{not json", encoding="utf-8")
    ret = apply(pillar("nftables", V4))
    assert ret["result"] is False, ret
    assert "nodeallow.nft.json" in ret["comment"], ret
    assert not ruleset.exists()
