# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The ``nodeallow_ruleset_file`` option: its validation and the ruleset-file backend's round trip."""

import json
import os
import shutil
import subprocess

import pytest

from saltext.nodeallow.firewall import desired, engine, nftables, rulesetfile, snapshot


def want(addresses=("10.0.0.1/32", "fd00::1/128"), table="nodeallow"):
    """A Desired with one tcp/5432 rule on prod/workers."""
    return desired.build(
        {
            "nft_table": table,
            "rules": [{"allowlist": "prod/workers", "ports": [5432]}],
            "allowlists": {"prod/workers": {"sequence": 1, "addresses": list(addresses)}},
        },
        {},
    )


@pytest.mark.parametrize("value", ["relative/file.nft", "", 5, "/tmp/a\0b"])
def test_bad_paths_refused(value):
    """Only an absolute path string is accepted."""
    with pytest.raises(ValueError, match="nodeallow_ruleset_file must be an absolute file path"):
        engine.firewall_for({"nodeallow_ruleset_file": value}, want())


def test_netns_and_file_are_exclusive():
    """Both options at once is a configuration error that names both."""
    with pytest.raises(ValueError, match="nodeallow_ruleset_file and nodeallow_netns"):
        engine.firewall_for({"nodeallow_netns": "ns1", "nodeallow_ruleset_file": "/tmp/x.nft"}, want())


def test_only_nftables_writes_a_file():
    """The file stands in for nft only: the other backends are refused, naming the option."""
    other = desired.build({"backend": "ipset", "rules": [], "allowlists": {}}, {})
    with pytest.raises(ValueError, match="cannot write to nodeallow_ruleset_file"):
        engine.firewall_for({"nodeallow_ruleset_file": "/tmp/x.nft"}, other)
    fw = engine.firewall_for({"nodeallow_ruleset_file": "/tmp/x.nft"}, want())
    assert fw.backend is rulesetfile and not fw.kernel


def test_round_trip(tmp_path):
    """What apply writes, read reads back as the target; the file is exactly render()."""
    path = tmp_path / "fw.nft"
    ruleset = rulesetfile.RulesetFile(str(path))
    wanted = want()
    target = rulesetfile.target(wanted)
    assert rulesetfile.read(ruleset, wanted).is_empty()
    rulesetfile.apply(ruleset, wanted, target, snapshot.Snapshot())
    assert path.read_text(encoding="utf-8") == nftables.render(wanted)
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"
    assert snapshot.differences(target, rulesetfile.read(ruleset, wanted)) == {}
    smaller = want(["10.0.0.1/32"])
    changes = snapshot.differences(rulesetfile.target(smaller), rulesetfile.read(ruleset, smaller))
    assert changes["allowlists"]["prod/workers"]["ipv6"]["removed"] == ["fd00::1/128"]
    assert rulesetfile.tables(ruleset) == {"nodeallow"}
    assert rulesetfile.remove(ruleset, "nodeallow") == ["nft table inet nodeallow"]
    assert path.read_text(encoding="utf-8") == ""
    assert json.loads((tmp_path / "fw.nft.json").read_text())["tables"] == {}
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".nodeallow-")]


@pytest.mark.parametrize(
    "record", ["[]", '{"format": 2, "tables": {}}', '{"format": 1, "tables": {"t": {"lines": []}}}']
)
def test_foreign_record_refused(tmp_path, record):
    """A record that is not ours is an error naming it, not an empty firewall."""
    (tmp_path / "fw.nft.json").write_text(record, encoding="utf-8")
    ruleset = rulesetfile.RulesetFile(str(tmp_path / "fw.nft"))
    with pytest.raises(ValueError, match="fw.nft.json"):
        rulesetfile.tables(ruleset)


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("nft"), reason="nft -c needs root and nft installed"
)
def test_file_is_valid_nft_input(tmp_path):
    """The written file is accepted by ``nft -c -f``: it is what would have been loaded."""
    path = tmp_path / "fw.nft"
    wanted = want()
    rulesetfile.apply(rulesetfile.RulesetFile(str(path)), wanted, rulesetfile.target(wanted), snapshot.Snapshot())
    proc = subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
