# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Read a minion's job return of ``nodeallow.managed`` into one apply result per allowlist.

The state reports, per allowlist it was asked to keep, the sequence now in effect and whether it
was applied or held (states/nodeallow.py, firewall/engine.py). The master keeps those per allowlist
and minion (store.py) and the reconcile loop decides from them who is behind.
"""

# Apply comments go into the master cache and events; keep them short.
SUMMARY_LIMIT = 500
# A change summary lists at most this many added and this many removed addresses (its counts are
# always exact), so an applied event stays small even when 100k addresses change.
LISTED_ADDRESSES = 10
# Longer than any address the state lists (an IPv6 prefix is at most 43 characters); a return
# holding something longer is not ours, and is cut rather than carried into events.
_ADDRESS_LIMIT = 64
# The state names its backend (nftables, ipset, iptables); anything longer is cut.
_BACKEND_LIMIT = 32
# Salt joins a state's module, id, name and function with this into the keys of a state return.
_STATE_KEY_SEPARATOR = "_|-"
# The member that marks a return of nodeallow.apply_delta (firewall/delta.py).
DELTA_MARK = "nodeallow_delta"


def shorten(text, limit=SUMMARY_LIMIT):
    """``text`` cut to ``limit`` characters, fit for the cache and events."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_delta(ret):
    """Whether ``ret`` is the return of ``nodeallow.apply_delta`` (firewall/delta.py), not of a state run."""
    return isinstance(ret, dict) and ret.get(DELTA_MARK) is True


def need_full(ret):
    """Why a delta return asks for the full apply (no usable base on the minion), or ``""``."""
    reason = ret.get("need_full") if is_delta(ret) else ""
    if not reason:
        return ""
    return reason if isinstance(reason, str) else "the minion asked for the full apply"


def managed_entry(ret):
    """The ``nodeallow.managed`` entry of a state return (``state.single``, ``state.apply``, highstate), or ``None``.

    Several ``nodeallow.managed`` states in one run all read the same pillar; the first is used. A
    delta's return (:func:`is_delta`) has the entry's shape itself.
    """
    if not isinstance(ret, dict):
        return None
    if is_delta(ret):
        return ret
    for key in sorted(ret):
        parts = key.split(_STATE_KEY_SEPARATOR) if isinstance(key, str) else []
        if len(parts) == 4 and parts[0] == "nodeallow" and parts[3] == "managed" and isinstance(ret[key], dict):
            return ret[key]
    return None


def per_allowlist(ret, expected, *, jid, now):
    """Return ``{"<cluster>/<allowlist>": result}`` from one minion's return ``ret`` of job ``jid``.

    ``expected`` is ``{name: sequence}``: the allowlists (and the stored sequences) the job was
    started for; they get a failed result when the return says nothing about them (render errors,
    the state missing, a "queued" message). A result is ``{sequence, result, comment,
    changes_summary, jid, time}``; ``sequence`` is what the minion now has in effect (``None`` if
    nothing), ``result`` is True only when the allowlist was applied from the current pillar, and
    ``changes_summary`` is :func:`change_summary`'s.
    """
    entry = managed_entry(ret)
    results = {}
    if entry is None:
        comment = shorten(_text(ret))
        for name in expected:
            results[name] = _result(None, False, comment, unknown_summary(name, None), jid, now)
        return results
    comment = shorten(str(entry.get("comment", "")))
    changes = entry.get("changes") if isinstance(entry.get("changes"), dict) else {}
    summaries = entry.get("allowlists") if isinstance(entry.get("allowlists"), dict) else {}
    for name, summary in summaries.items():
        if not isinstance(summary, dict):
            continue
        ahead_of = _sequence(summary.get("ahead_of")) if entry.get("result") is not None else None
        applied = summary.get("applied") is True and entry.get("result") is not None
        # Applied: what the state did (its first line); not applied: why, in the state's words.
        text = comment.split("\n", 1)[0] if applied else str(summary.get("reason") or comment)
        done = applied or ahead_of is not None
        result = _result(summary.get("sequence"), done, shorten(text),
                         change_summary(name, summary, changes, entry.get("backend"), done), jid, now)
        if ahead_of is not None:
            # The minion keeps a newer copy than the one this master served (another master's):
            # done as far as this master's copy goes (reconcile.behind), not a failure to retry.
            result["ahead_of"] = ahead_of
        results[name] = result
    for name in expected:
        if name not in results:
            # The minion's pillar no longer subscribes it (the index catches up with that
            # compile), or the state failed before it looked at allowlists.
            text = comment or "the state did not report this allowlist"
            results[name] = _result(None, False, text, unknown_summary(name, None), jid, now)
    return results


