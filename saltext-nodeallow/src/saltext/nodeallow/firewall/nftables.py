# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""nftables backend: one table of our own, host and prefix sets per allowlist and family, one ``nft -f``.

Layout (docs/firewall.md): table ``inet <nft_table>`` holds per allowlist and family a plain hash
set ``a_<hash>_4`` of host routes and an interval set ``a_<hash>_4p`` of shorter prefixes (the
allowlist's name in their comment), base chain ``input`` (hook input, priority filter, policy
accept) whose rules reference the sets, and chain ``state``, never jumped to, whose rules'
comments record each allowlist's digest and count: the firewall's own record of what it holds.

Reading that record (``nft -t list ruleset``: no set elements) is the cheap check of every run;
the full listing (``nft -j list table``) is for test=True, ``nodeallow.show`` and the drift audit.
A change of set contents only is one transaction of element deletes and adds plus the new record;
anything else rebuilds the table in one transaction. Either way no packet sees a partial change.
"""

import ipaddress
import json
import logging
import os
import tempfile

from saltext.nodeallow.firewall import command, naming
from saltext.nodeallow.firewall.contents import Contents, families, wanted_contents
from saltext.nodeallow.protocol.canonical import parse_prefix

log = logging.getLogger(__name__)

NAME = "nftables"
CHAIN = "input"
STATE_CHAIN = "state"
TABLE_COMMENT = "managed by salt (nodeallow.managed); changes here are overwritten"
# Comment of a rule in chain ``state``: "na-state <set base> <digest, 32 hex> <count>".
STATE_PREFIX = "na-state"
_DIGEST_HEX = 32
_FAMILY_MATCH = {4: "ip saddr", 6: "ip6 saddr"}
_FAMILY_TYPE = {4: "ipv4_addr", 6: "ipv6_addr"}
_TYPE_FAMILY = {"ipv4_addr": 4, "ipv6_addr": 6}
_HOST_SUFFIX = {4: "/32", 6: "/128"}


def _ports(ranges):
    """Port ranges as an nft anonymous set: ``{ 22, 8000-8100 }``."""
    return "{ " + ", ".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ranges) + " }"


def _line(text, description):
    """``(key, description, None, text with comment)`` for one rule."""
    key = naming.short_hash(text, 12)
    return key, description, None, f'{text} comment "{naming.line_comment(key, description)}"'


def rule_lines(want):
    """The rules of our chain, in order: loopback accepts, per rule its local sources' and its allowlist's
    accepts (hosts, prefixes), then drops.

    A rule whose allowlist is held without a copy or retired keeps its drop (fail closed): its
    ports then admit loopback and its local sources only.
    """
    lines = []
    restrict = want.policy == "restrict"
    proto_ports = want.proto_ports()
    if restrict:
        for proto, ranges in proto_ports.items():
            desc = f"{proto}:{_ports(ranges)[2:-2].replace(' ', '')} loopback"
            lines.append(_line(f'iifname "lo" {proto} dport {_ports(ranges)} accept', desc))
    local = set()
    for rule in want.rules:
        labels = []
        if rule.sources and rule.sources_label() not in local:
            local.add(rule.sources_label())
            labels.append((rule.sources_label(), f"{rule.sources_label()} "))
        if want.admits(rule):
            labels.append((rule.allowlist, f"{rule.describe()} "))
        for label, desc in labels:
            for family in (4, 6):
                for set_name, kind in zip(naming.nft_sets(label, family), ("", " prefixes"), strict=True):
                    text = f"{rule.proto} dport {_ports(rule.ports)} {_FAMILY_MATCH[family]} @{set_name} accept"
                    lines.append(_line(text, f"{desc}ipv{family}{kind}"))
    if restrict:
        for proto, ranges in proto_ports.items():
            desc = f"{proto}:{_ports(ranges)[2:-2].replace(' ', '')} restrict"
            lines.append(_line(f"{proto} dport {_ports(ranges)} drop", desc))
    return lines


def _set_object(table, name, family, prefixes):
    """The object name of one of our sets, with its type (a set of the wrong kind is a different object)."""
    kind = "interval" if prefixes else "hash"
    return f"nft set inet {table} {name} ({_FAMILY_TYPE[family]}, {kind})"


def target(want):
    """The :class:`Contents` the kernel should show after applying ``want``."""
    if not want.rules:
        return Contents()
    objects, lines = _structure(want)
    return wanted_contents(objects, lines, want)


def _structure(want):
    """``(objects, lines)`` of :func:`target`: what the kernel should show apart from the addresses."""
    table = want.nft_table
    objects = {f"nft table inet {table}", f"nft chain inet {table} {CHAIN}", f"nft chain inet {table} {STATE_CHAIN}"}
    for name in want.groups():
        for family in (4, 6):
            host_set, prefix_set = naming.nft_sets(name, family)
            objects.add(_set_object(table, host_set, family, False))
            objects.add(_set_object(table, prefix_set, family, True))
    lines = [(key, desc, src) for key, desc, src, _ in rule_lines(want)]
    return objects, lines


def _record_comment(name, allowlist):
    """The ``state`` chain comment recording what the sets of ``name`` hold."""
    base = naming.nft_set(name, 4)[:-2]
    digest_hex, count = _recorded(allowlist)
    return f"{STATE_PREFIX} {base} {digest_hex} {count}"


def _record_rules(want):
    """The rules of chain ``state``, one per active allowlist and per rule's local sources."""
    return [f'counter comment "{_record_comment(n, a)}"' for n, a in sorted(want.groups().items())]


