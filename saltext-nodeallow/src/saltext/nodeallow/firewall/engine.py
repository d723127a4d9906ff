# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Bring the minion's firewall in line with its ``nodeallow`` pillar: plan, diff, apply, record.

Shared by the ``nodeallow.managed`` state and the ``nodeallow`` execution module; it takes the
minion's opts and pillar as plain dicts so it runs (and is tested) without Salt's loader.
"""

import contextlib
import dataclasses
import logging
import time

from saltext.nodeallow import records
from saltext.nodeallow.firewall import (
    command,
    desired,
    hostfirewall,
    ipset,
    iptables,
    lastgood,
    lock,
    nftables,
    rulesetfile,
    xtables,
)
from saltext.nodeallow.firewall.contents import differences

log = logging.getLogger(__name__)

BACKENDS = {"nftables": nftables, "ipset": ipset, "iptables": iptables}
# Which kinds of kernel objects each backend owns; the others are removed when switching.
OWNS = {"nftables": {"nft"}, "ipset": {"xtables", "ipset"}, "iptables": {"xtables"}}
# Seconds between two full read-backs of the firewall (the drift audit); minion option
# nodeallow_audit_interval, 0 for every run. Between them a run reads only the firewall's own
# record of what it holds (docs/firewall.md, "The cheap check and the drift audit").
DEFAULT_AUDIT_INTERVAL = 3600


@dataclasses.dataclass(frozen=True)
class Firewall:
    """Where the state writes: a executor (or ruleset file), the backend, and how nft tables are found."""

    executor: object  # command.Executor, or rulesetfile.RulesetFile
    backend: object  # the backend module: nftables, ipset, iptables or rulesetfile
    tables: object  # the module listing and removing nft tables: nftables or rulesetfile
    kernel: bool  # whether iptables chains and ipsets can exist (not with a ruleset file)


def firewall_for(opts, want):
    """The :class:`Firewall` of this minion: inside ``nodeallow_netns``, or to ``nodeallow_ruleset_file``."""
    path = opts.get("nodeallow_ruleset_file")
    netns = opts.get("nodeallow_netns")
    if path is None:
        return Firewall(command.Executor(netns), BACKENDS[want.backend], nftables, True)
    if netns is not None:
        raise ValueError(
            "nodeallow_ruleset_file and nodeallow_netns are both set in the minion config; "
            "set only one (a file replaces the kernel, a namespace isolates it)"
        )
    ruleset = rulesetfile.RulesetFile(path)
    if want.backend != "nftables":
        raise ValueError(
            f"backend {want.backend} cannot write to nodeallow_ruleset_file ({path}); "
            "only nftables can: set pillar nodeallow:backend to nftables or remove the option "
            "from the minion config"
        )
    return Firewall(ruleset, rulesetfile, rulesetfile, False)


def audit_interval(opts):
    """Seconds between full read-backs (minion option ``nodeallow_audit_interval``)."""
    value = opts.get("nodeallow_audit_interval", DEFAULT_AUDIT_INTERVAL)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(
            f"nodeallow_audit_interval must be a number of seconds (0: every run), not {value!r}; fix the minion config"
        )
    return value


def _tolerant(func, *args):
    """Call ``func``; a firewall tool that is not installed means none of its objects exist."""
    try:
        return func(*args)
    except command.CommandError as exc:
        if exc.returncode == 127:
            return []
        raise


def stale_objects(fw, want, applied):
    """``[(kind, argument, description)]`` of objects of other backends (or an old nft table) that exist."""
    owned = OWNS[want.backend]
    stale = []
    tables = {applied.get("nft_table") or want.nft_table}
    if "nft" in owned:
        tables.discard(want.nft_table)
    else:
        tables.add(want.nft_table)
    if tables:
        existing = _tolerant(fw.tables.tables, fw.executor)
        stale += [("nft", t, f"nft table inet {t}") for t in sorted(tables) if t in existing]
    if not fw.kernel:
        return stale
    if "xtables" not in owned:
        stale += [("xtables", None, d) for d in _tolerant(xtables.existing, fw.executor)]
    if "ipset" not in owned:
        stale += [("ipset", None, d) for d in _tolerant(ipset.existing, fw.executor)]
    return stale


def _sweep_reads():
    """The commands :func:`stale_objects` reads other backends' objects with (for command.Executor.started)."""
    return [nftables.TERSE, *([] if xtables.in_nft_listing() else xtables.saves()), ipset.HEADERS]


