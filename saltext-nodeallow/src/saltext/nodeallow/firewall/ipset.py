# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""ipset + iptables backend: an ipset per allowlist and family, matched from our NODEALLOW chain.

Each set (``nodeallow_<hash>_4``: hash:net family inet; ``_6``: inet6) is built with one
``ipset restore``: fill a temporary set, ``swap`` it with the live one, destroy the temporary,
so a packet sees either the old or the new set, never a partial one. A change of contents only
is one ``ipset restore -exist`` of ``del`` and ``add`` lines (each address moves on its own: a
packet sees every address either as the old or as the new list has it).

The cheap check is ``ipset list -t`` (no members): the number of entries of each set must be
the last-known-good copy's; the members are then that copy's. Otherwise, with test=True,
``nodeallow.show`` and the drift audit, the sets are listed in full (``ipset save``).
"""

import bisect
import logging

from saltext.nodeallow.firewall import command, naming, xtables
from saltext.nodeallow.firewall.contents import Contents, families, wanted_contents
from saltext.nodeallow.protocol.canonical import parse_prefix

log = logging.getLogger(__name__)

NAME = "ipset"
_FAMILY = {4: "inet", 6: "inet6"}
_HOST_SUFFIX = {4: "/32", 6: "/128"}
_MIN_MAXELEM = 65536


def family_lines(want, family):
    """Our chain's rules for ``family``: loopback, per rule and port group an accept for its local sources and
    one for its allowlist (while in effect), drops."""
    accepts = []
    local = set()
    for rule in want.rules:
        labels = []
        if rule.sources and rule.sources_label() not in local:
            local.add(rule.sources_label())
            labels.append((rule.sources_label(), rule.sources_label()))
        if want.admits(rule):
            labels.append((rule.allowlist, rule.describe()))
        for label, desc in labels:
            set_name = naming.ipset(label, family)
            for ports in xtables.port_groups(rule.ports):
                text = f"-p {rule.proto} -m multiport --dports {ports} -m set --match-set {set_name} src -j ACCEPT"
                accepts.append(xtables.line(family, text, f"{desc} ipv{family}"))
    return xtables.base_lines(want, want.proto_ports(), family, accepts)


def _set_object(name, family):
    """The object name of one of our ipsets, with its family (a set of the other family is another object)."""
    return f"ipset {name} (hash:net {_FAMILY[family]})"


def target(want):
    """The :class:`Contents` the kernel should show after applying ``want``."""
    if not want.rules:
        return Contents()
    return wanted_contents(*_structure(want), want)


def _structure(want):
    """``(objects, lines)`` of :func:`target`: what the kernel should show apart from the members."""
    objects = set()
    for tool in ("iptables", "ip6tables"):
        objects |= {f"{tool} chain {naming.XT_CHAIN}", f"{tool} jump INPUT -> {naming.XT_CHAIN}"}
    for name in want.groups():
        objects |= {_set_object(naming.ipset(name, f), f) for f in (4, 6)}
    lines = [(k, d, s) for f in (4, 6) for k, d, s, _ in family_lines(want, f)]
    return objects, lines


# Our sets' headers: names, types and entry counts, no members.
HEADERS = ["ipset", "list", "-t"]


def reads(want, listed, switched=False):  # pylint: disable=unused-argument
    """The commands :func:`read` may run (for command.Executor.started); ``listed``: the sets' members too;
    ``switched``: the backend changed, so our chains probably do not exist (xtables.reads)."""
    return [*xtables.reads(switched), HEADERS, *([["ipset", "save"]] if listed else [])]


def headers(executor):
    """``{set name: (family, type, number of entries)}`` of our ipsets, from ``ipset list -t``."""
    out = {}
    name = None
    fields = {}
    for raw in executor.run(HEADERS).stdout.splitlines() + ["Name: "]:
        key, _, value = raw.partition(": ")
        if key == "Name":
            if name is not None and naming.is_ours_ipset(name):
                header = fields.get("Header", "").split()
                family = 6 if "inet6" in header else 4
                out[name] = (family, fields.get("Type"), int(fields.get("Number of entries", "0") or 0))
            name, fields = value.strip(), {}
        else:
            fields[key] = value.strip()
    return out


def _member(text, family):
    """One ``ipset save`` member as canonical CIDR text (hosts are printed without a length)."""
    if "/" not in text:
        text += _HOST_SUFFIX[family]
    if family == 6 and "." in text:
        return parse_prefix(text)[3]
    return text


def read_sets(executor, names=None):
    """``{set name: (family, set of CIDRs)}`` of our ipsets (or of ``names`` only), from ``ipset save``."""
    sets = {}
    if names is None:
        text = executor.run(["ipset", "save"]).stdout
    else:
        text = "".join(executor.run(["ipset", "save", name]).stdout for name in sorted(names))
    for raw in text.splitlines():
        parts = raw.split(" ", 3)
        if len(parts) < 3 or not naming.is_ours_ipset(parts[1]):
            continue
        if parts[0] == "create":
            sets[parts[1]] = (6 if "inet6" in raw.split() else 4, set())
        elif parts[0] == "add" and parts[1] in sets:
            family, members = sets[parts[1]]
            members.add(_member(parts[2], family))
    return sets


def _counts(addresses):
    """``{4: n, 6: n}`` of a canonical address list (IPv4 first: a binary search finds the first IPv6 entry)."""
    count4 = bisect.bisect_left(addresses, True, key=lambda entry: ":" in entry)
    return {4: count4, 6: len(addresses) - count4}


def read(executor, want, store=None, target_snap=None, full=False):
    """Read our chains and sets back into a :class:`Contents`.

    Without ``full``, members come from the last-known-good copy (``store``) when each set holds
    as many entries as that copy; a set that does not is listed in full. The sets of the rules'
    local sources (few entries, no stored copy) are always listed.
    """
    store = store or {}
    snap = Contents(read_back=full)
    match_sets = {}
    for family, (objects, lines, family_sets, jumps) in xtables.read_both(executor).items():
        snap.objects |= objects
        snap.lines.extend(lines)
        match_sets.update(family_sets)
        snap.jumps[family] = jumps
    known = {naming.ipset(n, f): n for n in set(want.allowlists) | set(store) | set(want.local()) for f in (4, 6)}
    found = headers(executor)
    snap.sets = set(found)
    for name, (family, kind, _) in found.items():
        snap.objects.add(_set_object(name, family) if kind == "hash:net" else f"ipset {name} ({kind})")
    labels = {name: known.get(name) or match_sets.get(name) or name for name in found}
    if not full:
        claimed = {}
        local = {name for name, label in labels.items() if naming.is_sources_label(label)}
        for name, (family, members) in read_sets(executor, local).items():
            claimed.setdefault(labels[name], {4: set(), 6: set()})[family].update(members)
        for label in set(labels.values()) - {labels[name] for name in local}:
            record = store.get(label)
            counts = dict.fromkeys((4, 6), 0)
            for name, (family, _, count) in found.items():
                if labels[name] == label:
                    counts[family] += count
            if record is None or counts != _counts(record.addresses):
                break
            wanted = want.allowlists.get(label)
            if wanted is not None and wanted.digest == record.digest and label in (target_snap or Contents()).addresses:
                claimed[label] = target_snap.addresses[label]
            else:
                claimed[label] = families(record.addresses)
        else:
            snap.addresses = claimed
            return snap
        snap.read_back = True
    if not found:
        return snap  # none of our sets exists (a first apply): nothing to list
    for name, (family, members) in read_sets(executor).items():
        snap.addresses.setdefault(labels.get(name, name), {4: set(), 6: set()})[family].update(members)
    return snap


def restore_input(want, existing):
    """``ipset restore`` input: build each set in a temporary set, swap it in, drop the temporary."""
    out = []
    for name, allowlist in sorted(want.groups().items()):
        for family in (4, 6):
            live = naming.ipset(name, family)
            temp = naming.ipset_temp(live)
            members = allowlist.family(family)
            create = f"hash:net family {_FAMILY[family]} maxelem {max(_MIN_MAXELEM, len(members))}"
            if live not in existing:
                out.append(f"create {live} {create}")
            if temp in existing:
                out.append(f"destroy {temp}")
            out.append(f"create {temp} {create}")
            if members:
                out.append(f"add {temp} " + f"\nadd {temp} ".join(members))
            out.append(f"swap {temp} {live}")
            out.append(f"destroy {temp}")
    return "\n".join(out) + "\n"


def delta_input(want, target_snap, current):
    """``ipset restore -exist`` input that turns the members of ``current`` into ``want``'s."""
    out = []
    for name in sorted(want.groups()):
        have = current.addresses.get(name, {4: set(), 6: set()})
        wanted = target_snap.addresses[name]
        if have is wanted:
            continue
        for family in (4, 6):
            live = naming.ipset(name, family)
            for member in sorted(have.get(family, set()) - wanted[family]):
                if parse_prefix(member)[3] != member:
                    raise ValueError(f"ipset {live} lists {member!r}, which is not canonical")
                out.append(f"del {live} {member}")
            out.extend(f"add {live} {member}" for member in sorted(wanted[family] - have.get(family, set())))
    return "\n".join(out) + "\n" if out else ""


