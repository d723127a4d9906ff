# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Per-address iptables backend: one rule per address in our NODEALLOW chain (iptables formula style).

For hosts that already manage iptables with a formula: no sets, just ``-s <address>`` rules,
rebuilt in one ``iptables-restore --noflush`` per family. Lookups are linear, so prefer the
nftables or ipset backend for large allowlists.
"""

from saltext.nodeallow.firewall import naming
from saltext.nodeallow.firewall import xtables
from saltext.nodeallow.firewall.snapshot import Snapshot
from saltext.nodeallow.firewall.snapshot import desired_addresses

NAME = "iptables"


def family_lines(want, family):
    """Our chain's rules for ``family``: loopback, one accept per address, rule and port group, drops."""
    accepts = []
    for rule in want.rules:
        addresses = want.allowlists[rule.allowlist].family(family)
        for ports in xtables.port_groups(rule.ports):
            template = f"-p {rule.proto} -m multiport --dports {ports} -j ACCEPT"
            desc = f"{rule.describe()} ipv{family}"
            for address in addresses:
                accepts.append(
                    xtables.line(
                        family, f"-s {address} {template}", desc, source=address, key_text=template
                    )
                )
    return xtables.base_lines(want, want.proto_ports(), family, accepts)


def target(want):
    """The :class:`Snapshot` the kernel should show after applying ``want``."""
    if not want.rules:
        return Snapshot()
    objects = set()
    for tool in ("iptables", "ip6tables"):
        objects |= {f"{tool} chain {naming.XT_CHAIN}", f"{tool} jump INPUT -> {naming.XT_CHAIN}"}
    lines = [(k, d, s) for f in (4, 6) for k, d, s, _ in family_lines(want, f)]
    return Snapshot(objects, lines, desired_addresses(want))


def read(runner, want, store=None, target_snap=None, full=False):  # pylint: disable=unused-argument
    """Read our chains back into a :class:`Snapshot`; addresses come from the rules' ``-s``."""
    snap = Snapshot()
    for family in (4, 6):
        objects, lines, _, _ = xtables.read(runner, family)
        snap.objects |= objects
        snap.lines.extend(lines)
        for _, desc, source in lines:
            if source is None:
                continue
            parts = desc.split()
            label = parts[1] if len(parts) > 1 else "unknown"
            snap.addresses.setdefault(label, {4: set(), 6: set()})[family].add(source)
    return snap


def check(runner, want, target_snap, current):  # pylint: disable=unused-argument
    """Nothing to validate beforehand: ipset and iptables-restore have no check mode for our input."""


def apply(runner, want, target_snap=None, current=None):  # pylint: disable=unused-argument
    """Rebuild our chains (or remove them when no rule is left)."""
    if want.rules:
        xtables.apply(runner, {f: family_lines(want, f) for f in (4, 6)})
    else:
        xtables.remove(runner)
