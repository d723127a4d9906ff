# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""compat.py, the one place that knows what differs between the Salt versions nodeallow supports."""

import pathlib
import re

import salt.version

from saltext.nodeallow import compat

PYPROJECT = pathlib.Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_the_minimum_is_the_one_pyproject_requires():
    """compat.MINIMUM_SALT and pyproject.toml's ``salt>=`` requirement name the same release."""
    requirement = re.search(r'"salt>=(\d+)\.(\d+)"', PYPROJECT.read_text(encoding="utf-8"))
    assert requirement, "pyproject.toml has no salt>=X.Y requirement"
    assert tuple(map(int, requirement.groups())) == compat.MINIMUM_SALT


def test_the_running_salt_is_supported_and_master_clusters_follow_its_version():
    """The Salt under test is 3006.27+ or 3008; master clusters are there exactly from 3007 on."""
    version = compat.salt_version()
    assert version == tuple(int(part) for part in salt.version.__version__.split(".")[:2])
    assert version >= compat.MINIMUM_SALT
    assert compat.has_master_cluster() == (version[0] >= 3007)
    assert (compat.master_cluster_missing() is None) == compat.has_master_cluster()