def _elements(entries, family, prefixes, sep=", "):
    """Set elements as nft text joined by ``sep``: host routes without their length (a hash set takes no prefix).

    One join and one replace for the whole list: every host route ends with the family's host
    suffix and nothing else in the text is followed by ``sep``.
    """
    if prefixes:
        return sep.join(entries)
    suffix = _HOST_SUFFIX[family]
    return (sep.join(entries) + sep).replace(suffix + sep, sep)[: -len(sep)]


def render(want):
    """The ``nft -f`` input that replaces our table with ``want`` (or just deletes it)."""
    table = f"inet {want.nft_table}"
    # Creating the table first makes the delete valid when it does not exist yet; all three
    # statements are one transaction.
    out = [f"table {table} {{}}", f"delete table {table}"]
    if not want.rules:
        return "\n".join(out) + "\n"
    out.append(f"table {table} {{")
    out.append(f'\tcomment "{TABLE_COMMENT}"')
    for name, allowlist in sorted(want.groups().items()):
        for family in (4, 6):
            for set_name, prefixes in zip(naming.nft_sets(name, family), (False, True), strict=True):
                out.append(f"\tset {set_name} {{")
                out.append(f"\t\ttype {_FAMILY_TYPE[family]}")
                if prefixes:
                    out.append("\t\tflags interval")
                out.append(f'\t\tcomment "{name}"')
                entries = allowlist.prefixes(family) if prefixes else allowlist.hosts(family)
                if entries:
                    elements = _elements(entries, family, prefixes, ",\n\t\t\t")
                    out.append("\t\telements = {\n\t\t\t" + elements + "\n\t\t}")
                out.append("\t}")
    out.append(f"\tchain {CHAIN} {{")
    out.append("\t\ttype filter hook input priority filter; policy accept;")
    for _, _, _, text in rule_lines(want):
        out.append(f"\t\t{text}")
    out.append("\t}")
    out.append(f"\tchain {STATE_CHAIN} {{")
    for text in _record_rules(want):
        out.append(f"\t\t{text}")
    out.append("\t}")
    out.append("}")
    return "\n".join(out) + "\n"


def _split(entries, family):
    """``(hosts, prefixes)`` of some entries of one family."""
    suffix = _HOST_SUFFIX[family]
    hosts = sorted(a for a in entries if a.endswith(suffix))
    return hosts, sorted(a for a in entries if not a.endswith(suffix))