def _reading(fw, want, full, sweep, switched):
    """Start the commands this run reads the firewall with side by side (command.Executor.started).

    ``sweep``: other backends' objects are looked for too (:func:`stale_objects`). A full read
    lists our objects in full, but that listing is started beforehand only where they probably
    exist: after a switch of backend or table (so on a fresh minion too) the backend's read first
    sees whether they do (nftables.read, ipset.read).
    """
    if not fw.kernel:
        return contextlib.nullcontext()
    reads = fw.backend.reads(want, full and not switched, switched)
    if want.rules:
        reads.append(nftables.TERSE)  # host_warnings
    if sweep:
        reads += _sweep_reads()
    return fw.executor.started(reads)


def _scope(opts, want, store, test, audit, now):
    """``(firewall, full, switched)`` of a run: where it writes, whether it reads the firewall back in full
    (test, audit, or the last full read-back older than :func:`audit_interval`), and whether the backend or
    table changed since the last apply (other backends' objects are then looked for)."""
    fw = firewall_for(opts, want)
    full = test or audit or now - store["audited"] >= audit_interval(opts)
    switched = {k: store["applied"].get(k) for k in ("backend", "nft_table")} != {
        "backend": want.backend,
        "nft_table": want.nft_table,
    }
    return fw, full, switched


def _early_reads(opts, given, store, test, audit, now, stack):
    """Start the run's reads (:func:`_reading`) in ``stack`` from the pillar's settings (desired.settings),
    so they overlap the validation of its address lists; return the run's :func:`_scope`.

    ``None`` when the minion's options are wrong: nothing is started, and the run reports the error
    (:func:`_scope` raises it again) with what it would have applied.
    """
    try:
        scope = _scope(opts, given, store, test, audit, now)
    except ValueError:
        return None
    fw, full, switched = scope
    stack.enter_context(_reading(fw, given, full, full or switched, switched))
    return scope


def _remove_stale(fw, stale):
    """Remove stale objects: chains before the sets they may reference."""
    kinds = {kind for kind, _, _ in stale}
    for kind, table, _ in stale:
        if kind == "nft":
            fw.tables.remove(fw.executor, table)
    if "xtables" in kinds:
        xtables.remove(fw.executor)
    if "ipset" in kinds:
        ipset.remove_sets(fw.executor)


def _allowlist_summary(want, applied=False, failure=""):
    """``{name: {sequence, digest, count, source, retired, applied, ahead_of, reason}}`` of every subscribed allowlist.

    ``applied`` says whether the firewall now holds what ``want`` asks for; an allowlist counts as
    applied only when its current pillar copy is in effect. ``reason`` says why not. ``ahead_of``
    is the sequence of a pillar copy older than the one kept in effect (``None`` otherwise): the
    master that served it is behind, which is no failure here (the master counts it as done).
    """
    out = {}
    for name in sorted(set(want.allowlists) | set(want.held)):
        a = want.allowlists.get(name)
        reason = want.held.get(name) or want.ahead.get(name) or ("" if applied else failure)
        out[name] = {
            "sequence": a.sequence if a else None,
            "digest": a.digest if a else None,
            "count": len(a.addresses) if a else 0,
            "source": a.source if a else None,
            "retired": a.retired if a else False,
            "applied": bool(applied and a is not None and not a.held),
            "ahead_of": want.ahead_of.get(name) if applied else None,
            "reason": reason,
        }
    return out


