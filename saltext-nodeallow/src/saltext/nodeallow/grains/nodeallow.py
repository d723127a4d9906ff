# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Grains module ``nodeallow``: which nodeallow extension a minion runs (grain ``nodeallow:version``).

Target or check an upgrade with it (``salt -G 'nodeallow:version:<version>' test.ping``, or
``salt '*' grains.get nodeallow:version``). Salt loads grains in the minion's main process when
it starts, so importing the firewall code here (for the version) leaves it imported there: every
apply job, which the minion forks from that process, then finds it loaded instead of importing it
again (about 0.1 s of CPU per job and subscriber on a busy 2-core host; docs/benchmarks.md).
"""

import saltext.nodeallow
from saltext.nodeallow.firewall import delta as _delta  # noqa: F401  # loaded once, see above
from saltext.nodeallow.firewall import engine as _engine  # noqa: F401


def nodeallow():
    """The grain ``nodeallow``: ``{"version": <the installed saltext-nodeallow's version>}``."""
    return {"nodeallow": {"version": saltext.nodeallow.__version__}}
