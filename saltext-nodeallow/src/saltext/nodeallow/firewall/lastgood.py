# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The minion's last-known-good store: what the last successful apply put in the firewall.

``<cachedir>/nodeallow/last-good.json`` keeps each applied allowlist's sequence, digest, count and
generatedAt, the sequence and generatedAt of each applied retirement of an allowlist the minion
still subscribes to (a tombstone: an older copy must not bring it back, see desired.rollback),
which backend, nft table, policy and limits were used (so switching backend or table can remove
the old objects), and when the firewall was last read back in full (the drift audit). The
addresses live beside it in ``last-good/<digest hex>.txt``, one per line: named by their digest,
so a file is never rewritten, and the protocol digest of the list is the SHA-256 of the file.
Written only after a successful apply: address files first, then the JSON atomically (temporary
file + rename), then files nothing references any more are deleted. So an allowlist missing from
pillar keeps working, and the next run knows what the firewall holds.
"""

import json
import os
import tempfile
import time

from saltext.nodeallow import records

FILE_NAME = "last-good.json"
LISTS_DIR = "last-good"
FORMAT = 2


def path(cachedir):
    """The store's path below the minion's ``cachedir``."""
    return os.path.join(cachedir, "nodeallow", FILE_NAME)


def _list_path(cachedir, digest):
    """The file holding the address list with protocol digest ``digest``."""
    return os.path.join(cachedir, "nodeallow", LISTS_DIR, digest.partition(":")[2] + ".txt")


def empty():
    """The store of a minion that never applied anything."""
    return {"allowlists": {}, "retired": {}, "applied": {}, "audited": 0.0}


def load(cachedir):
    """Return the store as ``{"allowlists": {...}, "retired": {...}, "applied": {...}, "audited": epoch seconds}``.

    ``allowlists`` maps names to the Records of the applied allowlists, ``retired`` to the
    tombstones (retired Records).

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
        raise ValueError(f"cannot read last-known-good store {file_path}: {exc}; fix or delete it") from exc
    if not isinstance(data, dict) or data.get("format") not in (1, FORMAT):
        raise ValueError(f"{file_path} is not a nodeallow last-known-good store (format {FORMAT}); fix or delete it")
    allowlists = {}
    raw_lists = data.get("allowlists") or {}
    if not isinstance(raw_lists, dict):
        raise ValueError(f"{file_path}: allowlists is not a mapping; fix or delete it")
    for name, record in raw_lists.items():
        where = f"{file_path}: entry {str(name)[:80]!r}"
        try:
            if data["format"] == FORMAT:
                record = _with_addresses(cachedir, record)
            allowlists[name] = records.validate(name, record, where, parse=False)
        except records.RecordError as exc:
            raise ValueError(f"{exc}; fix or delete the store") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"{where}: cannot read its addresses ({exc}); fix or delete the store") from exc
    retired = {}
    raw_retired = data.get("retired") or {}
    if not isinstance(raw_retired, dict):
        raise ValueError(f"{file_path}: retired is not a mapping; fix or delete it")
    for name, record in raw_retired.items():
        where = f"{file_path}: retired entry {str(name)[:80]!r}"
        if not isinstance(record, dict):
            raise ValueError(f"{where} must be a mapping; fix or delete the store")
        try:
            retired[name] = records.validate(name, {**record, "retired": True}, where, parse=False)
        except records.RecordError as exc:
            raise ValueError(f"{exc}; fix or delete the store") from exc
    applied = data.get("applied") if isinstance(data.get("applied"), dict) else {}
    audited = data.get("audited")
    return {
        "allowlists": allowlists,
        "retired": retired,
        "applied": applied,
        "audited": float(audited) if isinstance(audited, (int, float)) and not isinstance(audited, bool) else 0.0,
    }


def _with_addresses(cachedir, record):
    """``record`` of the JSON file with its ``addresses`` read from their file (format 2)."""
    if not isinstance(record, dict) or not isinstance(record.get("digest"), str):
        raise records.RecordError(["the record has no digest"])
    record = dict(record)
    record.pop("count", None)
    with open(_list_path(cachedir, record["digest"]), "rb") as fh:
        text = fh.read().decode("ascii")
    record["addresses"] = text.split("\n")[:-1] if text else []
    return record


def applied_settings(want):
    """The settings recorded with an apply: backend, table, policy and the limits it was checked under."""
    return {"backend": want.backend, "nft_table": want.nft_table, "policy": want.policy, "limits": want.limits}


def save(cachedir, want, audited):
    """Record ``want`` (a :class:`desired.Desired` that was just applied) as last known good.

    ``audited`` is when the firewall was last read back in full (epoch seconds).
    """
    file_path = path(cachedir)
    lists_dir = os.path.join(os.path.dirname(file_path), LISTS_DIR)
    os.makedirs(lists_dir, mode=0o700, exist_ok=True)
    active = dict(sorted(want.active().items()))
    for allowlist in active.values():
        target = _list_path(cachedir, allowlist.digest)
        if not os.path.exists(target):
            _write_atomically(target, "".join(a + "\n" for a in allowlist.addresses))
    data = {
        "format": FORMAT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "audited": audited,
        "applied": applied_settings(want),
        "allowlists": {name: _entry(a, count=len(a.addresses)) for name, a in active.items()},
        "retired": {name: _entry(a) for name, a in sorted(retired(want).items())},
    }
    _write_atomically(file_path, json.dumps(data, indent=1, sort_keys=True) + "\n")
    keep = {os.path.basename(_list_path(cachedir, a.digest)) for a in active.values()}
    for name in os.listdir(lists_dir):
        if name not in keep:
            os.unlink(os.path.join(lists_dir, name))


def retired(want):
    """The tombstones to keep for ``want``: its retired allowlists (only subscribed ones are in it), by name."""
    return {name: a for name, a in want.allowlists.items() if a.retired}


def _entry(allowlist, **extra):
    """The JSON entry of one allowlist: sequence and generatedAt, the digest of an active one, ``extra``."""
    entry = {"sequence": allowlist.sequence, **extra}
    if not allowlist.retired:
        entry["digest"] = allowlist.digest
    if allowlist.generated_at is not None:
        entry["generated_at"] = allowlist.generated_at
    return entry


def _write_atomically(file_path, text):
    """Replace ``file_path`` with ``text`` (fsynced) so a reader sees the old or the new file, never half."""
    fd, tmp = tempfile.mkstemp(prefix=".last-good.", dir=os.path.dirname(file_path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, file_path)
    except BaseException:
        os.unlink(tmp)
        raise
