# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""What ``salt-run nodeallow.status`` reports: per allowlist the stored snapshot, per subscriber what it applied.

A plain module reading the store (records, applies, the index and the reconcile loop's state); it
changes nothing and compiles no pillar.
"""

import calendar
import time

from saltext.nodeallow import index as subscriber_index
from saltext.nodeallow import reconcile


def report(store, now=None, *, cluster=None, allowlist=None):
    """Return ``{"<cluster>/<allowlist>": entry}`` for every allowlist stored, subscribed to or in chunks.

    ``cluster`` and ``allowlist``, when given, keep only the entries of that cluster / that allowlist.

    An entry has the stored snapshot's ``sequence``, ``digest``, ``addresses`` (count), ``retired``,
    ``age_seconds`` and ``stored_seconds_ago``, and ``subscribers``: per minion its ``applied_sequence``,
    ``ahead_of``, ``behind``, ``result``, ``last_error``, ``seconds_ago``, ``job`` (in flight), ``next_retry_in``
    and ``last_repair`` (the newest firewall repair its watcher reported, or ``None``).
    """
    now = time.time() if now is None else now
    index = store.get_index()
    subscribed = subscriber_index.subscribers(index)
    minions = store.get_minions()
    repairs = store.get_repairs()
    pending = store.pending_chunks()
    references = {
        (c, a)
        for c, a in set(store.list()) | set(subscribed) | set(pending)
        if cluster in (None, c) and allowlist in (None, a)
    }
    result = {}
    for ref in sorted(references):
        result[subscriber_index.name_of(ref)] = _entry(store, ref, subscribed, minions, pending, now, repairs)
    return result


def _entry(store, ref, subscribed, minions, pending, now, repairs):
    """The report of one allowlist ``ref`` (``(cluster, allowlist)``)."""
    cluster, allowlist = ref
    name = subscriber_index.name_of(ref)
    record = store.get(cluster, allowlist)
    entry = {"cluster": cluster, "allowlist": allowlist, "stored": record is not None}
    if record is not None:
        entry.update(
            {
                "sequence": record["sequence"],
                "digest": record["digest"],
                "addresses": len(record.get("addresses") or []),
                "retired": bool(record.get("retired")),
                "generated_at": record.get("generated_at"),
                "age_seconds": _age(record.get("generated_at"), now),
                "stored_seconds_ago": int(now - record["stored_at"]) if record.get("stored_at") else None,
                "signed_with_key": record.get("signed_with_key"),
            }
        )
    applies = store.get_applies(cluster, allowlist)
    entry["subscribers"] = {
        minion_id: {
            **_subscriber(minion_id, name, record, applies, minions.get(minion_id) or {}, now),
            "last_repair": _last_repair(repairs.get(minion_id), now),
        }
        for minion_id in sorted(set(subscribed.get(ref, [])))
    }
    entry["behind"] = sorted(m for m, s in entry["subscribers"].items() if s["behind"])
    chunks = pending.get(ref)
    if chunks:
        entry["pending_chunks"] = {
            str(sequence): f"{len(parts)}/{next(iter(parts.values()))['chunk']['total']}"
            for sequence, parts in sorted(chunks.items())
        }
    return entry


def _subscriber(minion_id, name, record, applies, state, now):
    """One subscriber's line: what it applied, whether it is behind, its last error and next retry."""
    last = applies.get(minion_id) or {}
    want = {name: record["sequence"]} if record is not None else {}
    job = state.get("job") or None
    return {
        "applied_sequence": last.get("sequence"),
        # The stored sequence when the minion refused it as older, keeping applied_sequence from
        # another master (classic multi-master); None otherwise.
        "ahead_of": last.get("ahead_of") if want and last.get("ahead_of") == want[name] else None,
        "result": last.get("result"),
        "behind": bool(reconcile.behind(minion_id, want, {name: applies})),
        "last_error": "" if last.get("result") else (last.get("comment") or ("never applied" if want else "")),
        "seconds_ago": int(now - last["time"]) if last.get("time") else None,
        "job": {"jid": job.get("jid"), "seconds": int(now - job.get("started", now))} if job else None,
        "next_retry_in": max(0, int(state.get("next_retry", 0) - now)),
        "failures": state.get("failures", 0),
    }


def _last_repair(repairs, now):
    """The newest firewall repair a minion reported (its watcher put back what someone changed), or ``None``.

    ``{time, seconds_ago, trigger, summary, seconds (the repair's duration), count (kept)}``.
    """
    if not repairs:
        return None
    last = repairs[-1]
    return {
        "time": last.get("time"),
        "seconds_ago": _age(last.get("time"), now),
        "trigger": last.get("trigger", ""),
        "summary": list(last.get("summary") or []),
        "seconds": last.get("seconds"),
        "count": len(repairs),
    }


def _age(generated_at, now):
    """Seconds from the ``generatedAt`` time to ``now``, or ``None`` when it cannot be read."""
    try:
        generated = calendar.timegm(time.strptime(generated_at, "%Y-%m-%dT%H:%M:%SZ"))
    except (TypeError, ValueError):
        return None
    return int(now - generated)
