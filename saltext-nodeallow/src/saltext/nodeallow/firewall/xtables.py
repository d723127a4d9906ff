# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Our dedicated ``NODEALLOW`` chain in the iptables and ip6tables filter tables (ipset and iptables backends).

INPUT jumps to the chain once (inserted at the top, only when missing); the chain is rebuilt with
``iptables-restore --noflush`` from input that names only our chain, so no other rule is touched.
"""

import re

from saltext.nodeallow.firewall import naming
from saltext.nodeallow.protocol.canonical import parse_prefix

TOOLS = {4: ("iptables-save", "iptables-restore"), 6: ("ip6tables-save", "ip6tables-restore")}
# multiport takes at most 15 ports, a range counting as two.
MULTIPORT_MAX = 15
JUMP = f"-A INPUT -j {naming.XT_CHAIN}"
# The options of our rules as iptables-save prints them. Our comments hold no quotes or
# backslashes (allowlist names, protocol, ports), so no shell-style parsing is needed; a rule
# that does not match (someone else's) is still listed, as "unknown".
_SOURCE_RE = re.compile(r" -s (\S+)")
_COMMENT_RE = re.compile(r' --comment (?:"([^"\\]*)"|(\S+))')
_MATCH_SET_RE = re.compile(r" --match-set (\S+) ")


def port_groups(ranges):
    """Split (low, high) port ranges into multiport argument strings of at most 15 ports each."""
    groups, current, weight = [], [], 0
    for lo, hi in ranges:
        cost = 1 if lo == hi else 2
        if weight + cost > MULTIPORT_MAX:
            groups.append(current)
            current, weight = [], 0
        current.append(str(lo) if lo == hi else f"{lo}:{hi}")
        weight += cost
    if current:
        groups.append(current)
    return [",".join(group) for group in groups]


def line(family, text, description, source=None, key_text=None):
    """``(key, description, source, full rule text)``; the key hashes family and ``key_text`` (default ``text``)."""
    key = naming.short_hash(f"ipv{family} {key_text or text}", 12)
    full = f'{text} -m comment --comment "{naming.line_comment(key, description)}"'
    return key, description, source, full


def base_lines(want, proto_ports, family, accept_lines):
    """Loopback accepts, the given accept lines, then drops (policy restrict) for one family."""
    restrict = want.policy == "restrict"
    lines = []
    if restrict:
        for proto, ranges in proto_ports.items():
            for ports in port_groups(ranges):
                desc = f"{proto}:{ports.replace(':', '-')} loopback ipv{family}"
                lines.append(line(family, f"-i lo -p {proto} -m multiport --dports {ports} -j ACCEPT", desc))
    lines.extend(accept_lines)
    if restrict:
        for proto, ranges in proto_ports.items():
            for ports in port_groups(ranges):
                desc = f"{proto}:{ports.replace(':', '-')} restrict ipv{family}"
                lines.append(line(family, f"-p {proto} -m multiport --dports {ports} -j DROP", desc))
    return lines


def render(lines, add_jump):
    """``iptables-restore --noflush`` input that rebuilds only our chain (and adds the jump)."""
    out = ["*filter", f":{naming.XT_CHAIN} - [0:0]", f"-F {naming.XT_CHAIN}"]
    if add_jump:
        out.append(f"-I INPUT 1 -j {naming.XT_CHAIN}")
    out.extend(f"-A {naming.XT_CHAIN} {text}" for _, _, _, text in lines)
    out.append("COMMIT")
    return "\n".join(out) + "\n"


def saves():
    """The commands :func:`read` reads both families with (for command.Executor.started)."""
    return [[TOOLS[family][0], "-t", "filter"] for family in (4, 6)]


def read(executor, family):
    """Read our chain of ``family`` from ``iptables-save``.

    Returns ``(objects, lines, match_sets, jumps)``: object names, ``(key, description, source)``
    per rule, ``{set name: allowlist}`` for ``--match-set`` rules, and the number of INPUT jumps.
    """
    save = executor.run([TOOLS[family][0], "-t", "filter"]).stdout
    tool = TOOLS[family][0].replace("-save", "")
    objects, lines, match_sets, jumps = set(), [], {}, 0
    prefix = f"-A {naming.XT_CHAIN} "
    for raw in save.splitlines():
        if raw.startswith(prefix):
            found = _COMMENT_RE.search(raw)
            parsed = naming.parse_comment(found.group(1) or found.group(2)) if found else None
            key, desc = parsed if parsed else ("unknown", raw[:100])
            source = _SOURCE_RE.search(raw)
            source = source.group(1) if source else None
            if source is not None and family == 6 and "." in source:
                # iptables-save prints addresses as inet_ntop does; only mixed notation differs.
                source = _normalise(source)
            lines.append((key, desc, source))
            match_set = _MATCH_SET_RE.search(raw)
            if match_set is not None and parsed:
                match_sets[match_set.group(1)] = naming.line_label(desc) or match_set.group(1)
        elif raw.startswith(f":{naming.XT_CHAIN} "):
            objects.add(f"{tool} chain {naming.XT_CHAIN}")
        elif raw.strip() == JUMP:
            objects.add(f"{tool} jump INPUT -> {naming.XT_CHAIN}")
            jumps += 1
    return objects, lines, match_sets, jumps


def _normalise(source):
    """``-s`` as iptables-save prints it (``10.0.0.1/32``), in canonical CIDR form."""
    return parse_prefix(source)[3]


def apply(executor, lines_by_family, jumps=None):
    """Rebuild our chain in both families from ``{family: lines}`` (an empty list keeps an empty chain).

    ``jumps`` is ``{family: number of INPUT jumps}`` when just read; otherwise the chain is read.
    The families' tables are separate, so both restores run side by side; ``-w`` makes legacy
    iptables wait for the xtables lock (which the two share) instead of failing.
    """
    if jumps is None:
        jumps = {family: read(executor, family)[3] for family in lines_by_family}
    executor.run_side_by_side(
        [
            ([TOOLS[family][1], "--noflush", "-w"], render(lines, add_jump=jumps[family] == 0))
            for family, lines in lines_by_family.items()
        ]
    )


def existing(executor):
    """Names of our xtables objects (chains, jumps) that exist in either family."""
    found = []
    for family in (4, 6):
        objects, _, _, _ = read(executor, family)
        found.extend(sorted(objects))
    return found


def remove(executor):
    """Delete the INPUT jump(s) and our chain in both families, if present; return what was removed."""
    removed = []
    for family in (4, 6):
        objects, _, _, jumps = read(executor, family)
        if not objects:
            continue
        out = ["*filter"]
        out += [f"-D INPUT -j {naming.XT_CHAIN}"] * jumps
        if any("chain" in name for name in objects):
            out += [f"-F {naming.XT_CHAIN}", f"-X {naming.XT_CHAIN}"]
        out.append("COMMIT")
        executor.run([TOOLS[family][1], "--noflush"], stdin="\n".join(out) + "\n")
        removed.extend(sorted(objects))
    return removed
