# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Read job returns from the master's job cache (``master_job_cache``, ``local_cache`` by default).

The reconcile loop collects returns from here when it did not see their events (the engine was
restarted, or only ``salt-run nodeallow.reconcile`` runs).
"""

import logging

log = logging.getLogger(__name__)


def lookup_function(opts):
    """Return ``lookup(jid) -> {minion_id: return}`` over the master's job cache returner."""
    import salt.loader  # pylint: disable=import-outside-toplevel  # only on a master

    returners = salt.loader.returners(opts, {})
    get_jid = returners[f"{opts.get('master_job_cache', 'local_cache')}.get_jid"]

    def lookup(jid):
        """The returns the job cache holds for ``jid``, by minion id."""
        try:
            found = get_jid(jid) or {}
        except Exception as exc:  # pylint: disable=broad-except  # a returner may raise anything
            log.warning("nodeallow: cannot read job %s from the job cache: %s", jid, exc)
            return {}
        return {minion_id: data.get("return") for minion_id, data in found.items() if isinstance(data, dict)}

    return lookup
