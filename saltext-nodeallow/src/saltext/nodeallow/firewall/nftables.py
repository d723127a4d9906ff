# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""nftables backend: one table of our own, a set per allowlist and family, one atomic ``nft -f``.

Layout (docs/firewall.md): table ``inet <nft_table>`` holds sets ``a_<hash>_4`` / ``a_<hash>_6``
(``flags interval``, the allowlist's name in their comment) and base chain ``input`` (hook input,
priority filter, policy accept) whose rules reference the sets. The whole table is rebuilt in one
transaction, so no packet ever sees a half-filled set.

With the minion option ``nodeallow_ruleset_file`` (demo and development only) the ruleset is written
to that file instead of the kernel, and what was written is kept in ``<file>.json``, which stands in
for ``nft -j list table`` when reading back.
"""

import ipaddress
import json
import os
import tempfile

from saltext.nodeallow.firewall import command, naming
from saltext.nodeallow.firewall import desired as desired_mod
from saltext.nodeallow.firewall.snapshot import Snapshot, desired_addresses

NAME = "nftables"
CHAIN = "input"
_FAMILY_MATCH = {4: "ip saddr", 6: "ip6 saddr"}
_FAMILY_TYPE = {4: "ipv4_addr", 6: "ipv6_addr"}


def _ports(ranges):
    """Port ranges as an nft anonymous set: ``{ 22, 8000-8100 }``."""
    return "{ " + ", ".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ranges) + " }"


def _line(text, description):
    """``(key, description, None, text with comment)`` for one rule."""
    key = naming.short_hash(text, 12)
    return key, description, None, f'{text} comment "{naming.line_comment(key, description)}"'


def rule_lines(want):
    """The rules of our chain, in order: loopback accepts, allowlist accepts, then drops."""
    lines = []
    restrict = want.policy == "restrict"
    proto_ports = want.proto_ports()
    if restrict:
        for proto, ranges in proto_ports.items():
            desc = f"{proto}:{_ports(ranges)[2:-2].replace(' ', '')} loopback"
            lines.append(_line(f'iifname "lo" {proto} dport {_ports(ranges)} accept', desc))
    for rule in want.rules:
        for family in (4, 6):
            set_name = naming.nft_set(rule.allowlist, family)
            text = f"{rule.proto} dport {_ports(rule.ports)} {_FAMILY_MATCH[family]} @{set_name} accept"
            lines.append(_line(text, f"{rule.describe()} ipv{family}"))
    if restrict:
        for proto, ranges in proto_ports.items():
            desc = f"{proto}:{_ports(ranges)[2:-2].replace(' ', '')} restrict"
            lines.append(_line(f"{proto} dport {_ports(ranges)} drop", desc))
    return lines


def target(want):
    """The :class:`Snapshot` the kernel should show after applying ``want``."""
    if not want.rules:
        return Snapshot()
    objects = {f"nft table inet {want.nft_table}", f"nft chain inet {want.nft_table} {CHAIN}"}
    for name in want.active():
        for family in (4, 6):
            objects.add(f"nft set inet {want.nft_table} {naming.nft_set(name, family)}")
    lines = [(key, desc, src) for key, desc, src, _ in rule_lines(want)]
    return Snapshot(objects, lines, desired_addresses(want))


def render(want):
    """The ``nft -f`` input that replaces our table with ``want`` (or just deletes it)."""
    table = f"inet {want.nft_table}"
    # Creating the table first makes the delete valid when it does not exist yet; all three
    # statements are one transaction.
    out = [f"table {table} {{}}", f"delete table {table}"]
    if not want.rules:
        return "\n".join(out) + "\n"
    out.append(f"table {table} {{")
    out.append('\tcomment "managed by salt (nodeallow.managed); changes here are overwritten"')
    for name, allowlist in sorted(want.active().items()):
        for family in (4, 6):
            out.append(f"\tset {naming.nft_set(name, family)} {{")
            out.append(f"\t\ttype {_FAMILY_TYPE[family]}")
            out.append("\t\tflags interval")
            out.append(f'\t\tcomment "{name}"')
            elements = allowlist.family(family)
            if elements:
                out.append("\t\telements = {\n\t\t\t" + ",\n\t\t\t".join(elements) + "\n\t\t}")
            out.append("\t}")
    out.append(f"\tchain {CHAIN} {{")
    out.append("\t\ttype filter hook input priority filter; policy accept;")
    for _, _, _, text in rule_lines(want):
        out.append(f"\t\t{text}")
    out.append("\t}")
    out.append("}")
    return "\n".join(out) + "\n"


def _element(value, family):
    """One element of ``nft -j`` set output as a CIDR string (or several, for a range)."""
    if isinstance(value, dict) and "prefix" in value:
        return [desired_mod.parse_prefix(f"{value['prefix']['addr']}/{value['prefix']['len']}")[3]]
    if isinstance(value, dict) and "range" in value:
        low, high = (ipaddress.ip_address(x) for x in value["range"])
        return [str(n) for n in ipaddress.summarize_address_range(low, high)]
    if isinstance(value, dict) and "elem" in value:
        return _element(value["elem"]["val"], family)
    return [desired_mod.parse_prefix(str(value))[3]]


def read(runner, want):
    """Read our table back with ``nft -j list table`` into a :class:`Snapshot` (empty if absent)."""
    return read_table(runner, want.nft_table)


def read_table(runner, table):
    """Read table ``inet <table>`` into a :class:`Snapshot`."""
    if runner.ruleset_file:
        entry = _load_file_state(runner.ruleset_file).get(table)
        return _snapshot_from_json(entry) if entry else Snapshot()
    proc = runner.run(["nft", "-j", "list", "table", "inet", table], check=False)
    if proc.returncode != 0:
        if "No such file or directory" in proc.stderr:
            return Snapshot()
        raise command.CommandError(
            runner.argv(["nft", "-j", "list", "table", "inet", table]), proc.returncode, proc.stderr
        )
    snap = Snapshot(objects={f"nft table inet {table}"})
    for item in json.loads(proc.stdout).get("nftables", []):
        if "chain" in item:
            snap.objects.add(f"nft chain inet {table} {item['chain']['name']}")
        elif "set" in item:
            nft_set = item["set"]
            snap.objects.add(f"nft set inet {table} {nft_set['name']}")
            family = 6 if nft_set.get("type") == "ipv6_addr" else 4
            label = nft_set.get("comment", "")
            if naming.nft_set(label, family) != nft_set["name"]:
                label = nft_set["name"]
            entry = snap.addresses.setdefault(label, {4: set(), 6: set()})
            for elem in nft_set.get("elem", []):
                entry[family].update(_element(elem, family))
        elif "rule" in item and item["rule"].get("chain") == CHAIN:
            parsed = naming.parse_comment(item["rule"].get("comment"))
            key, desc = (
                parsed if parsed else ("unknown", f"rule handle {item['rule'].get('handle')}")
            )
            snap.lines.append((key, desc, None))
    return snap


def _nft_file(runner, text, check_only):
    """Run ``nft [-c] -f <file>`` on ``text``."""
    fd, path = tempfile.mkstemp(prefix="nodeallow-", suffix=".nft")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        runner.run(["nft", "-c", "-f", path] if check_only else ["nft", "-f", path])
    finally:
        os.unlink(path)


def _sidecar(path):
    """The JSON file that records what was last written to ruleset file ``path``."""
    return path + ".json"


def _snapshot_to_json(snap):
    """``snap`` as JSON-serialisable data (sets become sorted lists)."""
    return {
        "objects": sorted(snap.objects),
        "lines": [list(line) for line in snap.lines],
        "addresses": {
            name: {str(f): sorted(fams.get(f, ())) for f in (4, 6)}
            for name, fams in sorted(snap.addresses.items())
        },
    }


def _snapshot_from_json(data):
    """The :class:`Snapshot` recorded by :func:`_snapshot_to_json`."""
    return Snapshot(
        set(data["objects"]),
        [tuple(line) for line in data["lines"]],
        {name: {f: set(fams[str(f)]) for f in (4, 6)} for name, fams in data["addresses"].items()},
    )


def _load_file_state(path):
    """``{table: {"text", "snapshot"...}}`` last written to ruleset file ``path`` (empty if none)."""
    sidecar = _sidecar(path)
    try:
        with open(sidecar, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"cannot read {sidecar} (the record of nodeallow_ruleset_file): {exc}; "
            "delete it and the ruleset file to start again"
        ) from exc
    tables = data.get("tables") if isinstance(data, dict) and data.get("format") == 1 else None
    if not isinstance(tables, dict):
        raise ValueError(
            f"{sidecar} is not a nodeallow ruleset record (format 1); "
            "delete it and the ruleset file to start again"
        )
    try:
        for entry in tables.values():
            _snapshot_from_json(entry)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"{sidecar} has a malformed table record ({exc!r}); delete it") from exc
    return tables


def _write_atomically(path, text):
    """Replace ``path`` with ``text`` (mode 0644) so readers see the old or the new file, never half."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".nodeallow-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _write_file_state(path, tables):
    """Write the ruleset of all ``tables`` to ``path`` and their snapshots to the sidecar."""
    text = "".join(entry["text"] for _, entry in sorted(tables.items()))
    _write_atomically(path, text)
    _write_atomically(
        _sidecar(path), json.dumps({"format": 1, "tables": tables}, indent=1, sort_keys=True) + "\n"
    )


def apply(runner, want):
    """Replace our table with ``want`` in one transaction, after ``nft -c`` validated it."""
    text = render(want)
    if runner.ruleset_file:
        tables = _load_file_state(runner.ruleset_file)
        tables.pop(want.nft_table, None)
        if want.rules:
            tables[want.nft_table] = {"text": text, **_snapshot_to_json(target(want))}
        _write_file_state(runner.ruleset_file, tables)
        return
    _nft_file(runner, text, check_only=True)
    _nft_file(runner, text, check_only=False)


def remove(runner, table):
    """Delete table ``inet <table>`` if it exists (all our nft objects live in it)."""
    if not read_table(runner, table).is_empty():
        stub = desired_mod.Desired("nftables", "restrict", table, [], {}, [])
        if runner.ruleset_file:
            apply(runner, stub)
        else:
            _nft_file(runner, render(stub), check_only=False)
        return [f"nft table inet {table}"]
    return []
