# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Execution module ``nodeallow``: read this minion's allowlists (for templates) and firewall state."""

from salt.exceptions import CommandExecutionError

from saltext.nodeallow.firewall import command, delta, engine

__virtualname__ = "nodeallow"


def __virtual__():
    """Always available."""
    return __virtualname__


def _pillar(fresh):
    """This minion's ``nodeallow`` pillar: compiled afresh by the master, or the copy the minion holds.

    The minion's in-memory pillar is only as new as its last refresh (start, state run, or
    ``saltutil.refresh_pillar``), so a command line read after a publish would show old data.
    """
    if fresh:
        return __salt__["pillar.items"](unmask=True).get("nodeallow")
    return __pillar__.get("nodeallow")


def addresses(allowlist, fresh=False):
    """Return the canonical CIDR list of ``allowlist`` (``<cluster>/<allowlist>``).

    From pillar, or from the last-known-good copy when pillar no longer carries it. Fails (rather
    than returning an empty list, which many templates read as "allow everyone") when the
    allowlist is unknown, empty or retired. Templates get the pillar of the state run they render
    in; from the command line pass ``fresh=True`` to have the master compile it now.

    CLI Example:

    .. code-block:: bash

        salt '*' nodeallow.addresses prod/workers fresh=True
    """
    try:
        return engine.addresses(__opts__, _pillar(fresh), allowlist)
    except ValueError as exc:
        raise CommandExecutionError(str(exc)) from exc


def show(fresh=True):
    """Return pillar rules and allowlists, the backend, the last-known-good store and what is applied.

    The pillar is compiled afresh by the master (what the next apply would use); ``fresh=False``
    shows the minion's in-memory copy instead.

    CLI Example:

    .. code-block:: bash

        salt '*' nodeallow.show
    """
    try:
        return engine.show(__opts__, _pillar(fresh))
    except (ValueError, command.CommandError) as exc:
        raise CommandExecutionError(str(exc)) from exc


def apply_delta(deltas):
    """Apply what changed since this minion's last-known-good copy (the master's delta job); never reads pillar.

    ``deltas`` is a list of ``{allowlist, base_sequence, base_digest, sequence, digest,
    generated_at, added, removed}``. The result is checked against ``digest`` before it is in
    effect; when this minion has no usable base it changes nothing and answers ``need_full`` with
    the reason, and the master sends the full ``nodeallow.managed`` apply (docs/firewall.md).
    Started by the master's reconcile loop; by hand only for tests.

    CLI Example:

    .. code-block:: bash

        salt db1 nodeallow.apply_delta deltas='[{"allowlist": "prod/workers", ...}]'
    """
    return delta.apply(__opts__, deltas)
