# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""ipset + iptables backend: an ipset per allowlist and family, matched from our NODEALLOW chain.

Each set (``nodeallow_<hash>_4``: hash:net family inet; ``_6``: inet6) is rebuilt with one
``ipset restore``: fill a temporary set, ``swap`` it with the live one, destroy the temporary,
so a packet sees either the old or the new set, never a partial one.
"""

from saltext.nodeallow.firewall import desired
from saltext.nodeallow.firewall import naming
from saltext.nodeallow.firewall import xtables
from saltext.nodeallow.firewall.snapshot import Snapshot
from saltext.nodeallow.firewall.snapshot import desired_addresses

NAME = "ipset"
_FAMILY = {4: "inet", 6: "inet6"}
_MIN_MAXELEM = 65536


def family_lines(want, family):
    """Our chain's rules for ``family``: loopback, one accept per rule and port group, drops."""
    accepts = []
    for rule in want.rules:
        set_name = naming.ipset(rule.allowlist, family)
        for ports in xtables.port_groups(rule.ports):
            text = f"-p {rule.proto} -m multiport --dports {ports} -m set --match-set {set_name} src -j ACCEPT"
            accepts.append(xtables.line(family, text, f"{rule.describe()} ipv{family}"))
    return xtables.base_lines(want, want.proto_ports(), family, accepts)


def target(want):
    """The :class:`Snapshot` the kernel should show after applying ``want``."""
    if not want.rules:
        return Snapshot()
    objects = set()
    for tool in ("iptables", "ip6tables"):
        objects |= {f"{tool} chain {naming.XT_CHAIN}", f"{tool} jump INPUT -> {naming.XT_CHAIN}"}
    for name in want.active():
        objects |= {f"ipset {naming.ipset(name, f)}" for f in (4, 6)}
    lines = [(k, d, s) for f in (4, 6) for k, d, s, _ in family_lines(want, f)]
    return Snapshot(objects, lines, desired_addresses(want))


def read_sets(runner):
    """``{set name: (family, set of CIDRs)}`` of our ipsets, from ``ipset save``."""
    sets = {}
    for raw in runner.run(["ipset", "save"]).stdout.splitlines():
        parts = raw.split()
        if len(parts) < 3 or not naming.is_ours_ipset(parts[1]):
            continue
        if parts[0] == "create":
            family = 6 if "inet6" in parts else 4
            sets[parts[1]] = (family, set())
        elif parts[0] == "add" and parts[1] in sets:
            family, members = sets[parts[1]]
            members.add(desired.parse_prefix(parts[2])[3])
    return sets


def read(runner, want, store=None, target_snap=None, full=False):  # pylint: disable=unused-argument
    """Read our chains and sets back into a :class:`Snapshot`."""
    snap = Snapshot()
    match_sets = {}
    for family in (4, 6):
        objects, lines, family_sets, _ = xtables.read(runner, family)
        snap.objects |= objects
        snap.lines.extend(lines)
        match_sets.update(family_sets)
    known = {naming.ipset(n, f): n for n in want.allowlists for f in (4, 6)}
    for name, (family, members) in read_sets(runner).items():
        snap.objects.add(f"ipset {name}")
        label = match_sets.get(name) or known.get(name) or name
        snap.addresses.setdefault(label, {4: set(), 6: set()})[family].update(members)
    return snap


def restore_input(want, existing):
    """``ipset restore`` input: build each set in a temporary set, swap it in, drop the temporary."""
    out = []
    for name, allowlist in sorted(want.active().items()):
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
            out.extend(f"add {temp} {member}" for member in members)
            out.append(f"swap {temp} {live}")
            out.append(f"destroy {temp}")
    return "\n".join(out) + "\n"


def check(runner, want, target_snap, current):  # pylint: disable=unused-argument
    """Nothing to validate beforehand: ipset and iptables-restore have no check mode for our input."""


def apply(runner, want, target_snap=None, current=None):  # pylint: disable=unused-argument
    """Swap in the sets, rebuild the chains, then destroy sets nothing references any more."""
    existing = read_sets(runner)
    if want.rules:
        runner.run(["ipset", "restore"], stdin=restore_input(want, existing))
        xtables.apply(runner, {f: family_lines(want, f) for f in (4, 6)})
    else:
        xtables.remove(runner)
    keep = {naming.ipset(n, f) for n in want.active() for f in (4, 6)} if want.rules else set()
    stale = sorted(name for name in read_sets(runner) if name not in keep)
    if stale:
        runner.run(["ipset", "restore"], stdin="".join(f"destroy {name}\n" for name in stale))


def existing(runner):
    """Names of our ipsets that exist."""
    return [f"ipset {name}" for name in sorted(read_sets(runner))]


def remove_sets(runner):
    """Destroy all our ipsets (the chains must no longer reference them); return what was removed."""
    names = sorted(read_sets(runner))
    if names:
        runner.run(["ipset", "restore"], stdin="".join(f"destroy {name}\n" for name in names))
    return [f"ipset {name}" for name in names]
