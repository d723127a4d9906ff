# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""State ``nodeallow.managed``: keep this minion's firewall in line with its ``nodeallow`` pillar.

All settings come from pillar (docs/firewall.md), so the executor can call
``state.single nodeallow.managed name=nodeallow queue=True`` without any SLS file.
"""

from saltext.nodeallow.firewall import engine

__virtualname__ = "nodeallow"


def __virtual__():
    """Always available; missing firewall tools are reported when the state runs."""
    return __virtualname__


def managed(name, audit=False, **kwargs):  # pylint: disable=unused-argument
    """Apply the rules and allowlists of pillar ``nodeallow`` with the configured backend.

    Returns the usual state return plus ``sequence`` (``{allowlist: sequence}`` now in effect),
    ``backend`` and ``allowlists`` (sequence, digest, count, source, retired per allowlist). With
    ``test=True`` nothing is changed and ``changes`` shows the difference. ``audit=True`` reads
    the firewall back in full (as every run does once ``nodeallow_audit_interval`` has passed),
    so changes made to our objects by hand are found and repaired.
    """
    ret = engine.managed(
        __opts__, __pillar__.get("nodeallow"), test=bool(__opts__.get("test")), audit=bool(audit)
    )
    ret["name"] = name
    return ret