def _describe(want):
    """One line naming backend, rules and allowlists with their sequences."""
    lists = ", ".join(
        f"{n} seq {a.sequence} ({'retired' if a.retired else f'{len(a.addresses)} addresses, from {a.source}'})"
        for n, a in sorted(want.allowlists.items())
    )
    closed = sum(1 for rule in want.rules if not want.admits(rule))
    closed = f" ({closed} closed to all but loopback and their sources)" if closed else ""
    return f"{want.backend}, policy {want.policy}: {len(want.rules)} rule(s){closed}; allowlists: {lists or 'none'}"


def _held_comment(want):
    """Sentences naming each held allowlist, what stays in effect for it, and why."""
    lines = []
    for name, reason in sorted(want.held.items()):
        lines.append(f"held {name}: {reason}; {_kept(want.allowlists.get(name))}")
    return lines


def _ahead_comment(want):
    """Sentences naming each allowlist whose pillar copy is older than the copy in effect (no failure)."""
    return [f"kept {name}: {reason}; {_kept(want.allowlists[name])}" for name, reason in sorted(want.ahead.items())]


# What a rule's ports admit while its allowlist is not in effect (fail closed).
CLOSED = "its rules' ports stay closed to all but loopback and the rules' local sources"


def _kept(kept):
    """What stays in effect for an allowlist whose pillar copy is not applied (``kept``: its Allowlist or None)."""
    if kept is None:
        return f"no copy of it was ever applied here: {CLOSED}"
    if kept.retired:
        return f"its retirement (sequence {kept.sequence}) stays in effect: {CLOSED}"
    return f"its last-known-good copy (sequence {kept.sequence}) stays in effect"


def host_warnings(fw, want, current):
    """Sentences about other firewalls' chains that drop what ``want`` accepts (see firewall/hostfirewall.py).

    Uses the terse ruleset the cheap check read, else reads it once; none without a kernel, rules or nft.
    """
    if not fw.kernel or not want.rules:
        return []
    try:
        items = current.ruleset if current.ruleset is not None else hostfirewall.read(fw.executor)
        return hostfirewall.warnings(items, want)
    except command.CommandError as exc:
        if exc.returncode == 127:
            return []  # no nft, so no nft tables (and no iptables-nft chains) to look at
        return [f"could not read the ruleset to look for other firewalls that drop this traffic: {exc}"]
    except Exception as exc:  # pylint: disable=broad-except  # advice only: it must never fail the apply
        log.exception("nodeallow: looking for other firewalls that drop our traffic failed")
        return [f"could not check the other firewalls on this host ({type(exc).__name__}: {exc})"]


def _warning_lines(warnings):
    """Comment lines for :func:`host_warnings`."""
    return [f"warning: {text}" for text in warnings]


def managed(opts, pillar, test=False, audit=False):
    """Apply pillar ``nodeallow`` (``pillar``) with minion ``opts``; return a state return without ``name``.

    Holds the firewall lock (lock.py) for the whole run, so the watcher's repair (repair.py) never
    writes in between; see :func:`_managed`.
    """
    with lock.held(opts["cachedir"]):
        return _managed(opts, pillar, test, audit)


def _managed(opts, pillar, test, audit):
    """The state run of :func:`managed`, under the firewall lock.

    An allowlist that cannot be applied is held (see desired.Desired) while the others apply; the
    result is then False and the comment says which one and why. The firewall is read back in
    full with ``test``, with ``audit`` and when the last full read-back is older than
    :func:`audit_interval`; otherwise only its own record of what it holds is read.
    """
    with contextlib.ExitStack() as reading:
        return _run(opts, pillar, test, audit, reading)


