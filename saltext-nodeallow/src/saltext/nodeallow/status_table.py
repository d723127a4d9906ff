# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The compact text of ``salt-run nodeallow.status``: one aligned table per allowlist.

A plain, pure module: it renders :func:`saltext.nodeallow.status.report`'s structure and reads
nothing else. ``--out=json`` (or yaml, nested) shows the full structure instead.
"""

# A failing minion's comment is cut to this many characters in the table (the full text is in JSON).
ERROR_WIDTH = 100
_COLUMNS = ("SUBSCRIBER", "APPLIED", "RESULT", "AGE", "NOTE")


def render(report):
    """Return the text of ``report`` (``{"<cluster>/<allowlist>": entry}``): a heading and a table each."""
    if not report:
        return "No allowlists: nothing stored, subscribed to or in transfer on this master."
    return "\n\n".join(_allowlist(name, entry) for name, entry in sorted(report.items()))


def _allowlist(name, entry):
    """The heading line and the subscriber table of one allowlist."""
    lines = [f"{name}  {_heading(entry)}"]
    for sequence, parts in sorted((entry.get("pending_chunks") or {}).items(), key=lambda item: int(item[0])):
        lines.append(f"  chunks of sequence {sequence} in transfer: {parts}")
    subscribers = entry.get("subscribers") or {}
    if not subscribers:
        lines.append("  no subscribers (no minion's pillar names it, or the index is not built yet)")
        return "\n".join(lines)
    rows = [_COLUMNS] + [_row(minion_id, line) for minion_id, line in sorted(subscribers.items())]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)] + [row[-1]]
        lines.append(("  " + "  ".join(cells)).rstrip())
    return "\n".join(lines)


def _heading(entry):
    """Sequence, digest, size and age of the stored snapshot, and how many subscribers are behind."""
    subscribers = entry.get("subscribers") or {}
    behind = entry.get("behind") or []
    caught_up = f"{len(subscribers) - len(behind)}/{len(subscribers)} applied"
    if not entry.get("stored"):
        return f"not stored yet  {caught_up}"
    if entry.get("retired"):
        what = f"sequence {entry['sequence']}  retired"
    else:
        what = f"sequence {entry['sequence']}  {entry.get('addresses', 0)} addresses  {_short_digest(entry['digest'])}"
    return f"{what}  stored {_ago(entry.get('stored_seconds_ago'))}  {caught_up}"


def _row(minion_id, line):
    """One subscriber's cells: id, applied sequence, result word, age of that apply, and a note."""
    applied = line.get("applied_sequence")
    if line.get("job"):
        result = "applying"
    elif line.get("result") is None:
        result = "never" if applied is None else "?"
    else:
        result = "ok" if line["result"] else "failed"
    notes = []
    if line.get("behind"):
        notes.append("behind")
    if line.get("ahead_of") is not None and not line.get("behind"):
        notes.append(f"ahead: refused this master's older sequence {line['ahead_of']}")
    if line.get("job"):
        notes.append(f"job {line['job']['jid']} running {line['job']['seconds']}s")
    if line.get("next_retry_in"):
        failures = line.get("failures") or 0
        notes.append(f"retry in {line['next_retry_in']}s" + (f" after {failures} failures" if failures else ""))
    if line.get("last_error") and line.get("result") is not None:
        notes.append(_one_line(line["last_error"]))
    repair = line.get("last_repair")
    if repair:
        notes.append(f"repaired {_ago(repair.get('seconds_ago'))}: {_one_line('; '.join(repair.get('summary') or []))}")
    return (
        minion_id,
        "-" if applied is None else str(applied),
        result,
        _ago(line.get("seconds_ago")),
        "; ".join(notes),
    )


def _short_digest(digest):
    """``sha256:`` and the first 12 hex digits: enough to compare with ``kubectl get nal -o wide``."""
    return digest[: len("sha256:") + 12] if isinstance(digest, str) else "-"


def _ago(seconds):
    """``45s ago``, ``12m ago``, ``3h ago``, ``2d ago``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _one_line(text):
    """The first line of a comment, cut to ERROR_WIDTH characters."""
    first = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return first if len(first) <= ERROR_WIDTH else first[: ERROR_WIDTH - 1] + "…"
