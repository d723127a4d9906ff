# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Apply from the store: put back what the last-known-good store says the firewall holds, without pillar.

The minion's watcher (watch.py) calls :func:`repair` when someone else changed nodeallow's objects
(a deleted table, a flushed ruleset or set, replaced iptables chains). It needs neither pillar nor
the master: the store (lastgood.py, format 3) holds the applied rules, settings and address lists.
It goes through the same backends as the state (read, compare, apply, verify) under the same lock
(lock.py), so a state run and a repair never interleave their writes.
"""

import os

from saltext.nodeallow.firewall import desired, engine, lastgood, lock
from saltext.nodeallow.firewall.contents import differences


class RepairError(RuntimeError):
    """A repair was needed but the firewall still differs after it; the message says what is left."""


def desired_from_store(store):
    """The :class:`desired.Desired` the store describes, or ``None`` when it holds no applied rules.

    ``None`` for a minion that never applied anything and for a store of format 2 or older (the
    next state run writes the rules).
    """
    applied = store["applied"]
    if store.get("rules") is None or not applied.get("backend"):
        return None
    allowlists = {name: desired.Allowlist.of(r, "last-good") for name, r in store["retired"].items()}
    allowlists.update({name: desired.Allowlist.of(r, "last-good") for name, r in store["allowlists"].items()})
    return desired.Desired(
        applied["backend"],
        applied.get("policy", "restrict"),
        applied.get("nft_table"),
        list(store["rules"]),
        allowlists,
        {},
        applied.get("limits"),
    )


class _Plan:
    """What the store asks for: the store, its Desired and the backend's target (cached per store file)."""

    key = None
    store = None
    want = None
    firewall = None
    target = None


# The last store read, kept while its file is unchanged: a periodic check at 100k addresses then
# costs the kernel read only, not reading and hashing the store's lists and building the target.
_CACHE = _Plan()


def _plan(opts):
    """The :class:`_Plan` of the store now (``want`` is ``None`` when there is nothing to repair from)."""
    cachedir = opts["cachedir"]
    try:
        info = os.stat(lastgood.path(cachedir))
        key = (cachedir, info.st_ino, info.st_mtime_ns, info.st_size)
    except FileNotFoundError:
        key = (cachedir, None)
    if _CACHE.key != key:
        plan = _Plan()
        plan.store = lastgood.load(cachedir)
        plan.want = desired_from_store(plan.store)
        if plan.want is not None:
            plan.firewall = engine.firewall_for(opts, plan.want)
            plan.target = plan.firewall.backend.target(plan.want)
        plan.key = key
        for name in ("key", "store", "want", "firewall", "target"):
            setattr(_CACHE, name, getattr(plan, name))
    return _CACHE


def settings(opts):
    """The store's :class:`desired.Desired` (``None``: nothing to repair from), read again only when it changed."""
    return _plan(opts).want


def repair(opts, full=False, lock_timeout=None):
    """Compare the firewall with the store and put back what differs; return ``(changes, want)``.

    ``full`` reads the firewall back in full (set elements, as the drift audit does); otherwise
    the backend's cheap check. ``changes`` is ``None`` when the store holds nothing to repair
    from, ``{}`` when the firewall was right, else the state-style ``changes`` that were applied;
    ``want`` is the store's :class:`desired.Desired` (``None`` with nothing to repair from).
    Raises :class:`RepairError` if it still differs afterwards, and CommandError, ValueError
    (a corrupt store) or TimeoutError (lock) as they come.
    """
    with lock.held(opts["cachedir"], timeout=lock_timeout):
        plan = _plan(opts)
        want, fw, target = plan.want, plan.firewall, plan.target
        if want is None:
            return None, None
        current = fw.backend.read(fw.executor, want, plan.store["allowlists"], target, full=full)
        changes = differences(target, current)
        if not changes:
            return {}, want
        fw.backend.apply(fw.executor, want, target, current)
        left = fw.backend.verify(fw.executor, want, target)
        if left:
            raise RepairError(f"the firewall still differs from the last-known-good store after a repair: {left}")
        return changes, want


def summary(changes):
    """Short sentences of what a repair put back (for the log and the master's event)."""
    out = []
    objects = changes.get("objects") or {}
    for verb, key in (("recreated", "created"), ("removed", "removed")):
        names = objects.get(key) or []
        if names:
            more = f" and {len(names) - 3} more" if len(names) > 3 else ""
            out.append(f"{verb} " + ", ".join(names[:3]) + more)
    rules = changes.get("rules") or {}
    if rules.get("added"):
        out.append(f"{len(rules['added'])} rule(s) put back")
    if rules.get("removed"):
        out.append(f"{len(rules['removed'])} foreign rule(s) removed")
    if rules.get("reordered"):
        out.append("rules reordered")
    for name, entry in sorted((changes.get("allowlists") or {}).items()):
        for family in ("ipv4", "ipv6"):
            delta = entry.get(family)
            if delta:
                out.append(
                    f"{name} {family}: {delta['added_count']} address(es) put back, {delta['removed_count']} removed"
                )
    return out
