# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Apply what changed since the last-known-good copy: the minion's half of a delta (``nodeallow.apply_delta``).

The master sends a subscriber whose last apply it knows the addresses added and removed since that
sequence (saltext.nodeallow.deltas), for one or more allowlists. Each is applied against the
last-known-good store (lastgood.py) with the rules and settings stored by the last full apply, as
the self-repair does (repair.desired_from_store): the new list is the stored one with the removed
entries taken out and the added ones put in their places (binary search, O(changes log N)), and its
digest must be the snapshot's before anything reaches the firewall. Then the same pipeline as the
state (backend read by the cheap check, differences, one transaction, verify, store).

Whenever the store cannot serve as the base it answers ``need_full`` with the reason and changes
nothing; the master then starts the full ``nodeallow.managed`` apply. That is: no store or one
without rules (new minion, cache wiped, format 2), a base that is not what the store holds (another
sequence or digest), a result whose digest differs, an added entry that is not a canonical address
or that this minion's limits refuse, a drift audit that is due (the full apply does it), or an
allowlist the stored rules do not use. A delta that is already in effect (the same job again) is
verified and reported as applied.
"""

import bisect
import hashlib
import logging
import time

from saltext.nodeallow import records, results
from saltext.nodeallow.firewall import command, desired, engine, lastgood, lock, repair
from saltext.nodeallow.firewall.contents import _address_key, _listed, differences
from saltext.nodeallow.protocol import canonical, limits

log = logging.getLogger(__name__)

# The members of one delta (saltext.nodeallow.deltas.compose).
_KEYS = {"allowlist", "base_sequence", "base_digest", "sequence", "digest", "generated_at", "added", "removed"}


class NeedFull(Exception):
    """The store cannot serve as this delta's base; the message says why (the master sends the full apply)."""


def apply(opts, deltas):
    """Apply ``deltas`` (a list of :func:`saltext.nodeallow.deltas.compose` payloads); return the delta return.

    Holds the firewall lock (lock.py) like the state and the repair. The return has the shape of
    the state's (``result``, ``comment``, ``changes``, ``sequence``, ``backend``, ``allowlists``)
    plus ``nodeallow_delta: True`` and ``need_full`` (the reason, or ``""``).
    """
    ret = {
        results.DELTA_MARK: True,
        "need_full": "",
        "result": False,
        "changes": {},
        "comment": "",
        "sequence": {},
        "backend": None,
        "allowlists": {},
    }
    try:
        with lock.held(opts["cachedir"]):
            return _apply(opts, deltas, ret)
    except NeedFull as exc:
        ret["need_full"] = str(exc)
        ret["comment"] = f"No delta applied, the full apply is needed: {exc}"
        return ret


def _validated(deltas):
    """The payload checked for shape (it comes from the master, which built it from validated records)."""
    if not isinstance(deltas, list) or not deltas:
        raise NeedFull("the delta payload is not a non-empty list")
    names = set()
    for item in deltas:
        if not isinstance(item, dict) or set(item) != _KEYS or not records.valid_name(item.get("allowlist")):
            raise NeedFull("a delta of the payload is malformed")
        for key in ("base_sequence", "sequence"):
            if isinstance(item[key], bool) or not isinstance(item[key], int) or item[key] < 0:
                raise NeedFull(f"{item['allowlist']}: {key} is not a sequence number")
        for key in ("base_digest", "digest"):
            if not isinstance(item[key], str) or not canonical.DIGEST_RE.fullmatch(item[key]):
                raise NeedFull(f"{item['allowlist']}: {key} is not a digest")
        for key in ("added", "removed"):
            values = item[key]
            if (
                not isinstance(values, list)
                or len(values) > limits.MAX_ADDRESSES
                or not all(isinstance(v, str) for v in values)
            ):
                raise NeedFull(f"{item['allowlist']}: {key} is not a list of address strings")
        if item["allowlist"] in names:
            raise NeedFull(f"{item['allowlist']} is in the payload twice")
        names.add(item["allowlist"])
    return deltas


