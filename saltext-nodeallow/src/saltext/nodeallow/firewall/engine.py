# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Bring the minion's firewall in line with its ``nodeallow`` pillar: plan, diff, apply, record.

Shared by the ``nodeallow.managed`` state and the ``nodeallow`` execution module; it takes the
minion's opts and pillar as plain dicts so it runs (and is tested) without Salt's loader.
"""

from saltext.nodeallow.firewall import command, desired, ipset, iptables, lastgood, nftables, xtables
from saltext.nodeallow.firewall.snapshot import differences

BACKENDS = {"nftables": nftables, "ipset": ipset, "iptables": iptables}
# Which kinds of kernel objects each backend owns; the others are removed when switching.
OWNS = {"nftables": {"nft"}, "ipset": {"xtables", "ipset"}, "iptables": {"xtables"}}


def runner_for(opts):
    """The command runner for this minion (inside ``nodeallow_netns``, or to ``nodeallow_ruleset_file``)."""
    return command.Runner(
        opts.get("nodeallow_netns"), ruleset_file=opts.get("nodeallow_ruleset_file")
    )


def _check_file_mode(runner, want):
    """Refuse backends other than nftables when the minion writes its ruleset to a file."""
    if runner.ruleset_file and want.backend != "nftables":
        raise ValueError(
            f"backend {want.backend} cannot write to nodeallow_ruleset_file ({runner.ruleset_file}); "
            "only nftables can: set pillar nodeallow:backend to nftables or remove the option "
            "from the minion config"
        )


def _tolerant(func, *args):
    """Call ``func``; a firewall tool that is not installed means none of its objects exist."""
    try:
        return func(*args)
    except command.CommandError as exc:
        if exc.returncode == 127:
            return []
        raise


def _nft_existing(runner, table):
    """``["nft table inet <table>"]`` if that table exists."""
    return [f"nft table inet {table}"] if not nftables.read_table(runner, table).is_empty() else []


def stale_objects(runner, want, applied):
    """``[(kind, argument, description)]`` of objects of other backends (or an old nft table) that exist."""
    owned = OWNS[want.backend]
    stale = []
    tables = {applied.get("nft_table") or want.nft_table}
    if "nft" in owned:
        tables.discard(want.nft_table)
    else:
        tables.add(want.nft_table)
    for table in sorted(tables):
        for desc in _tolerant(_nft_existing, runner, table):
            stale.append(("nft", table, desc))
    if runner.ruleset_file:
        # The file stands in for the kernel, which holds no ipsets or chains of ours.
        return stale
    if "xtables" not in owned:
        stale += [("xtables", None, d) for d in _tolerant(xtables.existing, runner)]
    if "ipset" not in owned:
        stale += [("ipset", None, d) for d in _tolerant(ipset.existing, runner)]
    return stale


def _remove_stale(runner, stale):
    """Remove stale objects: chains before the sets they may reference."""
    kinds = {kind for kind, _, _ in stale}
    for kind, table, _ in stale:
        if kind == "nft":
            nftables.remove(runner, table)
    if "xtables" in kinds:
        xtables.remove(runner)
    if "ipset" in kinds:
        ipset.remove_sets(runner)


def _allowlist_summary(want, applied=False, failure=""):
    """``{name: {sequence, digest, count, source, retired, applied, reason}}`` of every subscribed allowlist.

    ``applied`` says whether the firewall now holds what ``want`` asks for; an allowlist counts as
    applied only when its current pillar copy is in effect. ``reason`` says why not.
    """
    out = {}
    for name in sorted(set(want.allowlists) | set(want.held)):
        a = want.allowlists.get(name)
        reason = want.held.get(name) or ("" if applied else failure)
        out[name] = {
            "sequence": a.sequence if a else None,
            "digest": a.digest if a else None,
            "count": len(a.addresses) if a else 0,
            "source": a.source if a else None,
            "retired": a.retired if a else False,
            "applied": bool(applied and a is not None and not a.held),
            "reason": reason,
        }
    return out


def _describe(want):
    """One line naming backend, rules and allowlists with their sequences."""
    lists = ", ".join(
        f"{n} seq {a.sequence} ({'retired' if a.retired else f'{len(a.addresses)} addresses, from {a.source}'})"
        for n, a in sorted(want.allowlists.items())
    )
    return f"{want.backend}, policy {want.policy}: {len(want.rules)} rule(s); allowlists: {lists or 'none'}"


def _held_comment(want):
    """Sentences naming each held allowlist, what stays in effect for it, and why."""
    lines = []
    for name, reason in sorted(want.held.items()):
        kept = want.allowlists.get(name)
        effect = (
            f"its last-known-good copy (sequence {kept.sequence}) stays in effect"
            if kept
            else "its rules stay out"
        )
        lines.append(f"held {name}: {reason}; {effect}")
    return lines


def managed(opts, pillar, test=False):
    """Apply pillar ``nodeallow`` (``pillar``) with minion ``opts``; return a state return without ``name``.

    An allowlist that cannot be applied is held (see desired.Desired) while the others apply; the
    result is then False and the comment says which one and why.
    """
    ret = {"result": False, "changes": {}, "comment": "", "sequence": {}, "allowlists": {}}
    cachedir = opts["cachedir"]
    try:
        store = lastgood.load(cachedir)
        want = desired.build(pillar, store["allowlists"])
    except desired.PillarError as exc:
        ret["comment"] = "Nothing applied: the nodeallow pillar is invalid:\n- " + "\n- ".join(
            exc.problems
        )
        return ret
    except ValueError as exc:
        ret["comment"] = f"Nothing applied: {exc}"
        return ret
    ret["sequence"] = {name: a.sequence for name, a in sorted(want.allowlists.items())}
    held = _held_comment(want)
    ok = not held

    backend = BACKENDS[want.backend]
    try:
        runner = runner_for(opts)
        _check_file_mode(runner, want)
        target = backend.target(want)
        changes = differences(target, backend.read(runner, want))
        stale = stale_objects(runner, want, store["applied"])
        if stale:
            objects = changes.setdefault("objects", {"created": [], "removed": []})
            objects["removed"] = sorted(set(objects["removed"]) | {d for _, _, d in stale})
        if not changes:
            if not test and _store_outdated(store, want):
                lastgood.save(cachedir, want)
            ret["result"] = ok
            ret["allowlists"] = _allowlist_summary(want, applied=True)
            ret["comment"] = "\n".join([f"Firewall already as wanted ({_describe(want)})", *held])
            return ret
        ret["changes"] = changes
        if test:
            ret["result"] = None
            ret["allowlists"] = _allowlist_summary(want, failure="test=True: nothing changed")
            ret["comment"] = "\n".join([f"Firewall would be changed ({_describe(want)})", *held])
            return ret
        backend.apply(runner, want)
        _remove_stale(runner, stale)
        left = differences(target, backend.read(runner, want))
        if left:
            ret["comment"] = (
                f"Applied, but reading the firewall back still differs from what was wanted: {left}; "
                "another tool may be changing our objects"
            )
            ret["allowlists"] = _allowlist_summary(want, failure=ret["comment"])
            return ret
        lastgood.save(cachedir, want)
    except (command.CommandError, ValueError, OSError) as exc:
        ret["comment"] = "\n".join([f"Failed to apply the firewall ({_describe(want)}): {exc}", *held])
        ret["allowlists"] = _allowlist_summary(want, failure=f"the firewall apply failed: {exc}")
        return ret
    ret["result"] = ok
    ret["allowlists"] = _allowlist_summary(want, applied=True)
    ret["comment"] = "\n".join([f"Firewall updated ({_describe(want)})", *held])
    return ret


def _store_outdated(store, want):
    """Whether the last-known-good store does not describe ``want`` (e.g. it was deleted)."""
    records = {name: a.record() for name, a in want.active().items()}
    applied = {"backend": want.backend, "nft_table": want.nft_table, "policy": want.policy}
    return store["allowlists"] != records or store["applied"] != applied


def addresses(opts, pillar, name):
    """The canonical address list of allowlist ``name`` from pillar, else from the last-known-good store.

    Raises ValueError for a bad name, an invalid pillar record, or an allowlist known to neither.
    """
    if not desired.valid_allowlist_name(name):
        raise ValueError(f"{str(name)[:80]!r} is not <cluster>/<allowlist> (DNS labels)")
    records = ((pillar or {}).get("allowlists") or {}) if isinstance(pillar, dict) else {}
    if isinstance(records, dict) and name in records:
        allowlist = desired.parse_record(name, records[name])
        if allowlist.retired:
            raise ValueError(
                f"allowlist {name} is retired (sequence {allowlist.sequence}); stop using it"
            )
        if not allowlist.addresses:
            raise ValueError(f"allowlist {name} (sequence {allowlist.sequence}) is empty")
        return list(allowlist.addresses)
    good = lastgood.load(opts["cachedir"])["allowlists"].get(name)
    if good is None:
        raise ValueError(
            f"allowlist {name} is neither in this minion's pillar nor in its last-known-good store; "
            "subscribe to it with a nodeallow rule and refresh pillar"
        )
    return list(good["addresses"])


def show(opts, pillar):
    """Pillar rules and allowlists, backend, last-known-good store and what the kernel holds now."""
    out = {}
    store = lastgood.load(opts["cachedir"])
    out["last_good"] = {
        "applied": store["applied"],
        "allowlists": {
            n: {"sequence": r["sequence"], "digest": r["digest"], "count": len(r["addresses"])}
            for n, r in sorted(store["allowlists"].items())
        },
    }
    try:
        want = desired.build(pillar, store["allowlists"])
    except desired.PillarError as exc:
        out["pillar_errors"] = exc.problems
        return out
    out["backend"] = want.backend
    out["policy"] = want.policy
    out["nft_table"] = want.nft_table
    out["rules"] = [
        {"allowlist": r.allowlist, "proto": r.proto, "ports": r.ports_text(), "comment": r.comment}
        for r in want.rules
    ]
    out["allowlists"] = _allowlist_summary(want)
    out["held"] = want.held
    runner = runner_for(opts)
    _check_file_mode(runner, want)
    current = BACKENDS[want.backend].read(runner, want)
    out["applied"] = {
        "objects": sorted(current.objects),
        "rules": list(dict.fromkeys(desc for _, desc, _ in current.lines)),
        "addresses": {
            n: {f"ipv{f}": len(v[f]) for f in (4, 6)} for n, v in sorted(current.addresses.items())
        },
    }
    out["pending_changes"] = (
        differences(BACKENDS[want.backend].target(want), current)
    )
    return out
