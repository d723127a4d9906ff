# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""What differs between the Salt versions nodeallow supports, in one place (docs/salt.md, "Compatibility").

Supported: Salt 3006 LTS from 3006.27 (its first onedir on CPython 3.11) and 3008 LTS, masters and minions
in any mix; pyproject.toml requires ``salt>=3006.27``. The extension's code runs unchanged on both: the
one difference is that master clusters (``cluster_id``, ``cluster_peers``) exist from Salt 3007 on, so
their tests and docs apply to 3008 only.
"""

import salt.version

# The oldest Salt release supported, as (major, minor); pyproject.toml's requirement says the same.
MINIMUM_SALT = (3006, 27)
# The first Salt release with master clusters.
MASTER_CLUSTER_SINCE = (3007, 0)


def salt_version():
    """The running Salt's ``(major, minor)``, e.g. ``(3008, 4)`` or ``(3006, 29)``."""
    info = salt.version.__saltstack_version__.info
    return (info[0], info[1])


def has_master_cluster():
    """Whether this Salt has master clusters (3007 and later; 3006 has classic multi-master only)."""
    return salt_version() >= MASTER_CLUSTER_SINCE


def master_cluster_missing():
    """Why master clusters cannot run on this Salt, or ``None`` when they can."""
    if has_master_cluster():
        return None
    return (f"Salt {salt.version.__version__} has no master clusters (cluster_id, cluster_peers): "
            f"they came with Salt {MASTER_CLUSTER_SINCE[0]}; nodeallow supports them on 3008")