def merged(base, added, removed):
    """``base`` (a canonical list) without ``removed`` and with ``added`` in address order; ``None`` if inconsistent.

    Inconsistent: a removed entry that ``base`` lacks, or an added one it has. Costs
    O((changes) log N) comparisons plus one copy of the list.
    """
    drop = set()
    for value in removed:
        index = bisect.bisect_left(base, _address_key(value), key=_address_key)
        if index >= len(base) or base[index] != value:
            return None
        drop.add(index)
    insert = {}
    for value in added:
        index = bisect.bisect_left(base, _address_key(value), key=_address_key)
        if index < len(base) and base[index] == value:
            return None
        insert.setdefault(index, []).append(value)
    cuts = sorted(drop | set(insert))
    out = []
    previous = 0
    for index in cuts:
        out.extend(base[previous:index])
        out.extend(sorted(insert.get(index, ()), key=_address_key))
        previous = index + 1 if index in drop else index
    out.extend(base[previous:])
    return out


def _new_record(item, known, limits):
    """``(Allowlist, list text, element changes)`` that ``item`` makes of the stored ``known`` record.

    The text is ``None`` when ``known`` is already the delta's result; the element changes are
    ``{family: (removed, added)}`` (canonical entries, in address order). Raises NeedFull.
    """
    name = item["allowlist"]
    if known is None:
        raise NeedFull(f"{name}: no last-known-good copy to apply a delta to")
    if (known.sequence, known.digest) == (item["sequence"], item["digest"]):
        return desired.Allowlist.of(known, "delta"), None, {}
    if item["sequence"] <= item["base_sequence"]:
        # Sequences only grow along a delta (deltas.step): never go back (desired.rollback).
        raise NeedFull(f"{name}: the delta goes from sequence {item['base_sequence']} to {item['sequence']}")
    if (known.sequence, known.digest) != (item["base_sequence"], item["base_digest"]):
        raise NeedFull(
            f"{name}: the delta starts from sequence {item['base_sequence']}, this minion holds "
            f"sequence {known.sequence} ({known.digest[:19]}...)"
        )
    added = []
    for value in item["added"]:
        try:
            text = canonical.parse_prefix(value)[3]
        except ValueError as exc:
            raise NeedFull(f"{name}: added {value[:60]!r}: {exc}") from None
        if text != value:
            raise NeedFull(f"{name}: added {value[:60]!r} is not canonical ({text})")
        added.append(value)
    added.sort(key=_address_key)
    problems = desired.check_limits(added, f"{name} (delta)", limits) if added else []
    if problems:
        raise NeedFull("; ".join(problems))
    removed = sorted(item["removed"], key=_address_key)
    addresses = merged(known.addresses, added, removed)
    if addresses is None:
        raise NeedFull(f"{name}: the delta does not fit the last-known-good copy (sequence {known.sequence})")
    if not addresses:
        raise NeedFull(f"{name}: the delta leaves the allowlist empty; refusing to apply an empty set")
    text = "\n".join(addresses) + "\n"
    digest = "sha256:" + hashlib.sha256(text.encode("ascii")).hexdigest()
    if digest != item["digest"]:
        raise NeedFull(f"{name}: the result has digest {digest}, the snapshot {item['digest']} (digest mismatch)")
    made = desired.Allowlist(name, item["sequence"], digest, tuple(addresses), False, "delta", "", item["generated_at"])
    return made, text, _by_family(removed, added)


def _by_family(removed, added):
    """``{family: (removed, added)}`` of the families that change (IPv6 entries hold a colon)."""
    out = {}
    for family in (4, 6):
        pair = tuple([v for v in values if (":" in v) == (family == 6)] for values in (removed, added))
        if pair[0] or pair[1]:
            out[family] = pair
    return out


def _element_changes(steps, names):
    """The state's ``changes`` of element ``steps`` (``{name: {family: (removed, added)}}``) of ``names``."""
    allowlists = {}
    for name in names:
        allowlists[name] = {
            f"ipv{family}": {
                "added": _listed(set(added)),
                "removed": _listed(set(removed)),
                "added_count": len(added),
                "removed_count": len(removed),
            }
            for family, (removed, added) in sorted(steps[name].items())
        }
    return {"allowlists": allowlists} if allowlists else {}