def check(executor, want, target_snap, current):  # pylint: disable=unused-argument
    """Nothing to validate beforehand: ipset and iptables-restore have no check mode for our input."""


def _contents_only(want, target_snap, current):
    """Whether only set members differ (same sets, chains, jumps and rules)."""
    return bool(want.rules) and current.objects == target_snap.objects and current.lines == target_snap.lines


def _wrong_counts(executor, want):
    """``{set name: (entries wanted, entries held)}`` of our sets that do not hold as many entries as ``want``."""
    held = {name: count for name, (_, _, count) in headers(executor).items()}
    wanted = (
        {naming.ipset(n, f): c for n, a in want.groups().items() for f, c in _counts(a.addresses).items()}
        if want.rules
        else {}
    )
    return {name: (count, held.get(name)) for name, count in wanted.items() if held.get(name) != count}


def verify(executor, want, target_snap):  # pylint: disable=unused-argument
    """Nothing to read after an apply: :func:`apply` checked the counts after a delta itself, and a rebuild
    is proven by its restores (``ipset restore`` stops at the first line it cannot apply, before the swap).
    """
    return {}


def apply(executor, want, target_snap, current):
    """Apply element deltas when only members differ; else swap in the sets, rebuild the chains, drop unused sets."""
    if _contents_only(want, target_snap, current):
        text = delta_input(want, target_snap, current)
        try:
            if text:
                executor.run(["ipset", "restore", "-exist"], stdin=text)
            if not _wrong_counts(executor, want):
                return
            log.warning("nodeallow: ipset members differ after the delta; rebuilding the sets")
        except command.CommandError as exc:
            log.warning("nodeallow: ipset refused the delta (%s); rebuilding the sets", exc)
    existing = current.sets
    keep = {naming.ipset(n, f) for n in want.groups() for f in (4, 6)} if want.rules else set()
    if want.rules:
        # The chains' restores start while the sets load (they reference the sets, so they get their input after).
        with executor.ready(xtables.restores()):
            executor.run(["ipset", "restore"], stdin=restore_input(want, existing))
            xtables.apply(executor, {f: family_lines(want, f) for f in (4, 6)}, current.jumps or None)
    else:
        xtables.remove(executor)
    # The temporary sets are gone (restore_input destroys them); what else is ours and unused goes now.
    stale = sorted(name for name in existing if name not in keep | {naming.ipset_temp(k) for k in keep})
    if stale:
        executor.run(["ipset", "restore"], stdin="".join(f"destroy {name}\n" for name in stale))