def render_delta(want, target_snap, current):
    """The ``nft -f`` input that turns ``current`` (same structure) into ``want``: element deletes and adds.

    Removed addresses come from the firewall's record or listing, so they are parsed again
    before they are written (they are few); added ones come from the validated pillar.
    """
    table = f"inet {want.nft_table}"
    out = []
    for name in sorted(want.groups()):
        have = current.addresses.get(name, {4: set(), 6: set()})
        if have is target_snap.addresses.get(name):
            continue
        wanted = target_snap.addresses[name]
        for family in (4, 6):
            removed = have.get(family, set()) - wanted[family]
            added = wanted[family] - have.get(family, set())
            for entry in removed:
                if parse_prefix(entry)[3] != entry:
                    raise ValueError(f"the firewall lists {entry!r} for {name}, which is not canonical")
            out.extend(_element_lines(table, name, family, removed, added))
    return _with_record(out, want)


def _element_lines(table, name, family, removed, added):
    """The ``delete element`` and ``add element`` commands taking ``removed`` out of and putting ``added`` into
    the sets of ``name`` and ``family``."""
    out = []
    for set_name, prefixes, gone, new in zip(
        naming.nft_sets(name, family), (False, True), _split(removed, family), _split(added, family), strict=True
    ):
        if gone:
            out.append(f"delete element {table} {set_name} {{ " + _elements(gone, family, prefixes) + " }")
        if new:
            out.append(f"add element {table} {set_name} {{ " + _elements(new, family, prefixes) + " }")
    return out


def _with_record(out, want):
    """``nft -f`` text of the commands ``out`` followed by chain ``state``'s new record of ``want``."""
    table = f"inet {want.nft_table}"
    out = [*out, f"flush chain {table} {STATE_CHAIN}"]
    out.extend(f"add rule {table} {STATE_CHAIN} {text}" for text in _record_rules(want))
    return "\n".join(out) + "\n"


# Every table, set and chain and every rule, no set elements (hostfirewall reads the same).
TERSE = ["nft", "-j", "-t", "list", "ruleset"]


def _tables(executor):
    """The terse ``nft -j -t list ruleset`` as a list of its JSON items."""
    return json.loads(executor.run(TERSE).stdout).get("nftables", [])


def reads(want, listed, switched=False):  # pylint: disable=unused-argument
    """The commands :func:`read` may run (for command.Executor.started); ``listed``: our table in full too.
    (``switched`` changes nothing: the terse listing always comes first.)"""
    return [TERSE, _table_listing(want.nft_table)] if listed else [TERSE]


def _table_listing(table):
    """``nft -j list table inet <table>``: our table with its set elements."""
    return ["nft", "-j", "list", "table", "inet", table]


def tables(executor):
    """Names of the inet tables that exist (for removing an old ``nft_table``)."""
    return {
        item["table"]["name"] for item in _tables(executor) if "table" in item and item["table"].get("family") == "inet"
    }


def _element(value):
    """One element of ``nft -j`` set output as CIDR strings (a range may need several)."""
    if isinstance(value, dict) and "prefix" in value:
        return [f"{value['prefix']['addr']}/{value['prefix']['len']}"]
    if isinstance(value, dict) and "range" in value:
        low, high = (ipaddress.ip_address(x) for x in value["range"])
        return [str(n) for n in ipaddress.summarize_address_range(low, high)]
    if isinstance(value, dict) and "elem" in value:
        return _element(value["elem"]["val"])
    text = str(value)
    if ":" in text and "." in text:
        # nft may print an IPv6 address in mixed notation; the canonical text is Python's.
        return [parse_prefix(text)[3]]
    return [f"{text}{_HOST_SUFFIX[6 if ':' in text else 4]}"]


