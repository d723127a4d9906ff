# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The minion's last-known-good store: what the last successful apply put in the firewall.

``<cachedir>/nodeallow/last-good.json`` keeps each applied allowlist's sequence, digest and
addresses (so an allowlist missing from pillar keeps working) and which backend and nft table
were used (so switching backend or table can remove the old objects). Written only after a
successful apply, atomically (temporary file + rename).
"""

import json
import os
import tempfile
import time

from saltext.nodeallow import records

FILE_NAME = "last-good.json"
FORMAT = 1


def path(cachedir):
    """The store's path below the minion's ``cachedir``."""
    return os.path.join(cachedir, "nodeallow", FILE_NAME)


def empty():
    """The store of a minion that never applied anything."""
    return {"allowlists": {}, "applied": {}, "audited": 0.0}


def load(cachedir):
    """Return the store as ``{"allowlists": {name: Record}, "applied": {...}, "audited": epoch seconds}``.

    Empty if absent. Each record is checked against its digest (it was validated address by
    address before it was stored). A corrupt or foreign file raises ValueError naming the file,
    so it is fixed rather than silently forgotten (forgetting it would drop allowlists the pillar
    no longer carries).
    """
    file_path = path(cachedir)
    try:
        with open(file_path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return empty()
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"cannot read last-known-good store {file_path}: {exc}; fix or delete it"
        ) from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(
            f"{file_path} is not a nodeallow last-known-good store (format {FORMAT}); fix or delete it"
        )
    allowlists = {}
    raw_lists = data.get("allowlists") or {}
    if not isinstance(raw_lists, dict):
        raise ValueError(f"{file_path}: allowlists is not a mapping; fix or delete it")
    for name, record in raw_lists.items():
        try:
            allowlists[name] = records.validate(name, record, f"{file_path}: entry {str(name)[:80]!r}", parse=False)
        except records.RecordError as exc:
            raise ValueError(f"{exc}; fix or delete it") from exc
    applied = data.get("applied") if isinstance(data.get("applied"), dict) else {}
    audited = data.get("audited")
    return {
        "allowlists": allowlists,
        "applied": applied,
        "audited": float(audited) if isinstance(audited, (int, float)) and not isinstance(audited, bool) else 0.0,
    }


def applied_settings(want):
    """The settings recorded with an apply: backend, table, policy and the limits it was checked under."""
    return {"backend": want.backend, "nft_table": want.nft_table, "policy": want.policy, "limits": want.limits}


def save(cachedir, want, audited):
    """Record ``want`` (a :class:`desired.Desired` that was just applied) as last known good.

    ``audited`` is when the firewall was last read back in full (epoch seconds).
    """
    file_path = path(cachedir)
    os.makedirs(os.path.dirname(file_path), mode=0o700, exist_ok=True)
    data = {
        "format": FORMAT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "audited": audited,
        "applied": applied_settings(want),
        "allowlists": {name: a.record() for name, a in sorted(want.active().items())},
    }
    fd, tmp = tempfile.mkstemp(prefix=".last-good.", dir=os.path.dirname(file_path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            # No indent: only the C encoder is fast enough for 500,000 addresses.
            fh.write(json.dumps(data, sort_keys=True))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, file_path)
    except BaseException:
        os.unlink(tmp)
        raise