def change_summary(name, report, changes, backend, applied):
    """What one apply did to allowlist ``name``, bounded whatever the change (what applied events carry).

    ``report`` is the state's ``allowlists[name]`` (sequence, count), ``changes`` its whole
    ``changes`` (``allowlists[name].ipv4/ipv6`` hold the added and removed addresses). Returns
    ``{allowlist, sequence, result, backend, added, removed, total, added_addresses,
    removed_addresses, truncated}``: exact counts, the first :data:`LISTED_ADDRESSES` added and
    removed addresses (IPv4 first), ``truncated`` when more changed than are listed.
    """
    lists = changes.get("allowlists") if isinstance(changes, dict) else None
    part = lists.get(name) if isinstance(lists, dict) else None
    part = part if isinstance(part, dict) else {}
    families = [part[key] for key in ("ipv4", "ipv6") if isinstance(part.get(key), dict)]
    added, added_listed = _side(families, "added")
    removed, removed_listed = _side(families, "removed")
    total = report.get("count")
    return {
        "allowlist": name,
        "sequence": _sequence(report.get("sequence")),
        "result": bool(applied),
        "backend": shorten(backend, _BACKEND_LIMIT) if isinstance(backend, str) else None,
        "added": added,
        "removed": removed,
        "total": total if isinstance(total, int) and not isinstance(total, bool) else None,
        "added_addresses": added_listed,
        "removed_addresses": removed_listed,
        "truncated": added > len(added_listed) or removed > len(removed_listed),
    }


def unknown_summary(name, sequence):
    """The change summary of an apply the minion reported nothing about (no answer, render error): counts unknown."""
    return {
        "allowlist": name,
        "sequence": _sequence(sequence),
        "result": False,
        "backend": None,
        "added": None,
        "removed": None,
        "total": None,
        "added_addresses": [],
        "removed_addresses": [],
        "truncated": False,
    }


def _side(families, side):
    """``(count, first addresses)`` of one side (``added`` or ``removed``) over the families' changes."""
    count = 0
    listed = []
    for family in families:
        values = family.get(side) if isinstance(family.get(side), list) else []
        # The state cuts its own lists at 1000 with a "... and N more" line: not an address.
        addresses = [v for v in values if isinstance(v, str) and not v.startswith("...")]
        exact = family.get(f"{side}_count")
        count += exact if isinstance(exact, int) and not isinstance(exact, bool) else len(addresses)
        listed += [shorten(v, _ADDRESS_LIMIT) for v in addresses[: LISTED_ADDRESSES - len(listed)]]
    return count, listed


def _sequence(value):
    """``value`` if it is a sequence number, else ``None``."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _result(sequence, result, comment, summary, jid, now):
    """One apply result as the store keeps it."""
    return {
        "sequence": _sequence(sequence),
        "result": bool(result),
        "comment": comment,
        "changes_summary": summary,
        "jid": jid,
        "time": now,
    }


def _text(ret):
    """A job return that is not a state return, as one line (a list of render errors, a message)."""
    if isinstance(ret, list):
        return "; ".join(str(item) for item in ret)
    return str(ret)
