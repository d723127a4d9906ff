# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The minion's last-known-good store: what the last successful apply put in the firewall.

``<cachedir>/nodeallow/last-good.json`` keeps each applied allowlist's sequence, digest, count and
generatedAt, the sequence and generatedAt of each applied retirement of an allowlist the minion
still subscribes to (a tombstone: an older copy must not bring it back, see desired.rollback),
which backend, nft table, policy and limits were used (so switching backend or table can remove
the old objects), the rules applied (format 3: the validated :class:`desired.Rule` objects, every
field, so the minion's repair can rebuild the firewall without pillar, see repair.py), and when
the firewall was last read back in full (the drift audit). The
addresses live beside it in ``last-good/<digest hex>.txt``, one per line: named by their digest,
so a file is never rewritten, and the protocol digest of the list is the SHA-256 of the file.
In effect only after a successful apply: the JSON atomically (temporary file + rename), then files
nothing references any more are deleted. The address files and the temporary JSON are written while
the apply runs (:func:`writing`; a delta's address files: :func:`writing_lists`), the rename after it:
until the JSON names a file, nothing reads it. So an allowlist missing from pillar keeps working, and
the next run knows what the firewall holds.
"""

import contextlib
import dataclasses
import hashlib
import json
import os
import tempfile
import threading
import time

from saltext.nodeallow import records
from saltext.nodeallow.firewall import desired

FILE_NAME = "last-good.json"
LISTS_DIR = "last-good"
FORMAT = 3
# Older formats still read: 1 (addresses inside the JSON), 2 (addresses in files, no rules).
READS = (1, 2, FORMAT)


def path(cachedir):
    """The store's path below the minion's ``cachedir``."""
    return os.path.join(cachedir, "nodeallow", FILE_NAME)


def _list_path(cachedir, digest):
    """The file holding the address list with protocol digest ``digest``."""
    return os.path.join(cachedir, "nodeallow", LISTS_DIR, digest.partition(":")[2] + ".txt")


def empty():
    """The store of a minion that never applied anything."""
    return {"allowlists": {}, "retired": {}, "applied": {}, "audited": 0.0, "rules": None}


def load(cachedir):
    """Return the store as ``{"allowlists", "retired", "applied", "audited", "rules"}``.

    ``allowlists`` maps names to the Records of the applied allowlists, ``retired`` to the
    tombstones (retired Records), ``audited`` is epoch seconds, ``rules`` the list of applied
    :class:`desired.Rule` (``None`` in a store written before format 3).

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
    if not isinstance(data, dict) or data.get("format") not in READS:
        raise ValueError(f"{file_path} is not a nodeallow last-known-good store (format {FORMAT}); fix or delete it")
    allowlists = {}
    raw_lists = data.get("allowlists") or {}
    if not isinstance(raw_lists, dict):
        raise ValueError(f"{file_path}: allowlists is not a mapping; fix or delete it")
    for name, record in raw_lists.items():
        where = f"{file_path}: entry {str(name)[:80]!r}"
        try:
            hashed = None
            if data["format"] != 1:
                record, hashed = _with_addresses(cachedir, record)
            allowlists[name] = records.validate(name, record, where, parse=False, hashed=hashed)
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
        "rules": _rules(data, file_path) if data["format"] >= 3 else None,
    }


def _thaw(value):
    """A JSON value with lists turned back into tuples (how the frozen Rule holds its sequences)."""
    if isinstance(value, list):
        return tuple(_thaw(item) for item in value)
    return value


def _rules(data, file_path):
    """The stored rules as :class:`desired.Rule` objects, each checked like the pillar rule it came from.

    Rules are stored field by field (``dataclasses.asdict``), so a field added to Rule is stored
    and read back without a change here; a stored rule whose fields do not match Rule, or that
    :func:`_rule_problems` refuses, makes the store corrupt.
    """
    raw = data.get("rules")
    if not isinstance(raw, list):
        raise ValueError(f"{file_path}: rules is not a list; fix or delete it")
    fields = {f.name for f in dataclasses.fields(desired.Rule)}
    rules = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not set(item) <= fields:
            raise ValueError(f"{file_path}: rules[{index}] is not a nodeallow rule; fix or delete the store")
        try:
            rule = desired.Rule(**{key: _thaw(value) for key, value in item.items()})
        except TypeError as exc:
            raise ValueError(f"{file_path}: rules[{index}]: {exc}; fix or delete the store") from exc
        problems = _rule_problems(rule)
        if problems:
            raise ValueError(f"{file_path}: rules[{index}]: {'; '.join(problems)}; fix or delete the store")
        rules.append(rule)
    return rules


def _rule_problems(rule):
    """What is wrong with a stored rule's allowlist, proto and ports (they reach nft and iptables text)."""
    problems = []
    if not records.valid_name(rule.allowlist):
        problems.append(f"allowlist {str(rule.allowlist)[:80]!r} is not <cluster>/<allowlist>")
    if rule.proto not in desired.PROTOS:
        problems.append(f"proto {str(rule.proto)[:20]!r} is not one of {list(desired.PROTOS)}")
    ports = rule.ports if isinstance(rule.ports, tuple) else ()
    if not ports or not all(
        isinstance(r, tuple)
        and len(r) == 2
        and all(isinstance(p, int) and not isinstance(p, bool) for p in r)
        and 1 <= r[0] <= r[1] <= 65535
        for r in ports
    ):
        problems.append("ports are not port ranges (low, high) within 1-65535")
    if not isinstance(rule.comment, str):
        problems.append("comment is not text")
    return problems


def _with_addresses(cachedir, record):
    """``(record, digest)``: ``record`` of the JSON file with its ``addresses`` read from their file (format 2),
    and the protocol digest of that file's bytes (hashed once, in C, not joined again from the list)."""
    if not isinstance(record, dict) or not isinstance(record.get("digest"), str):
        raise records.RecordError(["the record has no digest"])
    record = dict(record)
    record.pop("count", None)
    with open(_list_path(cachedir, record["digest"]), "rb") as fh:
        data = fh.read()
    text = data.decode("ascii")
    record["addresses"] = text.split("\n")[:-1] if text else []
    if text and not text.endswith("\n"):
        # A cut file: the list as split is hashed again, so the digest check refuses it.
        return record, None
    return record, "sha256:" + hashlib.sha256(data).hexdigest() if data else records.EMPTY_DIGEST


def write_list(cachedir, digest, text):
    """Write the list file of ``digest`` from its ``text`` (one address per line) unless it exists."""
    target = _list_path(cachedir, digest)
    if not os.path.exists(target):
        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
        _write_atomically(target, text)


def applied_settings(want):
    """The settings recorded with an apply: backend, table, policy and the limits it was checked under."""
    return {"backend": want.backend, "nft_table": want.nft_table, "policy": want.policy, "limits": want.limits}


def _write_lists(cachedir, want):
    """Write the address file of each active allowlist of ``want`` that is not there yet (:func:`write_list`)."""
    os.makedirs(os.path.join(cachedir, "nodeallow", LISTS_DIR), mode=0o700, exist_ok=True)
    for allowlist in want.active().values():
        if not os.path.exists(_list_path(cachedir, allowlist.digest)):
            addresses = allowlist.addresses
            write_list(cachedir, allowlist.digest, "\n".join(addresses) + "\n" if addresses else "")


@contextlib.contextmanager
def writing_lists(cachedir, want, texts=None):
    """Write ``want``'s address files in a thread while the block runs (the apply: nft or ipset at work).

    ``texts`` maps digests to list texts already made (a delta's result), written as they are.

    Safe before the apply succeeded: a file is named by its digest and used only once :func:`save`
    writes the JSON naming it; one the JSON never names is deleted by the next save. An error of
    the block comes first; the thread's own error is raised after a block that succeeded.
    """
    failed = []

    def write():
        try:
            for digest, text in (texts or {}).items():
                write_list(cachedir, digest, text)
            _write_lists(cachedir, want)
        except Exception as exc:  # pylint: disable=broad-except  # raised in the caller's thread
            failed.append(exc)

    thread = threading.Thread(target=write, name="nodeallow-lastgood", daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join()
    if failed:
        raise failed[0]


class Pending:
    """The store of an apply under way (:func:`writing`): its files are written, :meth:`commit` puts it in effect."""

    def __init__(self, cachedir, want, audited):
        """Write ``want``'s store (a :func:`save` with ``audited``) in a thread, up to the JSON's rename."""
        self._cachedir, self._want, self._audited = cachedir, want, audited
        self._temp = None
        self._failed = []
        self._thread = threading.Thread(target=self._write, name="nodeallow-lastgood", daemon=True)
        self._thread.start()

    def _write(self):
        """The thread: the address files, then the JSON naming them into a temporary file beside the store."""
        try:
            _write_lists(self._cachedir, self._want)
            self._temp = _write_temporary(path(self._cachedir), _document(self._want, self._audited))
        except Exception as exc:  # pylint: disable=broad-except  # raised in the caller's thread
            self._failed.append(exc)

    def wait(self):
        """Wait for the thread; raise its error."""
        self._thread.join()
        if self._failed:
            raise self._failed[0]

    def commit(self):
        """Put the store in effect (the JSON's rename), then delete address files it no longer names."""
        self.wait()
        temp, self._temp = self._temp, None
        os.replace(temp, path(self._cachedir))
        _drop_unused(self._cachedir, self._want)

    def discard(self):
        """Forget the store (the apply failed): the old one stays; an address file nothing names is harmless."""
        self._thread.join()
        temp, self._temp = self._temp, None
        if temp is not None:
            os.unlink(temp)


@contextlib.contextmanager
def writing(cachedir, want, audited):
    """Write ``want``'s store in a thread while the block (the apply: nft or ipset at work) runs; yield its
    :class:`Pending`, whose ``commit()`` the block calls once the apply succeeded.

    Safe before the apply succeeded: an address file is named by its digest and used only once the
    JSON names it, and the JSON is fsynced under a temporary name, renamed over the store only by
    ``commit()`` (the one step left after the apply). Without a commit it is deleted on leaving.
    """
    pending = Pending(cachedir, want, audited)
    try:
        yield pending
    finally:
        pending.discard()


def save(cachedir, want, audited):
    """Record ``want`` (a :class:`desired.Desired` that was just applied) as last known good.

    ``audited`` is when the firewall was last read back in full (epoch seconds).
    """
    _write_lists(cachedir, want)
    _write_atomically(path(cachedir), _document(want, audited))
    _drop_unused(cachedir, want)


def _document(want, audited):
    """The store's JSON text recording ``want`` (see :func:`save`)."""
    active = dict(sorted(want.active().items()))
    data = {
        "format": FORMAT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "audited": audited,
        "applied": applied_settings(want),
        "rules": [dataclasses.asdict(rule) for rule in want.rules],
        "allowlists": {name: _entry(a, count=len(a.addresses)) for name, a in active.items()},
        "retired": {name: _entry(a) for name, a in sorted(retired(want).items())},
    }
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def _drop_unused(cachedir, want):
    """Delete the address files the store of ``want`` does not name."""
    lists_dir = os.path.join(cachedir, "nodeallow", LISTS_DIR)
    keep = {os.path.basename(_list_path(cachedir, a.digest)) for a in want.active().values()}
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
    tmp = _write_temporary(file_path, text)
    try:
        os.replace(tmp, file_path)
    except BaseException:
        os.unlink(tmp)
        raise


def _write_temporary(file_path, text):
    """Write ``text`` (fsynced) to a new temporary file beside ``file_path``; return its path."""
    fd, tmp = tempfile.mkstemp(prefix=".last-good.", dir=os.path.dirname(file_path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp
