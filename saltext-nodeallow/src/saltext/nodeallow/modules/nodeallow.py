# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Execution module ``nodeallow``: read this minion's allowlists (for templates) and firewall state."""

from salt.exceptions import CommandExecutionError

from saltext.nodeallow.firewall import command, engine

__virtualname__ = "nodeallow"


def __virtual__():
    """Always available."""
    return __virtualname__


def addresses(allowlist):
    """Return the canonical CIDR list of ``allowlist`` (``<cluster>/<allowlist>``).

    From pillar, or from the last-known-good copy when pillar no longer carries it. Fails (rather
    than returning an empty list, which many templates read as "allow everyone") when the
    allowlist is unknown, empty or retired.

    CLI Example:

    .. code-block:: bash

        salt '*' nodeallow.addresses prod/workers
    """
    try:
        return engine.addresses(__opts__, __pillar__.get("nodeallow"), allowlist)
    except ValueError as exc:
        raise CommandExecutionError(str(exc)) from exc


def show():
    """Return pillar rules and allowlists, the backend, the last-known-good store and what is applied.

    CLI Example:

    .. code-block:: bash

        salt '*' nodeallow.show
    """
    try:
        return engine.show(__opts__, __pillar__.get("nodeallow"))
    except (ValueError, command.CommandError) as exc:
        raise CommandExecutionError(str(exc)) from exc
