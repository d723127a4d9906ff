# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Read a minion's job return of ``nodeallow.managed`` into one apply result per allowlist.

The state reports, per allowlist it was asked to keep, the sequence now in effect and whether it
was applied or held (states/nodeallow.py, firewall/engine.py). The master keeps those per allowlist
and minion (store.py) and the reconcile loop decides from them who is behind.
"""

import json

# Apply comments and change summaries go into the master cache and events; keep them short.
SUMMARY_LIMIT = 500
# Salt joins a state's module, id, name and function with this into the keys of a state return.
_STATE_KEY_SEPARATOR = "_|-"


def shorten(text, limit=SUMMARY_LIMIT):
    """``text`` cut to ``limit`` characters, fit for the cache and events."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def managed_entry(ret):
    """The ``nodeallow.managed`` entry of a state return (``state.single``, ``state.apply``, highstate), or ``None``.

    Several ``nodeallow.managed`` states in one run all read the same pillar; the first is used.
    """
    if not isinstance(ret, dict):
        return None
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
    nothing), ``result`` is True only when the allowlist was applied from the current pillar.
    """
    entry = managed_entry(ret)
    results = {}
    if entry is None:
        comment = shorten(_text(ret))
        for name in expected:
            results[name] = _result(None, False, comment, "", jid, now)
        return results
    comment = shorten(str(entry.get("comment", "")))
    changes = shorten(_json(entry["changes"])) if entry.get("changes") else ""
    summaries = entry.get("allowlists") if isinstance(entry.get("allowlists"), dict) else {}
    for name, summary in summaries.items():
        if not isinstance(summary, dict):
            continue
        ahead_of = _sequence(summary.get("ahead_of")) if entry.get("result") is not None else None
        applied = summary.get("applied") is True and entry.get("result") is not None
        # Applied: what the state did (its first line); not applied: why, in the state's words.
        text = comment.split("\n", 1)[0] if applied else str(summary.get("reason") or comment)
        result = _result(summary.get("sequence"), applied or ahead_of is not None, shorten(text), changes, jid, now)
        if ahead_of is not None:
            # The minion keeps a newer copy than the one this master served (another master's):
            # done as far as this master's copy goes (reconcile.behind), not a failure to retry.
            result["ahead_of"] = ahead_of
        results[name] = result
    for name in expected:
        if name not in results:
            # The minion's pillar no longer subscribes it (the index catches up with that
            # compile), or the state failed before it looked at allowlists.
            results[name] = _result(None, False, comment or "the state did not report this allowlist", "", jid, now)
    return results


def _sequence(value):
    """``value`` if it is a sequence number (an int, not a bool), else ``None``."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _result(sequence, result, comment, changes, jid, now):
    """One apply result as the store keeps it."""
    return {
        "sequence": _sequence(sequence),
        "result": bool(result),
        "comment": comment,
        "changes_summary": changes,
        "jid": jid,
        "time": now,
    }


def _text(ret):
    """A job return that is not a state return, as one line (a list of render errors, a message)."""
    if isinstance(ret, list):
        return "; ".join(str(item) for item in ret)
    return str(ret)


def _json(value):
    """``value`` as compact JSON (what events and ``nodeallow.status`` show), not a Python repr."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