def _apply(opts, deltas, ret):
    """The delta of :func:`apply`, under the firewall lock."""
    deltas = _validated(deltas)
    cachedir = opts["cachedir"]
    try:
        store = lastgood.load(cachedir)
    except ValueError as exc:
        raise NeedFull(str(exc)) from None
    want = repair.desired_from_store(store)
    if want is None:
        raise NeedFull(
            "the last-known-good store holds no applied rules (new minion, store wiped or from an old version)"
        )
    try:
        interval = engine.audit_interval(opts)
    except ValueError as exc:
        raise NeedFull(str(exc)) from None
    if time.time() - store["audited"] >= interval:
        raise NeedFull("the drift audit is due (a full read-back)")
    used = {rule.allowlist for rule in want.rules}
    texts = {}
    steps = {}
    limits = store["applied"].get("limits")
    for item in deltas:
        name = item["allowlist"]
        if name not in used:
            raise NeedFull(f"{name}: no stored rule uses it (the rules changed)")
        want.allowlists[name], texts[name], steps[name] = _new_record(item, store["allowlists"].get(name), limits)
    names = sorted(item["allowlist"] for item in deltas)
    ret["backend"] = want.backend
    ret["sequence"] = {name: want.allowlists[name].sequence for name in names}
    base = {name: desired.Allowlist.of(store["allowlists"][name], "last-good") for name in names}
    try:
        fw = engine.firewall_for(opts, want)
        # The new list files from the texts just hashed, written while nft works (lastgood.save
        # writes only missing ones; until it names them nothing reads them).
        made = {want.allowlists[name].digest: text for name, text in texts.items() if text is not None}
        with lastgood.writing_lists(cachedir, want, made):
            # The element changes straight from the delta, when the firewall's own record shows the base.
            fast = getattr(fw.backend, "apply_changes", None)
            applied = fast(fw.executor, want, base, steps) if fast else None
            if applied is not None:
                changes, left = _element_changes(steps, applied), {}
            else:
                changes, left = _compared(fw, want, store)
        if left:
            ret["comment"] = f"Delta applied, but the firewall still differs from what was wanted: {left}"
            ret["allowlists"] = _summary(want, names, failure=ret["comment"], kept=store["allowlists"])
            return ret
        lastgood.save(cachedir, want, store["audited"])
    except (command.CommandError, ValueError, OSError) as exc:
        ret["comment"] = f"Failed to apply the delta: {exc}"
        ret["allowlists"] = _summary(want, names, failure=f"the firewall apply failed: {exc}", kept=store["allowlists"])
        return ret
    ret["result"] = True
    ret["changes"] = changes
    ret["allowlists"] = _summary(want, names)
    ret["comment"] = (
        "Firewall updated by delta ("
        + ", ".join(
            f"{n} seq {want.allowlists[n].sequence} ({len(want.allowlists[n].addresses)} addresses)" for n in names
        )
        + ")"
        if changes
        else "Firewall already as wanted (delta)"
    )
    return ret


def _compared(fw, want, store):
    """The state's pipeline (target, cheap check, differences, apply, verify); return ``(changes, what is left)``.

    For a firewall whose record does not show the delta's base: O(N), and it repairs what differs.
    """
    target = fw.backend.target(want)
    current = fw.backend.read(fw.executor, want, store["allowlists"], target, full=False)
    changes = differences(target, current)
    if not changes:
        return changes, {}
    fw.backend.apply(fw.executor, want, target, current)
    return changes, fw.backend.verify(fw.executor, want, target)


def _summary(want, names, failure="", kept=None):
    """The state's ``allowlists`` summary of the allowlists of the delta only (the others were not asked).

    After a ``failure`` it names the ``kept`` (last-known-good) copies: the store did not change.
    """
    shown = {name: (kept or {}).get(name) if failure else want.allowlists[name] for name in names}
    return {
        name: {
            "sequence": shown[name].sequence if shown[name] else None,
            "digest": shown[name].digest if shown[name] else None,
            "count": len(shown[name].addresses) if shown[name] else 0,
            "source": "delta",
            "retired": False,
            "applied": not failure,
            "ahead_of": None,
            "reason": failure,
        }
        for name in names
    }