def _parse(items, table, want, store, target_snap, with_elements):
    """Our table's objects, rules and (listed or recorded) addresses from nft JSON ``items``."""
    snap = Contents(read_back=with_elements)
    labels = {}
    groups = want.groups()
    for name in set(want.allowlists) | set(store) | set(groups):
        for family in (4, 6):
            for set_name in naming.nft_sets(name, family):
                labels[set_name] = name
    listed, recorded = _scan(items, table, labels, snap, with_elements)
    for label, elements in listed.items():
        if with_elements:
            snap.addresses[label] = {f: set(elements[f]) for f in (4, 6)}
            continue
        base = naming.nft_set(label, 4)[:-2]
        digest_hex, count = recorded.get(base, (None, None))
        wanted = groups.get(label) or want.allowlists.get(label)
        kept = store.get(label)
        if wanted is not None and label in target_snap.addresses and (digest_hex, count) == _recorded(wanted):
            # Shared with the target, so comparing them costs nothing.
            snap.addresses[label] = target_snap.addresses[label]
        elif kept is not None and (digest_hex, count) == _recorded(kept):
            snap.addresses[label] = families(kept.addresses)
        else:
            return None
    return snap


def _scan(items, table, labels, snap, with_elements):
    """Fill ``snap``'s objects and lines from nft JSON ``items``; return ``(listed, recorded)``.

    ``listed`` maps the label of each of our sets (``labels``: set name to label) to its elements
    per family (empty without ``with_elements``), ``recorded`` each set base to chain ``state``'s
    ``(digest hex, count)``.
    """
    listed = {}
    recorded = {}
    for item in items:
        kind = next(iter(item))
        body = item[kind]
        if not isinstance(body, dict) or body.get("family") != "inet" or body.get("table", body.get("name")) != table:
            continue
        if kind == "table":
            snap.objects.add(f"nft table inet {table}")
        elif kind == "chain":
            snap.objects.add(f"nft chain inet {table} {body['name']}")
        elif kind == "set":
            family = _TYPE_FAMILY.get(body.get("type"), 4)
            prefixes = "interval" in (body.get("flags") or [])
            name = body["name"]
            snap.objects.add(_set_object(table, name, family, prefixes))
            comment = body.get("comment", "")
            label = labels.get(name) or (comment if name in naming.nft_sets(comment, family) else name)
            entry = listed.setdefault(label, {4: [], 6: []})
            if with_elements:
                for elem in body.get("elem", []):
                    entry[family].extend(_element(elem))
        elif kind == "rule" and body.get("chain") == CHAIN:
            parsed = naming.parse_comment(body.get("comment"))
            key, desc = parsed if parsed else ("unknown", f"rule handle {body.get('handle')}")
            snap.lines.append((key, desc, None))
        elif kind == "rule" and body.get("chain") == STATE_CHAIN:
            parts = (body.get("comment") or "").split()
            if len(parts) == 4 and parts[0] == STATE_PREFIX:
                recorded[parts[1]] = (parts[2], parts[3])
    return listed, recorded


def _recorded(allowlist):
    """``(digest hex, count)`` as chain ``state`` records them for an allowlist or record."""
    return allowlist.digest[7 : 7 + _DIGEST_HEX], str(len(allowlist.addresses))


def read(executor, want, store=None, target_snap=None, full=False):
    """Read our table into a :class:`Contents` (empty if absent).

    Without ``full``, the cheap check: ``nft -t`` lists objects and rules without set elements,
    and the addresses are those of the allowlist (``want``) or of the last-known-good copy
    (``store``, ``{name: Record}``) whose digest and count chain ``state`` records. When that
    record is missing or names neither, the table is listed in full. Either way the terse
    listing comes first (hostfirewall reads it too): a table it does not show is not listed.
    """
    table = want.nft_table
    store = store or {}
    target_snap = target_snap or Contents()
    items = _tables(executor)
    if not full:
        snap = _parse(items, table, want, store, target_snap, with_elements=False)
        if snap is not None:
            snap.ruleset = items
            return snap
    if not any(_is_table(item, table) for item in items):
        snap = Contents()
    else:
        argv = _table_listing(table)
        proc = executor.run(argv, check=False)
        if proc.returncode != 0:
            if "No such file or directory" in proc.stderr:
                return Contents(ruleset=items)
            raise command.CommandError(executor.argv(argv), proc.returncode, proc.stderr)
        items_full = json.loads(proc.stdout).get("nftables", [])
        snap = _parse(items_full, table, want, store, target_snap, with_elements=True)
    snap.ruleset = items
    return snap


