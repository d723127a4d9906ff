# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Per-address iptables backend: one rule per address in our NODEALLOW chain (iptables formula style).

For hosts that already manage iptables with a formula: no sets, just ``-s <address>`` rules.
A change of addresses only is one ``iptables-restore --noflush`` per family that deletes the
rules of removed addresses and inserts those of added ones at their place; anything else
rebuilds the chain. Each restore is one transaction. Lookups are linear in the number of rules,
so prefer the nftables or ipset backend for large allowlists (docs/firewall.md says from when).
"""

from saltext.nodeallow.firewall import naming, xtables
from saltext.nodeallow.firewall.contents import Contents, wanted_contents

NAME = "iptables"


def _groups(want, rule):
    """``[(label, description, Allowlist)]`` whose addresses ``rule`` accepts: its local sources, its allowlist."""
    out = []
    local = want.local()
    if rule.sources:
        out.append((rule.sources_label(), rule.sources_label(), local[rule.sources_label()]))
    if want.admits(rule):
        out.append((rule.allowlist, rule.describe(), want.allowlists[rule.allowlist]))
    return out


def family_lines(want, family):
    """Our chain's rules for ``family``: loopback, one accept per address (local sources, then the allowlist
    while in effect), rule and port group, drops."""
    accepts = []
    seen = set()
    for rule in want.rules:
        for label, description, group in _groups(want, rule):
            if naming.is_sources_label(label):
                if label in seen:
                    continue
                seen.add(label)
            addresses = group.family(family)
            for ports in xtables.port_groups(rule.ports):
                template = f"-p {rule.proto} -m multiport --dports {ports} -j ACCEPT"
                desc = f"{description} ipv{family}"
                kind = "sources " if naming.is_sources_label(label) else ""
                key = naming.short_hash(f"ipv{family} {kind}{template}", 12)
                tail = f'{template} -m comment --comment "{naming.line_comment(key, desc)}"'
                accepts.extend((key, desc, address, f"-s {address} {tail}") for address in addresses)
    return xtables.base_lines(want, want.proto_ports(), family, accepts)


def target(want):
    """The :class:`Contents` the kernel should show after applying ``want``."""
    if not want.rules:
        return Contents()
    objects = set()
    for tool in ("iptables", "ip6tables"):
        objects |= {f"{tool} chain {naming.XT_CHAIN}", f"{tool} jump INPUT -> {naming.XT_CHAIN}"}
    lines = [(k, d, s) for f in (4, 6) for k, d, s, _ in family_lines(want, f)]
    return wanted_contents(objects, lines, want)


def reads(want, listed, switched=False):  # pylint: disable=unused-argument
    """The commands :func:`read` runs (for command.Executor.started); it always lists the rules in full.
    ``switched``: the backend changed, so our chains probably do not exist (xtables.reads)."""
    return xtables.reads(switched)


def read(executor, want, store=None, target_snap=None, full=False):  # pylint: disable=unused-argument
    """Read our chains back into a :class:`Contents`; addresses come from the rules' ``-s``.

    The rules are the addresses, so this is always a full read (one ``iptables-save`` per family).
    """
    snap = Contents()
    for family, (objects, lines, _, jumps) in xtables.read_both(executor).items():
        snap.objects |= objects
        snap.lines.extend(lines)
        snap.jumps[family] = jumps
        snap.chains[family] = lines
        for _, desc, source in lines:
            if source is None:
                continue
            label = naming.line_label(desc) or "unknown"
            snap.addresses.setdefault(label, {4: set(), 6: set()})[family].add(source)
    return snap


def check(executor, want, target_snap, current):  # pylint: disable=unused-argument
    """Nothing to validate beforehand: iptables-restore has no check mode for our input."""


def verify(executor, want, target_snap):  # pylint: disable=unused-argument
    """Nothing to read after an apply: each iptables-restore replaced or edited the chain in one transaction.

    Reading 2 x 10,000 rules back would double the cost of every run; the next run reads them anyway.
    """
    return {}


def delta_input(wanted, have):
    """``iptables-restore --noflush`` input turning our chain's rules ``have`` into ``wanted``, or ``None``.

    Both are ``[(key, description, source, text)]`` (``have`` without text). Rules are deleted by
    position (highest first), then the new ones inserted at their place (lowest first); ``None``
    when the rules that stay are not in the wanted order (then the chain is rebuilt).
    """
    wanted_ids = [(key, source) for key, _, source, _ in wanted]
    have_ids = [(key, source) for key, _, source in have]
    if len(set(wanted_ids)) != len(wanted_ids) or len(set(have_ids)) != len(have_ids):
        return None
    keep = set(wanted_ids) & set(have_ids)
    if len(wanted_ids) + len(have_ids) - 2 * len(keep) > len(wanted_ids) // 2:
        return None  # most rules change: rebuilding is cheaper than moving them one by one
    if [rule for rule in have_ids if rule in keep] != [rule for rule in wanted_ids if rule in keep]:
        return None
    out = [
        f"-D {naming.XT_CHAIN} {index + 1}" for index in reversed(range(len(have_ids))) if have_ids[index] not in keep
    ]
    out += [
        f"-I {naming.XT_CHAIN} {index + 1} {wanted[index][3]}"
        for index in range(len(wanted_ids))
        if wanted_ids[index] not in keep
    ]
    return out


def apply(executor, want, target_snap, current):
    """Delete and insert the rules of changed addresses, or rebuild our chains (or remove them when no rule is left)."""
    if not want.rules:
        xtables.remove(executor)
        return
    wanted = {f: family_lines(want, f) for f in (4, 6)}
    if current.objects == target_snap.objects and current.chains:
        deltas = {f: delta_input(wanted[f], current.chains[f]) for f in (4, 6)}
        if all(delta is not None for delta in deltas.values()):
            for family, delta in deltas.items():
                if delta:
                    text = "\n".join(["*filter", *delta, "COMMIT"]) + "\n"
                    executor.run([xtables.TOOLS[family][1], "--noflush"], stdin=text)
            return
    xtables.apply(executor, wanted, current.jumps or None)
