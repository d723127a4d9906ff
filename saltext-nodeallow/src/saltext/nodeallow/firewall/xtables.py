# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Our dedicated ``NODEALLOW`` chain in the iptables and ip6tables filter tables (ipset and iptables backends).

INPUT jumps to the chain once (inserted at the top, only when missing); the chain is rebuilt with
``iptables-restore --noflush`` from input that names only our chain, so no other rule is touched.
"""

import os
import re
import shutil

from saltext.nodeallow.firewall import command, hostfirewall, naming, nftables
from saltext.nodeallow.protocol.canonical import parse_prefix

TOOLS = {4: ("iptables-save", "iptables-restore"), 6: ("ip6tables-save", "ip6tables-restore")}
# What iptables-save resolves to on an iptables-nft host (Debian 10+, RHEL 8+): the filter tables are then
# nft tables ``ip filter`` and ``ip6 filter``. Anything else (legacy, unknown) is read with iptables-save.
_NFT_VARIANTS = {"xtables-nft-multi", "iptables-nft-save", "ip6tables-nft-save"}
_NFT_FAMILIES = {"ip": 4, "ip6": 6}
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


def reads(switched=False):
    """The commands :func:`read_both` may run (for command.Executor.started).

    On an iptables-nft host (:func:`in_nft_listing`) the terse nft listing too; iptables-save only when our
    chains probably exist, i.e. not after a switch of backend (``switched``, so also on a fresh minion):
    the listing then shows first whether they do.
    """
    if not in_nft_listing():
        return saves()
    return [nftables.TERSE, *([] if switched else saves())]


def nft_listing(executor):
    """The items of the terse nft listing when our chains show in it (:func:`in_nft_listing`), else ``None``
    (also when nft is not installed: iptables-nft does not need it)."""
    if not in_nft_listing():
        return None
    try:
        return hostfirewall.read(executor)
    except command.CommandError as exc:
        if exc.returncode == 127:
            return None
        raise


def read_both(executor):
    """``{family: read(executor, family)}``; on an iptables-nft host a family whose chain the terse nft
    listing does not show is not read with iptables-save (no chain of ours, so no rule or jump either)."""
    ruleset = nft_listing(executor)
    shown = None if ruleset is None else set(objects_in(ruleset))
    out = {}
    for family in (4, 6):
        chain = f"{TOOLS[family][0].replace('-save', '')} chain {naming.XT_CHAIN}"
        out[family] = (set(), [], {}, 0) if shown is not None and chain not in shown else read(executor, family)
    return out


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


def restores():
    """The commands :func:`apply` rebuilds our chains with, one per family (for command.Executor.ready: started
    early only on an iptables-nft host, where a restore waiting for its input holds no xtables lock)."""
    return [[TOOLS[family][1], "--noflush", "-w"] for family in (4, 6)] if in_nft_listing() else []


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


def in_nft_listing():
    """Whether iptables-save and ip6tables-save are the nf_tables variant (iptables-nft), so that our chain and
    INPUT jumps show in the terse nft listing (:func:`objects_in`) as well as in their output.

    Decided from the binaries the commands run (the same PATH), without starting a process; a host where
    either is missing, legacy or not recognised is read with iptables-save.
    """
    for tool, _ in TOOLS.values():
        path = shutil.which(tool)
        if path is None or os.path.basename(os.path.realpath(path)) not in _NFT_VARIANTS:
            return False
    return True


def objects_in(items):
    """Names of our xtables objects in the items of the terse nft listing (``nft -j -t list ruleset``), as
    :func:`existing` names them from iptables-save on an iptables-nft host (:func:`in_nft_listing`).

    Chain ``NODEALLOW`` of table ``ip filter`` / ``ip6 filter``, and a rule of their INPUT chain that is only a
    jump to it (iptables-save prints it as ``-A INPUT -j NODEALLOW``; iptables-nft adds a counter to each rule).
    """
    found = {4: set(), 6: set()}
    for item in items:
        kind = next(iter(item), None)
        body = item[kind] if kind in ("chain", "rule") else None
        if not isinstance(body, dict) or body.get("table") != "filter" or body.get("family") not in _NFT_FAMILIES:
            continue
        family = _NFT_FAMILIES[body["family"]]
        tool = TOOLS[family][0].replace("-save", "")
        if kind == "chain" and body.get("name") == naming.XT_CHAIN:
            found[family].add(f"{tool} chain {naming.XT_CHAIN}")
        elif kind == "rule" and body.get("chain") == "INPUT" and _only_jump(body):
            found[family].add(f"{tool} jump INPUT -> {naming.XT_CHAIN}")
    return sorted(found[4]) + sorted(found[6])


def _only_jump(rule):
    """Whether an nft JSON rule is a plain jump to our chain (a counter aside, no match, no comment)."""
    exprs = [expr for expr in rule.get("expr") or [] if not (isinstance(expr, dict) and "counter" in expr)]
    return "comment" not in rule and exprs == [{"jump": {"target": naming.XT_CHAIN}}]


def existing(executor):
    """Names of our xtables objects (chains, jumps) that exist in either family: on an iptables-nft host from
    the terse nft listing (which the state reads anyway), else from iptables-save."""
    ruleset = nft_listing(executor)
    if ruleset is not None:
        return objects_in(ruleset)
    return saved_objects(executor)


def saved_objects(executor):
    """Names of our xtables objects in either family, from iptables-save (what :func:`objects_in` mirrors)."""
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