def _run(opts, pillar, test, audit, reading):  # pylint: disable=too-many-locals,too-many-return-statements
    """The body of :func:`_managed`; the firewall's reads start in ``reading`` (an ExitStack) and end there."""
    ret = {"result": False, "changes": {}, "comment": "", "sequence": {}, "backend": None, "allowlists": {}}
    cachedir = opts["cachedir"]
    try:
        store = lastgood.load(cachedir)
        given = desired.settings(pillar)
        now = time.time()
        scope = _early_reads(opts, given, store, test, audit, now, reading)
        want = desired.build(
            pillar, store["allowlists"], store["applied"].get("limits"), store["retired"], given=given
        )
    except desired.PillarError as exc:
        ret["comment"] = "Nothing applied: the nodeallow pillar is invalid:\n- " + "\n- ".join(exc.problems)
        return ret
    except ValueError as exc:
        ret["comment"] = f"Nothing applied: {exc}"
        return ret
    ret["sequence"] = {name: a.sequence for name, a in sorted(want.allowlists.items())}
    # The master names it in its applied events (results.change_summary).
    ret["backend"] = want.backend
    ok = not want.held
    # An older pillar copy (a master that is behind) is refused but is no failure: the result stays True.
    held = _held_comment(want) + _ahead_comment(want)

    try:
        fw, full, switched = scope or _scope(opts, want, store, test, audit, now)
        target = fw.backend.target(want)
        current = fw.backend.read(fw.executor, want, store["allowlists"], target, full=full)
        audited = now if current.read_back else store["audited"]
        changes = differences(target, current)
        held += _warning_lines(host_warnings(fw, want, current))
        # Other backends' objects appear when the backend or table changed, or by hand: looked
        # for then and with every full read-back.
        stale = stale_objects(fw, want, store["applied"]) if full or switched else []
        reading.close()
        if stale:
            objects = changes.setdefault("objects", {"created": [], "removed": []})
            objects["removed"] = sorted(set(objects["removed"]) | {d for _, _, d in stale})
        if not changes:
            if not test and (_store_outdated(store, want) or audited != store["audited"]):
                lastgood.save(cachedir, want, audited)
            ret["result"] = ok
            ret["allowlists"] = _allowlist_summary(want, applied=True)
            ret["comment"] = "\n".join([f"Firewall already as wanted ({_describe(want)})", *held])
            return ret
        ret["changes"] = changes
        if test:
            fw.backend.check(fw.executor, want, target, current)
            ret["result"] = None
            ret["allowlists"] = _allowlist_summary(want, failure="test=True: nothing changed")
            ret["comment"] = "\n".join([f"Firewall would be changed ({_describe(want)})", *held])
            return ret
        # The store is written while the firewall is, and put in effect only once the apply succeeded.
        with lastgood.writing(cachedir, want, audited) as store_update:
            fw.backend.apply(fw.executor, want, target, current)
            _remove_stale(fw, stale)
            left = fw.backend.verify(fw.executor, want, target)
            if left:
                ret["comment"] = (
                    f"Applied, but reading the firewall back still differs from what was wanted: {left}; "
                    "another tool may be changing our objects"
                )
                ret["allowlists"] = _allowlist_summary(want, failure=ret["comment"])
                return ret
            store_update.commit()
    except (command.CommandError, ValueError, OSError) as exc:
        ret["comment"] = "\n".join([f"Failed to apply the firewall ({_describe(want)}): {exc}", *held])
        ret["allowlists"] = _allowlist_summary(want, failure=f"the firewall apply failed: {exc}")
        return ret
    ret["result"] = ok
    ret["allowlists"] = _allowlist_summary(want, applied=True)
    ret["comment"] = "\n".join([f"Firewall updated ({_describe(want)})", *held])
    return ret


