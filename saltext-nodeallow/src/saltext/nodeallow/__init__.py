# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Salt extension for nodeallow: Kubernetes node allowlists applied to Salt minion firewalls.

Salt finds this package through the ``salt.loader`` entry point in pyproject.toml
and loads its loader subpackages (``modules``, ``states``, ``runners``, ``pillar``, ``engines``, ``output``, ``grains``)
by directory name, so nothing here has to list them.
"""

import pathlib
from importlib.metadata import PackageNotFoundError, version

# The directory Salt's loader joins with "modules", "states", ...; tests use it
# to check that the loader really resolves our installed copy.
PACKAGE_ROOT = pathlib.Path(__file__).resolve().parent

try:
    __version__ = version("saltext.nodeallow")
except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0.0.0.not-installed"
