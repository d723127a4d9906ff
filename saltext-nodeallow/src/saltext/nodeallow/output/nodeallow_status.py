# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Outputter ``nodeallow_status``: the default view of ``salt-run nodeallow.status``, a table per allowlist.

A thin adapter over :mod:`saltext.nodeallow.status_table`; ``--out=json`` shows the full structure.
"""

from saltext.nodeallow import status_table


def output(data, **kwargs):  # pylint: disable=unused-argument  # Salt passes its output options
    """Render ``nodeallow.status``'s report as text."""
    return status_table.render(data)
