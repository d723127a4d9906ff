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
from saltext.nodeallow import protocol, subscriptions
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
    store = nodeallow_store.Store(__opts__)
    try:
        subscriber_index.record(store, minion_id, references)
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


def _checked(record, cluster, allowlist):
    """Return the pillar form of a stored record after re-checking it, or ``None`` when it is damaged.

    The runner validated everything before storing; this guards against a damaged
    or hand-edited cache file reaching a firewall. The digest check is a cheap
    hash, the full per-address parse is left to the runner.
    """
    try:
        addresses = record["addresses"]
        retired = record["retired"]
        ok = (
            record["cluster"] == cluster
            and record["allowlist"] == allowlist
            and isinstance(record["sequence"], int)
            and not isinstance(record["sequence"], bool)
            and isinstance(retired, bool)
            and isinstance(addresses, list)
            and all(isinstance(entry, str) and entry.isascii() for entry in addresses)
            and (addresses == [] if retired else True)
            and (retired or protocol.digest(addresses) == record["digest"])
        )
    except (KeyError, TypeError):
        ok = False
    if not ok:
        log.error(
            "nodeallow: the stored record of %s/%s is damaged; leaving it out of the pillar. "
            "Republish it from the cluster, or remove it with: "
            "salt-run cache.flush bank=nodeallow/allowlists key=%s.%s",
            cluster,
            allowlist,
            cluster,
            allowlist,
        )
        return None
    return {
        "cluster": cluster,
        "allowlist": allowlist,
        "sequence": record["sequence"],
        "digest": record["digest"],
        "generated_at": record.get("generated_at"),
        "addresses": list(addresses),
        "retired": retired,
    }
