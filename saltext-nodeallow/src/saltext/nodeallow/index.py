# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The subscriber index: which minions subscribe to which allowlists, without compiling the fleet's pillar.

The ext_pillar sees every minion's pillar each time the master compiles it (state runs, pillar
refreshes, minion starts, ``pillar.items``) and records the minion's references here when they
changed. Ingest and the reconcile loop read one small cache entry instead of compiling one pillar
per accepted minion (~70 ms each). The index lags a pillar change until the minion's pillar is next
compiled; the engine recompiles every accepted minion's pillar within ``reindex_period``, and
``salt-run nodeallow.reindex`` rebuilds it at once (docs/salt.md).
"""

import hashlib
import json
import logging

from saltext.nodeallow import subscriptions

log = logging.getLogger(__name__)


def name_of(reference):
    """``"<cluster>/<allowlist>"`` of a ``(cluster, allowlist)`` reference."""
    return f"{reference[0]}/{reference[1]}"


def reference_of(name):
    """``(cluster, allowlist)`` of ``"<cluster>/<allowlist>"``."""
    cluster, allowlist = name.split("/")
    return cluster, allowlist


def subscribers(index):
    """Return ``{(cluster, allowlist): [minion ids, sorted]}`` of an index ``{minion_id: [names]}``."""
    result = {}
    for minion_id, names in index.items():
        for name in names:
            result.setdefault(reference_of(name), []).append(minion_id)
    return {reference: sorted(ids) for reference, ids in result.items()}


def record(store, minion_id, references):
    """Record that ``minion_id``'s pillar references exactly ``references`` (``[(cluster, allowlist)]``).

    Reads one cache entry; writes (under the store lock) only when the minion's references changed,
    so the ext_pillar's hot path costs a read. Returns whether the index changed.
    """
    names = sorted(name_of(reference) for reference in references)
    if store.get_index().get(minion_id, []) == names:
        return False
    with store.lock():
        index = store.get_index()
        if index.get(minion_id, []) == names:
            return False
        if names:
            index[minion_id] = names
        else:
            index.pop(minion_id, None)
        store.put_index(index)
    log.info("nodeallow: minion %s now subscribes to %s", minion_id, ", ".join(names) or "nothing")
    return True


def fingerprint(pillar):
    """A hash of the minion's ``nodeallow`` pillar without the allowlists: its rules and settings.

    The reconcile loop sends a delta only to a minion whose fingerprint is the one of its last full
    apply (reconcile.decide): a delta applies the rules the minion stored then, so changed rules
    or settings need the full apply, which reads them from pillar.
    """
    settings = (pillar or {}).get("nodeallow") if isinstance(pillar, dict) else None
    if isinstance(settings, dict):
        settings = {key: value for key, value in settings.items() if key != "allowlists"}
    text = json.dumps(settings, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def record_settings(store, minion_id, value):
    """Record ``minion_id``'s settings :func:`fingerprint`; writes only when it changed. Returns whether it did."""
    if store.get_settings().get(minion_id) == value:
        return False
    with store.lock():
        fingerprints = store.get_settings()
        if fingerprints.get(minion_id) == value:
            return False
        fingerprints[minion_id] = value
        store.put_settings(fingerprints)
    return True


def prune(store, accepted):
    """Drop the index entries of minions whose key is no longer accepted; return their ids."""
    accepted = set(accepted)
    with store.lock():
        index = store.get_index()
        gone = sorted(set(index) - accepted)
        if gone:
            for minion_id in gone:
                del index[minion_id]
            store.put_index(index)
        fingerprints = store.get_settings()
        if set(fingerprints) - accepted:
            store.put_settings({m: value for m, value in fingerprints.items() if m in accepted})
    return gone


def refresh(opts, store, minion_ids):
    """Compile the pillar of each of ``minion_ids`` on the master and record its references.

    Compiling runs the ext_pillar too, which records the same; recording here as well keeps the
    index right when the ext_pillar is not configured. A minion whose pillar fails to compile keeps
    its entry (logged). Returns the ids whose entry changed.
    """
    changed = []
    for minion_id in minion_ids:
        try:
            pillar = subscriptions.compile_minion_pillar(opts, minion_id)
        except Exception as exc:  # pylint: disable=broad-except  # any pillar renderer may raise anything
            log.warning("nodeallow: cannot compile the pillar of minion %s to index it: %s", minion_id, exc)
            continue
        record_settings(store, minion_id, fingerprint(pillar))
        if record(store, minion_id, subscriptions.referenced_allowlists(pillar, minion_id)):
            changed.append(minion_id)
    return changed
