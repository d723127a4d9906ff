# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Salt's loader finds this extension through its ``salt.loader`` entry point, as installed."""

import copy
import os

import salt.loader
import salt.loader.lazy
import salt.utils.entrypoints
from saltfactories.utils import random_string

import saltext.nodeallow

LOADER_DIRS = ("modules", "states", "runners", "pillar", "grains")


def real_paths(paths):
    """The paths with symlinks resolved (bin/saltext-site is a link to the current build)."""
    return {os.path.realpath(path) for path in paths}


def test_entry_point_is_registered():
    """The installed distribution declares the entry point Salt iterates over."""
    entry_points = [
        ep
        for ep in salt.utils.entrypoints.iter_entry_points("salt.loader")
        if ep.value == "saltext.nodeallow"
    ]
    assert entry_points, (
        "no 'salt.loader' entry point for saltext.nodeallow; is the extension installed "
        "(hack/python-env.sh) and bin/saltext-site on PYTHONPATH?"
    )
    assert entry_points[0].dist.name.replace("_", ".") == "saltext.nodeallow"


def test_loader_dirs_come_from_the_entry_point():
    """With no module_dirs or extension_modules configured, Salt still adds our loader dirs."""
    # Empty opts: the only way our directories can appear is the entry point.
    for ext_type in LOADER_DIRS:
        dirs = salt.loader._module_dirs({}, ext_type)  # pylint: disable=protected-access
        expected = str(saltext.nodeallow.PACKAGE_ROOT / ext_type)
        assert expected in real_paths(dirs), f"{expected} missing from Salt's {ext_type} dirs: {dirs}"


def test_daemon_loaders_include_the_extension(salt_master_factory):
    """Loaders built from the test master's and a minion's configuration see our directories."""
    # Configured, not started: loader directories depend on config and
    # installed metadata only, and starting daemons here would cost seconds.
    master_opts = salt_master_factory.config
    minion_opts = salt_master_factory.salt_minion_daemon(random_string("loader-")).config
    root = saltext.nodeallow.PACKAGE_ROOT
    loaders = {
        "runners": salt.loader.runner(master_opts, utils={}, context={}),
        "pillar": salt.loader.pillars(master_opts, {}, context={}),
        "modules": salt.loader.minion_mods(minion_opts, utils={}, context={}),
        "states": salt.loader.states(minion_opts, {}, {}, {}, context={}),
    }
    grains = salt.loader.grains(copy.deepcopy(dict(minion_opts)))
    assert grains["nodeallow"] == {"version": saltext.nodeallow.__version__}
    for ext_type, loader in loaders.items():
        # salt.loader.pillars() wraps its LazyLoader in a FilterDictWrapper.
        if isinstance(loader, salt.loader.lazy.FilterDictWrapper):
            loader = loader._dict  # pylint: disable=protected-access
        module_dirs = loader.module_dirs
        assert str(root / ext_type) in real_paths(module_dirs), (ext_type, module_dirs)


def test_extension_is_imported_from_its_installed_copy():
    """Tests and daemons use the installed extension (with metadata), not the bare source tree."""
    site = saltext.nodeallow.PACKAGE_ROOT.parent.parent
    assert list(site.glob("saltext_nodeallow-*.dist-info")), (
        f"{site} holds no saltext_nodeallow dist-info; run the tests through hack/test-python.sh"
    )