def apply_changes(executor, want, base, changes):
    """Put a delta's member ``changes`` in effect when the cheap check finds the sets holding ``base``.

    Returns the names whose sets changed, or ``None``. ``want`` is the Desired after the delta,
    ``base`` ``{name: Allowlist}`` the copies the delta starts from (the store's),
    ``changes`` ``{name: {family: (removed, added)}}`` (canonical entries). Our chains must hold
    ``want``'s rules, each set of a name of ``changes`` as many entries as the base (the cheap
    check of :func:`read`), the others as many as ``want``, and the rules' local sources exactly
    their members. Anything else is ``None`` with nothing done, and so are sets whose counts are
    not ``want``'s after the one ``ipset restore -exist``: the caller then takes the full pipeline,
    which lists the sets and puts right what differs. O(changes) Python.
    """
    if not want.rules:
        return None
    snap = Contents()
    for family in (4, 6):
        objects, lines, _, _ = xtables.read(executor, family)
        snap.objects |= objects
        snap.lines.extend(lines)
    found = headers(executor)
    for name, (family, kind, _) in found.items():
        snap.objects.add(_set_object(name, family) if kind == "hash:net" else f"ipset {name} ({kind})")
    objects, lines = _structure(want)
    if snap.objects != objects or snap.lines != lines:
        return None
    groups = want.groups()
    local = {naming.ipset(n, f): (n, f) for n in want.local() for f in (4, 6)}
    for set_name, (family, members) in read_sets(executor, local).items():
        name = local[set_name][0]
        if members != set(groups[name].family(family)):
            return None
    out = []
    changed = []
    for name, allowlist in groups.items():
        if naming.is_sources_label(name):
            continue
        held = {f: found.get(naming.ipset(name, f), (f, None, None))[2] for f in (4, 6)}
        step = changes.get(name)
        if held != _counts((base[name] if step else allowlist).addresses):
            return None
        if not step:
            continue
        for family, (removed, added) in sorted(step.items()):
            live = naming.ipset(name, family)
            out.extend(f"del {live} {member}" for member in removed)
            out.extend(f"add {live} {member}" for member in added)
        changed.append(name)
    if out:
        try:
            executor.run(["ipset", "restore", "-exist"], stdin="\n".join(out) + "\n")
        except command.CommandError as exc:
            log.warning("nodeallow: ipset refused the delta's member changes (%s); comparing in full", exc)
            return None
        if _wrong_counts(executor, want):
            log.warning("nodeallow: ipset members differ after the delta; comparing in full")
            return None
    return changed


def existing(executor):
    """Names of our ipsets that exist."""
    return [f"ipset {name}" for name in sorted(headers(executor))]


def remove_sets(executor):
    """Destroy all our ipsets (the chains must no longer reference them); return what was removed."""
    names = sorted(headers(executor))
    if names:
        executor.run(["ipset", "restore"], stdin="".join(f"destroy {name}\n" for name in names))
    return [f"ipset {name}" for name in names]
