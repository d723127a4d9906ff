# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""External pillar ``nodeallow``: the stored snapshots of exactly the allowlists a minion subscribes to.

Master configuration::

    ext_pillar:
      - nodeallow: {}

A minion subscribes by listing rules in its own pillar (``nodeallow:rules``,
each with ``allowlist: <cluster>/<allowlist>``); this adds
``nodeallow:allowlists:<cluster>/<allowlist>`` for each one the master has a
record of, so a new or returning minion converges on its next state run. It also keeps the
subscriber index (index.py) current: every pillar compile records the minion's references.
"""

import logging

from saltext.nodeallow import index as subscriber_index
from saltext.nodeallow import records, subscriptions
from saltext.nodeallow import store as nodeallow_store

log = logging.getLogger(__name__)

__virtualname__ = "nodeallow"


def __virtual__():
    """Always available on a master."""
    return __virtualname__


def ext_pillar(minion_id, pillar, **kwargs):  # pylint: disable=unused-argument
    """Return ``{"nodeallow": {"allowlists": {...}}}`` for the allowlists ``pillar`` references.

    An allowlist with no record (never published, or the record fails its
    checks) is left out: the state keeps the minion's last-known-good copy.
    """
    references = subscriptions.referenced_allowlists(pillar, minion_id)
    store = _store(__opts__)
    try:
        subscriber_index.record(store, minion_id, references)
        if references:
            # Changed rules or settings make the next apply a full one (reconcile.decide).
            subscriber_index.record_settings(store, minion_id, subscriber_index.fingerprint(pillar))
    except Exception as exc:  # pylint: disable=broad-except  # a cache problem must not break the minion's pillar
        log.error("nodeallow: could not record the subscriptions of minion %s in the index: %s", minion_id, exc)
    if not references:
        return {}
    allowlists = {}
    for cluster, allowlist in references:
        record = store.get(cluster, allowlist)
        if record is None:
            continue
        checked = _checked(record, cluster, allowlist)
        if checked is not None:
            allowlists[f"{cluster}/{allowlist}"] = checked
    return {"nodeallow": {"allowlists": allowlists}} if allowlists else {}


_opened = []


def _store(opts):
    """The master's Store for ``opts``, opened once per process: opening one builds a cache loader (20-300 ms).

    Kept by what picks the cache (driver and cachedir), not by the ``opts`` object: Salt hands every
    pillar compile a fresh copy of the master's options, so that would open one per compile.
    """
    key = (opts.get("cache", "localfs"), opts.get("cachedir"))
    if not _opened or _opened[0][0] != key:
        _opened[:] = [(key, nodeallow_store.Store(opts))]
    return _opened[0][1]


def _checked(record, cluster, allowlist):
    """Return the pillar form of a stored record after re-checking it, or ``None`` when it is damaged.

    The runner validated every address before storing; this guards against a damaged or
    hand-edited cache file reaching a firewall with the one record validator
    (:func:`saltext.nodeallow.records.validate`), without parsing the addresses again: the
    digest must match them, and the minion parses them itself.
    """
    name = f"{cluster}/{allowlist}"
    try:
        checked = records.validate(name, record, f"stored record {name}", parse=False, complete=True)
    except records.RecordError as exc:
        log.error(
            "nodeallow: the stored record of %s is damaged (%s); leaving it out of the pillar. "
            "Republish it from the cluster, or remove it with: "
            "salt-run cache.flush bank=nodeallow/allowlists key=%s.%s",
            name,
            exc,
            cluster,
            allowlist,
        )
        return None
    return checked.pillar()
