# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Read what a minion's kernel really enforces: the nodeallow nft table inside its network namespace."""

import ipaddress
import json
import subprocess

from saltext.nodeallow.firewall import naming

TABLE = naming.DEFAULT_NFT_TABLE


class FirewallError(RuntimeError):
    """nft could not list the ruleset of a namespace."""


def list_table_argv(netns):
    """The command a user runs to see the table: ``ip netns exec <ns> nft list table inet nodeallow``."""
    return ["ip", "netns", "exec", netns, "nft", "list", "table", "inet", TABLE]


def list_table(netns):
    """Return ``nft list table inet nodeallow`` of ``netns`` as text ("" when the table does not exist)."""
    argv = list_table_argv(netns)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0:
        if "No such file or directory" in proc.stderr:
            return ""
        raise FirewallError(f"`{' '.join(argv)}` failed: {proc.stderr.strip()}")
    return proc.stdout


def table_json(netns):
    """Return nft's JSON listing of table ``inet nodeallow`` in ``netns``, or None when the table does not exist."""
    argv = ["ip", "netns", "exec", netns, "nft", "-j", "list", "table", "inet", TABLE]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0:
        if "No such file or directory" in proc.stderr:
            return None
        raise FirewallError(f"`{' '.join(argv)}` failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def sets(netns):
    """Return {set name: frozenset of canonical CIDR strings} of our table in ``netns`` ({} without a table)."""
    listing = table_json(netns)
    out = {}
    for item in (listing or {}).get("nftables", []):
        nft_set = item.get("set")
        if nft_set:
            out[nft_set["name"]] = frozenset(_element(e) for e in nft_set.get("elem", []))
    return out


def allowed(netns, allowlist):
    """Return the CIDRs (IPv4 and IPv6) the minion in ``netns`` allows for ``allowlist`` ("cluster/name")."""
    current = sets(netns)
    return frozenset().union(
        *(current.get(name, frozenset()) for family in (4, 6) for name in naming.nft_sets(allowlist, family))
    )


def canonical(addresses):
    """The canonical CIDR strings of ``addresses`` (``192.0.2.1`` becomes ``192.0.2.1/32``)."""
    return frozenset(str(ipaddress.ip_network(a, strict=False)) for a in addresses)


def _element(elem):
    """One element of nft's JSON set listing as a canonical CIDR string."""
    if isinstance(elem, dict) and "prefix" in elem:
        return str(ipaddress.ip_network(f"{elem['prefix']['addr']}/{elem['prefix']['len']}"))
    if isinstance(elem, dict) and "range" in elem:
        low, high = (ipaddress.ip_address(x) for x in elem["range"])
        nets = list(ipaddress.summarize_address_range(low, high))
        return ",".join(str(n) for n in nets)
    if isinstance(elem, dict) and "elem" in elem:
        return _element(elem["elem"]["val"])
    return str(ipaddress.ip_network(str(elem)))


def file_text(path):
    """Return the ruleset a minion wrote to its ``nodeallow_ruleset_file`` ("" before its first apply)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        return ""


def file_sets(path):
    """Return {set name: frozenset of canonical CIDR strings} of the nft ruleset text in file ``path``.

    Parsed from the text itself (``set <name> {`` ... ``elements = { a, b }``), not from the backend's own
    record, so the demo and tests see what a later ``nft -f <path>`` would load.
    """
    out = {}
    current = None
    collecting = False
    for line in file_text(path).splitlines():
        line = line.strip()
        if line.startswith("set ") and line.endswith("{"):
            current = line.split()[1]
            out[current] = set()
        elif current and line.startswith("elements = {"):
            collecting = True
            line = line[len("elements = {"):]
        if collecting:
            done = "}" in line
            for item in line.split("}")[0].split(","):
                if item.strip():
                    out[current].add(str(ipaddress.ip_network(item.strip(), strict=False)))
            if done:
                collecting = False
        elif current and line == "}":
            current = None
    return {name: frozenset(values) for name, values in out.items()}


def allowed_in_file(path, allowlist):
    """Return the CIDRs (IPv4 and IPv6) the ruleset file ``path`` allows for ``allowlist`` ("cluster/name")."""
    current = file_sets(path)
    return frozenset().union(
        *(current.get(name, frozenset()) for family in (4, 6) for name in naming.nft_sets(allowlist, family))
    )
