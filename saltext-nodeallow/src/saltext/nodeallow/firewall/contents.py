# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""What a backend holds in the kernel (read back) versus what it should hold, and the difference.

Both sides use the same shape, so one comparison serves every backend:

- ``objects``: names of the kernel objects (table, chains, jumps, sets) that exist / should exist;
- ``lines``: the rules of our chain in order, as ``(key, description, source)``; ``key`` is a hash
  of the rule's text that we write into its comment, ``source`` the per-address backend's ``-s``;
- ``addresses``: ``{label: {4: set, 6: set}}`` of the addresses the firewall matches, per allowlist
  and per rule's local sources (labels ``sources <rule>``, naming.sources_label);
- ``read_back``: whether ``addresses`` were listed from the firewall, or taken from the digests the
  firewall records of its own contents (the cheap check, see docs/firewall.md).
"""

import dataclasses
import heapq
import itertools
import socket

from saltext.nodeallow.firewall import naming

# Address lists in the state's changes are cut here; the counts are always exact.
MAX_LISTED = 1000


@dataclasses.dataclass
class Contents:
    """Our kernel objects, rule lines and addresses (see the module docstring)."""

    objects: set = dataclasses.field(default_factory=set)
    lines: list = dataclasses.field(default_factory=list)
    addresses: dict = dataclasses.field(default_factory=dict)
    read_back: bool = True
    # iptables backends: how many INPUT jumps to our chain each family has ({4: n, 6: n}),
    # and each family's part of ``lines`` ({4: [...], 6: [...]}).
    jumps: dict = dataclasses.field(default_factory=dict)
    chains: dict = dataclasses.field(default_factory=dict)
    # ipset backend: the names of our ipsets that exist.
    sets: set = dataclasses.field(default_factory=set)
    # nftables backend: the terse ruleset the cheap check read (hostfirewall looks at the other tables).
    ruleset: list = dataclasses.field(default=None, compare=False, repr=False)
    # The wanted side (:func:`wanted_contents`): ``{label: {4: tuple, 6: tuple}}``, the addresses in canonical
    # order, so the changes list the first of 100k added addresses without sorting them all.
    order: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def is_empty(self):
        """Whether nothing of ours exists."""
        return not self.objects and not self.lines and not self.addresses


def families(addresses):
    """``{4: set, 6: set}`` of a canonical address list (IPv4 first)."""
    joined = "\n".join(addresses)
    first6 = joined.find(":")
    count4 = len(addresses) if first6 < 0 else joined.count("\n", 0, first6)
    return {4: set(addresses[:count4]), 6: set(addresses[count4:])}


def wanted_contents(objects, lines, want):
    """The :class:`Contents` a backend should show: ``objects``, ``lines`` and the addresses of ``want``.

    Addresses are ``{label: {4: set, 6: set}}`` of the active allowlists and the rules' local sources.
    """
    groups = want.groups()
    order = {name: {4: a.family(4), 6: a.family(6)} for name, a in groups.items()}
    addresses = {name: {4: set(families[4]), 6: set(families[6])} for name, families in order.items()}
    return Contents(objects, lines, addresses, order=order)


def _address_key(value):
    """Sort key putting addresses in numeric order (as the protocol lists them), not text order.

    ``socket.inet_pton`` keeps this cheap at 100k addresses; the family's byte length comes first
    so IPv4 sorts before IPv6 should a list mix them.
    """
    address, _, length = value.partition("/")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        packed = socket.inet_pton(family, address)
        return (len(packed), packed, int(length) if length else len(packed) * 8, "")
    except (OSError, ValueError):
        # Not an address (nothing the state writes): after the addresses, in text order.
        return (99, b"", 0, value)


def _listed(values, order=()):
    """Values in address order, cut at MAX_LISTED.

    ``order`` is a canonical list holding every value (or empty): the first MAX_LISTED values are
    then picked from it in one C-level pass instead of sorting all of them (100k on a first apply).
    """
    if len(values) <= MAX_LISTED:
        return sorted(values, key=_address_key)
    if order:
        first = list(itertools.islice(filter(values.__contains__, order), MAX_LISTED))
    else:
        first = heapq.nsmallest(MAX_LISTED, values, key=_address_key)
    return first + [f"... and {len(values) - MAX_LISTED} more"]


def differences(target, current):
    """The state's ``changes`` that turn ``current`` into ``target`` (empty dict: nothing to do).

    Allowlists are under ``allowlists``, the rules' local sources under ``sources`` (by rule).
    """
    changes = {}
    allowlists = {}
    local = {}
    for name in sorted(set(target.addresses) | set(current.addresses)):
        want = target.addresses.get(name, {4: set(), 6: set()})
        have = current.addresses.get(name, {4: set(), 6: set()})
        if want is have:
            # The cheap check found the firewall's record of exactly these addresses.
            continue
        entry = {}
        order = target.order.get(name, {})
        for family in (4, 6):
            wanted, held = want.get(family, set()), have.get(family, set())
            # Nothing held (a first apply): all of it is added, without copying 100k addresses.
            added = wanted - held if held else wanted
            removed = held - wanted
            if added or removed:
                entry[f"ipv{family}"] = {
                    "added": _listed(added, order.get(family, ())),
                    "removed": _listed(removed),
                    "added_count": len(added),
                    "removed_count": len(removed),
                }
        if name not in target.addresses and name in current.addresses:
            entry["removed"] = True
        if entry and naming.is_sources_label(name):
            local[name[len(naming.SOURCES_PREFIX) :]] = entry
        elif entry:
            allowlists[name] = entry
    if allowlists:
        changes["allowlists"] = allowlists
    if local:
        changes["sources"] = local

    want_keys = {key: desc for key, desc, _ in target.lines}
    have_keys = {key: desc for key, desc, _ in current.lines}
    rules = {}
    added = [desc for key, desc in want_keys.items() if key not in have_keys]
    removed = [desc for key, desc in have_keys.items() if key not in want_keys]
    if added:
        rules["added"] = added
    if removed:
        rules["removed"] = removed
    if not added and not removed and target.lines != current.lines and not allowlists and not local:
        rules["reordered"] = True
    if rules:
        changes["rules"] = rules

    created = sorted(target.objects - current.objects)
    deleted = sorted(current.objects - target.objects)
    if created or deleted:
        changes["objects"] = {"created": created, "removed": deleted}
    return changes
