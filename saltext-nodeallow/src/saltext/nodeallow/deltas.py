# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The master's delta history: what changed between recent stored sequences of each allowlist.

Ingest records one *step* per stored snapshot (:func:`record`, called once per publish under the
store lock: one pass over the old and the new list, O(N) once, never per subscriber). The reconcile
loop gives a subscriber that applied one of the recent sequences the addresses that changed since
(:func:`compose`, O(changes)) instead of the whole list: one ``nodeallow.apply_delta`` job per group
of subscribers holding the same base, checked on the minion against the snapshot's digest before
anything is in effect (firewall/delta.py). A subscriber whose base is not in the history (new, too
old, a retirement or a restarted numbering in between) gets the full apply.

The history is one cache entry per allowlist (bank ``nodeallow/deltas``, key ``<cluster>.<allowlist>``):
``[step, ...]`` oldest first, each ``{from_sequence, from_digest, sequence, digest, generated_at,
added, removed}`` with ``added``/``removed`` in canonical order. It is bounded: at most
:data:`KEEP_STEPS` steps and :data:`KEEP_ADDRESSES` changed addresses in all; a step larger than
that is not kept (the history restarts after it), since the full snapshot then costs about as much.
"""

import logging

log = logging.getLogger(__name__)

DELTAS_BANK = "nodeallow/deltas"
# Steps kept per allowlist: a subscriber that missed more publishes than this gets the full apply.
KEEP_STEPS = 16
# Changed addresses kept per allowlist over all its steps (both sides); bounds the cache entry.
KEEP_ADDRESSES = 20000


def _key(cluster, allowlist):
    """The cache key of one allowlist's history (as store.record_key)."""
    return f"{cluster}.{allowlist}"


def load(store, cluster, allowlist):
    """The steps kept for one allowlist, oldest first (``[]`` when none)."""
    steps = store.cache.fetch(DELTAS_BANK, _key(cluster, allowlist))
    return steps if isinstance(steps, list) else []


def step(previous, record):
    """The step from stored record ``previous`` to ``record``, or ``None`` when there is no delta between them.

    No delta from or to a retirement, from nothing, or between numberings (``record`` not newer).
    """
    if previous is None or previous.get("retired") or record.get("retired"):
        return None
    if record["sequence"] <= previous["sequence"]:
        return None
    old, new = previous["addresses"], record["addresses"]
    # Set differences and filters are C-level: a few ms at 100k, where a Python test per address costs ~50.
    old_set, new_set = set(old), set(new)
    added, removed = new_set - old_set, old_set - new_set
    return {
        "from_sequence": previous["sequence"],
        "from_digest": previous["digest"],
        "sequence": record["sequence"],
        "digest": record["digest"],
        "generated_at": record.get("generated_at"),
        # In canonical order: filtered from the canonical lists.
        "added": list(filter(added.__contains__, new)) if added else [],
        "removed": list(filter(removed.__contains__, old)) if removed else [],
    }


def extend(steps, new_step):
    """``steps`` with ``new_step`` appended, trimmed to the bounds (pure); ``[]`` when it cannot follow them."""
    if new_step is None:
        return []
    if steps and steps[-1]["sequence"] != new_step["from_sequence"]:
        steps = []
    steps = [*steps, new_step]
    while steps and (
        len(steps) > KEEP_STEPS or sum(len(s["added"]) + len(s["removed"]) for s in steps) > KEEP_ADDRESSES
    ):
        steps = steps[1:]
    return steps


def record(store, previous, new_record):
    """Keep the step from ``previous`` to ``new_record`` (just stored); the caller holds the store lock."""
    cluster, allowlist = new_record["cluster"], new_record["allowlist"]
    steps = extend(load(store, cluster, allowlist), step(previous, new_record))
    store.cache.store(DELTAS_BANK, _key(cluster, allowlist), steps)
    return steps


def bases(steps):
    """The sequences a delta to the newest step can start from."""
    return {s["from_sequence"] for s in steps}


def compose(name, steps, base):
    """The delta of allowlist ``name`` from sequence ``base`` to the newest step, or ``None`` when ``base`` is not kept.

    Returns ``{allowlist, base_sequence, base_digest, sequence, digest, generated_at, added, removed}``
    (the payload of ``nodeallow.apply_delta``): an address removed and added again in between is in
    neither list. O(changes since ``base``).
    """
    start = next((i for i, s in enumerate(steps) if s["from_sequence"] == base), None)
    if start is None:
        return None
    added, removed = {}, {}
    for each in steps[start:]:
        for address in each["removed"]:
            if added.pop(address, None) is None:
                removed[address] = True
        for address in each["added"]:
            if removed.pop(address, None) is None:
                added[address] = True
    last = steps[-1]
    return {
        "allowlist": name,
        "base_sequence": base,
        "base_digest": steps[start]["from_digest"],
        "sequence": last["sequence"],
        "digest": last["digest"],
        "generated_at": last["generated_at"],
        "added": list(added),
        "removed": list(removed),
    }