def _is_table(item, table):
    """Whether an item of ``nft -j`` output is table ``inet <table>``."""
    body = item.get("table")
    return isinstance(body, dict) and body.get("family") == "inet" and body.get("name") == table


def _nft_file(executor, text, check_only=False):
    """Run ``nft [-c] -f <file>`` on ``text``."""
    fd, path = tempfile.mkstemp(prefix="nodeallow-", suffix=".nft")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        executor.run(["nft", "-c", "-f", path] if check_only else ["nft", "-f", path])
    finally:
        os.unlink(path)


def _input(want, target_snap, current):
    """What to load: element deltas when only set contents differ, else the whole table."""
    if want.rules and current.objects == target_snap.objects and current.lines == target_snap.lines:
        return render_delta(want, target_snap, current)
    return render(want)


def check(executor, want, target_snap, current):
    """Validate what :func:`apply` would load with ``nft -c`` (test=True), changing nothing."""
    _nft_file(executor, _input(want, target_snap, current), check_only=True)


def apply(executor, want, target_snap, current):
    """Bring our table from ``current`` to ``want`` in one transaction (a delta when only contents differ).

    A delta that nft refuses (someone changed the elements by hand, so an address to delete is
    gone) is followed by a full rebuild: the firewall repairs itself instead of failing.
    """
    text = _input(want, target_snap, current)
    try:
        _nft_file(executor, text)
    except command.CommandError as exc:
        if text.startswith("table "):
            raise
        log.warning("nodeallow: nft refused the element delta (%s); rebuilding table %s", exc, want.nft_table)
        _nft_file(executor, render(want))


def verify(executor, want, target_snap):  # pylint: disable=unused-argument
    """Nothing to read after an apply: nft loaded the table or the delta in one transaction, or failed.

    The transaction wrote chain ``state``'s record with the elements, so reading that record back
    (the cheap check, one more ``nft`` process) could only find what the next run finds anyway.
    """
    return {}


def apply_changes(executor, want, base, changes):
    """Put a delta's element ``changes`` in effect when the cheap check finds the firewall holding ``base``.

    Returns the names whose sets changed, or ``None`` with nothing done. ``want`` is the Desired
    after the delta, ``base`` ``{name: Allowlist}`` the copies the delta starts from, ``changes``
    ``{name: {family: (removed, added)}}`` (canonical entries). The terse listing must show
    ``want``'s objects and rules, and chain ``state`` record each address group as ``want`` has it
    or (a name of ``changes``) as ``base`` has it. Anything else (drift, another record, a table
    rebuilt by hand) and an element delta nft refuses is ``None``: the caller then takes the full
    pipeline (listing, differences, rebuild). O(changes): no set of the whole list is built.
    """
    if not want.rules:
        return None
    table = want.nft_table
    groups = want.groups()
    labels = {set_name: name for name in groups for family in (4, 6) for set_name in naming.nft_sets(name, family)}
    snap = Contents(read_back=False)
    _, recorded = _scan(_tables(executor), table, labels, snap, with_elements=False)
    objects, lines = _structure(want)
    if snap.objects != objects or snap.lines != lines:
        return None
    out = []
    changed = []
    for name, allowlist in groups.items():
        held = recorded.get(naming.nft_set(name, 4)[:-2])
        if held == _recorded(allowlist):
            continue
        if name not in changes or held != _recorded(base[name]):
            return None
        for family, (removed, added) in sorted(changes[name].items()):
            out.extend(_element_lines(f"inet {table}", name, family, removed, added))
        changed.append(name)
    if changed:
        try:
            _nft_file(executor, _with_record(out, want))
        except command.CommandError as exc:
            log.warning("nodeallow: nft refused the delta's element changes (%s); comparing in full", exc)
            return None
    return changed


def remove(executor, table):
    """Delete table ``inet <table>`` if it exists (all our nft objects live in it)."""
    if table in tables(executor):
        _nft_file(executor, f"table inet {table} {{}}\ndelete table inet {table}\n")
        return [f"nft table inet {table}"]
    return []