def _store_outdated(store, want):
    """Whether the last-known-good store does not describe ``want`` (e.g. it was deleted, or lacks a tombstone)."""
    have = {name: (r.sequence, r.digest, r.generated_at) for name, r in store["allowlists"].items()}
    wanted = {name: (a.sequence, a.digest, a.generated_at) for name, a in want.active().items()}
    have_retired = {name: (r.sequence, r.generated_at) for name, r in store["retired"].items()}
    wanted_retired = {name: (a.sequence, a.generated_at) for name, a in lastgood.retired(want).items()}
    return (
        have != wanted
        or have_retired != wanted_retired
        or store["applied"] != lastgood.applied_settings(want)
        # A store without the rules (format 2) cannot be repaired from: write them.
        or store["rules"] != list(want.rules)
    )


def addresses(opts, pillar, name):
    """The canonical address list of allowlist ``name`` from pillar, else from the last-known-good store.

    A pillar copy older than what the minion applied last (desired.rollback) is not used: the
    store's copy is. Raises ValueError for a bad name, an invalid pillar record, a retired or
    empty allowlist, or one known to neither.
    """
    if not records.valid_name(name):
        raise ValueError(f"{str(name)[:80]!r} is not <cluster>/<allowlist> (DNS labels)")
    raw_lists = ((pillar or {}).get("allowlists") or {}) if isinstance(pillar, dict) else {}
    store = lastgood.load(opts["cachedir"])
    good = store["allowlists"].get(name) or store["retired"].get(name)
    record = None
    if isinstance(raw_lists, dict) and name in raw_lists:
        record = records.validate(name, raw_lists[name], f"nodeallow:allowlists:{name}")
        if desired.rollback(record, good):
            record = good
    else:
        record = good
    if record is None:
        raise ValueError(
            f"allowlist {name} is neither in this minion's pillar nor in its last-known-good store; "
            "subscribe to it with a nodeallow rule and refresh pillar"
        )
    if record.retired:
        raise ValueError(f"allowlist {name} is retired (sequence {record.sequence}); stop using it")
    if not record.addresses:
        raise ValueError(f"allowlist {name} (sequence {record.sequence}) is empty")
    return list(record.addresses)


def show(opts, pillar):
    """Pillar rules and allowlists, backend, last-known-good store and what the kernel holds now."""
    out = {}
    store = lastgood.load(opts["cachedir"])
    out["last_good"] = {
        "applied": store["applied"],
        "allowlists": {
            n: {"sequence": r.sequence, "digest": r.digest, "count": len(r.addresses)}
            for n, r in sorted(store["allowlists"].items())
        },
    }
    out["last_good"]["retired"] = {n: {"sequence": r.sequence} for n, r in sorted(store["retired"].items())}
    try:
        want = desired.build(pillar, store["allowlists"], store["applied"].get("limits"), store["retired"])
    except desired.PillarError as exc:
        out["pillar_errors"] = exc.problems
        return out
    out["backend"] = want.backend
    out["policy"] = want.policy
    out["nft_table"] = want.nft_table
    out["rules"] = [
        {
            "allowlist": r.allowlist,
            "proto": r.proto,
            "ports": r.ports_text(),
            "comment": r.comment,
            "sources": list(r.sources),
            # False: the allowlist is held without a copy or retired, so the ports admit loopback and sources only.
            "allowlist_in_effect": want.admits(r),
        }
        for r in want.rules
    ]
    out["allowlists"] = _allowlist_summary(want)
    out["held"] = want.held
    out["ahead"] = want.ahead
    fw = firewall_for(opts, want)
    target = fw.backend.target(want)
    current = fw.backend.read(fw.executor, want, store["allowlists"], target, full=True)
    out["applied"] = {
        "objects": sorted(current.objects),
        "rules": list(dict.fromkeys(desc for _, desc, _ in current.lines)),
        "addresses": {n: {f"ipv{f}": len(v[f]) for f in (4, 6)} for n, v in sorted(current.addresses.items())},
    }
    out["pending_changes"] = differences(target, current)
    out["warnings"] = host_warnings(fw, want, current)
    return out
