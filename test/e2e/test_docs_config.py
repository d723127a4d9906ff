# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The end-to-end system runs the configuration docs/salt.md tells a user to write (no daemons needed).

If this fails, docs/salt.md and tests/support/saltconfig.py drifted apart: fix whichever is wrong, so the
end-to-end tests keep proving the documented setup.
"""

import dataclasses
import re

import yaml

from harness.binaries import REPO_ROOT
from harness.system import subscriptions_pillar
from tests.support import saltconfig
from topology import spec

# Settings the test system differs in on purpose: plain HTTP on loopback instead of TLS certificates.
TEST_ONLY_API_SETTINGS = {"host", "disable_ssl"}
DOCS_ONLY_API_SETTINGS = {"ssl_crt", "ssl_key"}


def _doc_blocks():
    """Every ```yaml block of docs/salt.md, parsed."""
    text = (REPO_ROOT / "docs" / "salt.md").read_text(encoding="utf-8")
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", text, re.S)]


def _docs_block_with(key):
    """The first YAML block of docs/salt.md with top-level ``key``."""
    for block in _doc_blocks():
        if isinstance(block, dict) and key in block:
            return block
    raise AssertionError(f"docs/salt.md has no ```yaml block with a top-level {key!r}")


def _harness_config():
    """The master.d/nodeallow.conf the harness writes, parsed."""
    return yaml.safe_load(saltconfig.master_config_text(
        clusters={"prod": "k" * 64, "staging": ["n" * 64, "o" * 64]},
        reactor_file="/srv/reactor/nodeallow.sls",
        api_port=8000,
        users_file="/etc/salt/nodeallow-eauth",
        api_user="nodeallow",
    ))


def test_master_config_has_the_documented_shape():
    """nodeallow clusters, ext_pillar, reactor mapping and rest_cherrypy are the documented ones."""
    docs = _docs_block_with("reactor")
    ours = _harness_config()

    assert ours["ext_pillar"] == docs["ext_pillar"]
    assert ours["engines"] == docs["engines"], "the reconcile loop runs as documented"
    assert ours["netapi_enable_clients"] == docs["netapi_enable_clients"], "salt-api clients as documented"
    assert [list(entry) for entry in ours["reactor"]] == [list(entry) for entry in docs["reactor"]]
    documented_shapes = [set(entry) for entry in docs["nodeallow"]["clusters"].values()]
    for name, cluster in ours["nodeallow"]["clusters"].items():
        assert set(cluster) in documented_shapes, name
    assert set(ours["nodeallow"]) <= set(docs["nodeallow"])
    assert set(ours["rest_cherrypy"]) - TEST_ONLY_API_SETTINGS == \
        set(docs["rest_cherrypy"]) - DOCS_ONLY_API_SETTINGS
    assert "webhook_disable_auth" not in ours["rest_cherrypy"], "webhook auth stays on, as documented"


def test_eauth_is_the_documented_file_backend():
    """The controllers log in with the documented `file` eauth user that has no permissions."""
    docs = _docs_block_with("external_auth")["external_auth"]
    ours = _harness_config()["external_auth"]
    assert set(ours) == set(docs)
    assert {k: v for k, v in ours["file"].items() if k != "^filename"} == \
        {k: v for k, v in docs["file"].items() if k != "^filename"}


def test_subscriptions_use_the_documented_pillar_keys():
    """The minions' pillar uses only keys the docs' subscription example shows."""
    docs = next(b for b in _doc_blocks() if isinstance(b, dict) and "rules" in b.get("nodeallow", {}))
    documented_rule_keys = set().union(*(rule.keys() for rule in docs["nodeallow"]["rules"]))
    for minion in spec().minions:
        pillar = subscriptions_pillar(minion.rules, backend=minion.backend)
        assert set(pillar["nodeallow"]) <= set(docs["nodeallow"]), minion.id
        for rule in pillar["nodeallow"]["rules"]:
            assert set(rule) <= documented_rule_keys, (minion.id, rule)


def test_documented_master_settings_are_the_defaults():
    """Every nodeallow master setting docs/salt.md shows is a real one, with the default the code uses."""
    from saltext.nodeallow import settings  # pylint: disable=import-outside-toplevel

    documented = _docs_block_with("reactor")["nodeallow"]
    defaults = settings.Settings(clusters={})
    for name, value in documented.items():
        if name == "clusters":
            continue
        assert hasattr(defaults, name), f"docs/salt.md shows nodeallow:{name}, which the code does not read"
        default = getattr(defaults, name)
        assert default == value, f"nodeallow:{name}: docs say {value!r}, the default is {default!r}"
    numbers = {field.name for field in dataclasses.fields(settings.Settings)} - {"clusters"}
    assert numbers <= set(documented), f"undocumented settings: {sorted(numbers - set(documented))}"
