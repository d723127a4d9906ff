# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The ext_pillar opens the master's store once per process, although every pillar compile gets new options."""

import copy

import salt.config

from saltext.nodeallow.pillar import nodeallow as pillar_module


def _opts(cachedir):
    """Master options over ``cachedir``."""
    opts = dict(salt.config.DEFAULT_MASTER_OPTS)
    opts["cachedir"] = str(cachedir)
    return opts


def test_one_store_for_the_copies_salt_makes_per_compile(tmp_path, monkeypatch):
    """Salt deep-copies the master's options for each compile (salt.pillar.Pillar): the store is opened once."""
    monkeypatch.setattr(pillar_module, "_opened", [])
    opts = _opts(tmp_path)
    first = pillar_module._store(copy.deepcopy(opts))
    assert pillar_module._store(copy.deepcopy(opts)) is first


def test_another_cachedir_or_driver_opens_another_store(tmp_path, monkeypatch):
    """A store of other options (a test's second master) is never served from the first one's cache."""
    monkeypatch.setattr(pillar_module, "_opened", [])
    first = pillar_module._store(_opts(tmp_path / "a"))
    other = pillar_module._store(_opts(tmp_path / "b"))
    assert other is not first
    assert other.opts["cachedir"] == str(tmp_path / "b")
    driver = dict(_opts(tmp_path / "b"), cache="localfs_key")
    assert pillar_module._store(driver) is not other


def test_ext_pillar_records_in_the_cachedir_of_its_options(tmp_path, monkeypatch):
    """Compiles with copies of the options share the store and record the subscriber index in its cachedir."""
    monkeypatch.setattr(pillar_module, "_opened", [])
    opts = _opts(tmp_path)
    pillar = {"nodeallow": {"rules": [{"allowlist": "prod/workers", "ports": [5432]}]}}
    for minion_id in ("db1", "db2"):
        monkeypatch.setattr(pillar_module, "__opts__", copy.deepcopy(opts), raising=False)
        pillar_module.ext_pillar(minion_id, pillar)
    index = pillar_module._store(opts).get_index()
    assert index == {"db1": ["prod/workers"], "db2": ["prod/workers"]}
