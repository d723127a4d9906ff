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

from saltext.nodeallow import protocol
from saltext.nodeallow.firewall import desired

FILE_NAME = "last-good.json"
FORMAT = 1


def path(cachedir):
    """The store's path below the minion's ``cachedir``."""
    return os.path.join(cachedir, "nodeallow", FILE_NAME)


def load(cachedir):
    """Return the store as ``{"allowlists": {name: record}, "applied": {...}}`` (empty if absent).

    A corrupt or foreign file raises ValueError naming the file, so it is fixed rather than
    silently forgotten (forgetting it would drop allowlists the pillar no longer carries).
    """
    file_path = path(cachedir)
    try:
        with open(file_path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return {"allowlists": {}, "applied": {}}
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"cannot read last-known-good store {file_path}: {exc}; fix or delete it"
        ) from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(
            f"{file_path} is not a nodeallow last-known-good store (format {FORMAT}); fix or delete it"
        )
    allowlists = {}
    for name, record in (data.get("allowlists") or {}).items():
        try:
            if not desired.valid_allowlist_name(name):
                raise ValueError("bad name")
            addresses = desired.canonical_addresses(record["addresses"], name)
            allowlists[name] = {
                "sequence": int(record["sequence"]),
                "digest": protocol.digest(addresses),
                "addresses": list(addresses),
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"{file_path}: entry {str(name)[:80]!r} is invalid ({exc}); fix or delete it"
            ) from exc
    applied = data.get("applied") if isinstance(data.get("applied"), dict) else {}
    return {"allowlists": allowlists, "applied": applied}


def save(cachedir, want):
    """Record ``want`` (a :class:`desired.Desired` that was just applied) as last known good."""
    file_path = path(cachedir)
    os.makedirs(os.path.dirname(file_path), mode=0o700, exist_ok=True)
    data = {
        "format": FORMAT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "applied": {"backend": want.backend, "nft_table": want.nft_table, "policy": want.policy},
        "allowlists": {name: a.record() for name, a in sorted(want.active().items())},
    }
    fd, tmp = tempfile.mkstemp(prefix=".last-good.", dir=os.path.dirname(file_path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, file_path)
    except BaseException:
        os.unlink(tmp)
        raise
