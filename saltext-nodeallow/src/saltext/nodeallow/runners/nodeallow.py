# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Runner ``nodeallow``: ingest signed allowlist snapshots from salt-api hooks, reconcile, and report status.

Thin adapters over the plain modules (ingest, reconcile, index, status): ``nodeallow.ingest`` is
what the shipped reactor calls for every event on ``salt/netapi/hook/<hook_path>/*``;
``nodeallow.status``, ``nodeallow.reconcile``, ``nodeallow.reindex`` and ``nodeallow.reactor_file`` are for
operators. See docs/salt.md for configuration, events and the return formats.
"""

import logging

import salt.utils.event

import saltext.nodeallow
from saltext.nodeallow import index as subscriber_index
from saltext.nodeallow import ingest as nodeallow_ingest
from saltext.nodeallow import jobcache, subscriptions
from saltext.nodeallow import reconcile as nodeallow_reconcile
from saltext.nodeallow import settings as nodeallow_settings
from saltext.nodeallow import status as nodeallow_status
from saltext.nodeallow import store as nodeallow_store

log = logging.getLogger(__name__)

__virtualname__ = "nodeallow"


def __virtual__():
    """Always available on a master."""
    return __virtualname__


def _fire(tag, data):
    """Fire ``data`` on the master event bus under ``tag``."""
    with salt.utils.event.get_master_event(__opts__, __opts__["sock_dir"], listen=False) as event:
        event.fire_event(data, tag)


def _reconciler(store, settings):
    """The reconcile loop's actor on this master."""
    return nodeallow_reconcile.Reconciler(
        store,
        settings,
        _fire,
        nodeallow_reconcile.local_client_publisher(__opts__),
        master_id=__opts__.get("id"),
    )


def ingest(tag, body, headers=None, **kwargs):  # pylint: disable=unused-argument  # the reactor may pass more
    """Verify, validate and store one body POSTed to salt-api's ``/hook/<hook_path>/<cluster>/<allowlist>``.

    ``tag`` is the hook event's tag, ``body`` its raw ``body`` text and ``headers`` its
    ``headers`` (the shipped reactor passes exactly these). After a store, a retirement or a
    replay it starts the apply on the subscribers that are behind as an asynchronous job and
    returns at once. Returns a summary dict whose ``result`` is one of ``stored``, ``retired``,
    ``chunk``, ``replay``, ``older`` or ``rejected`` (with ``reason`` and ``detail``), and
    ``applying: {minion_id: jid}``.

    CLI Example (the reactor is the normal caller):

    .. code-block:: bash

        salt-run nodeallow.ingest tag=salt/netapi/hook/nodeallow/prod/workers body="$(cat body.json)" \\
            headers='{"X-Hub-Signature-256": "sha256=..."}'
    """
    settings = nodeallow_settings.from_opts(__opts__)
    store = nodeallow_store.Store(__opts__)
    summary = nodeallow_ingest.Ingest(store, settings, _fire)(tag, body, headers)
    if summary["result"] == nodeallow_ingest.REJECTED:
        __context__["retcode"] = 1
        return summary
    if summary["result"] in (nodeallow_ingest.STORED, nodeallow_ingest.RETIRED, nodeallow_ingest.REPLAY):
        # A replay heals too: a resync from the controller re-applies wherever a minion is behind.
        summary["applying"] = _reconciler(store, settings).run(
            only_allowlists={(summary["cluster"], summary["allowlist"])}
        )
    return summary


def reconcile(reindex=False):
    """Run one reconcile pass now: collect job returns from the job cache, retry whoever is behind.

    The engine (``engines: [nodeallow: {}]``) does this every ``reconcile_interval`` seconds and on
    every job return and minion start; run it by hand after fixing a minion, or from the master's
    scheduler when the engine is not used. ``reindex=True`` first recompiles every accepted
    minion's pillar to rebuild the subscriber index. Returns ``{"collected": n, "started":
    {minion_id: jid}}``.

    CLI Example:

    .. code-block:: bash

        salt-run nodeallow.reconcile
    """
    settings = nodeallow_settings.from_opts(__opts__)
    store = nodeallow_store.Store(__opts__)
    if reindex:
        _reindex(store)
    reconciler = _reconciler(store, settings)
    collected = reconciler.collect(jobcache.lookup_function(__opts__))
    return {"collected": collected, "started": reconciler.run()}


def reindex():
    """Rebuild the subscriber index now by compiling every accepted minion's pillar on the master.

    Needed only after pillar changes that must count before the minions' next pillar compile
    (their state runs, pillar refreshes and the engine's sweep keep the index current). Returns
    ``{"changed": [minion ids], "removed": [minion ids], "subscribers": {allowlist: [minion ids]}}``.

    CLI Example:

    .. code-block:: bash

        salt-run nodeallow.reindex
    """
    store = nodeallow_store.Store(__opts__)
    changed, removed = _reindex(store)
    subscribed = subscriber_index.subscribers(store.get_index())
    return {
        "changed": changed,
        "removed": removed,
        "subscribers": {subscriber_index.name_of(ref): ids for ref, ids in sorted(subscribed.items())},
    }


def _reindex(store):
    """Refresh every accepted minion's index entry and drop those of minions no longer accepted."""
    accepted = subscriptions.accepted_minions(__opts__)
    removed = subscriber_index.prune(store, accepted)
    changed = subscriber_index.refresh(__opts__, store, accepted)
    return changed, removed


def status(cluster=None, allowlist=None):
    """Show every allowlist the master knows: stored sequence, and per subscriber what it applied.

    Per subscriber: ``applied_sequence``, ``behind``, ``result``, ``last_error``, ``job`` in flight
    and ``next_retry_in`` seconds (docs/salt.md). ``cluster`` (and ``allowlist``) limit the report
    to that cluster's allowlists (or to that one), as a controller asking about its own does.

    CLI Example:

    .. code-block:: bash

        salt-run nodeallow.status
        salt-run nodeallow.status cluster=prod allowlist=workers --out=json
    """
    report = nodeallow_status.report(nodeallow_store.Store(__opts__), cluster=cluster, allowlist=allowlist)
    # Salt's runner protocol for a default outputter: a table per allowlist unless --out names another.
    return {"outputter": "nodeallow_status", "data": report}


def reactor_file():
    """Return the path of the reactor file this extension ships, to copy to ``/srv/reactor/`` (docs/install.md).

    Asked of the master's Salt, because ``salt-pip`` installs extensions where only Salt's own commands look.

    CLI Example:

    .. code-block:: bash

        salt-run --out=txt nodeallow.reactor_file
    """
    return str(saltext.nodeallow.PACKAGE_ROOT / "reactor" / "nodeallow.sls")
