# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Read the nodeallow state's kernel objects back inside a test namespace, independently of the backends."""

import ipaddress
import json
import os
import shlex

from saltext.nodeallow.protocol import canonical


def cidr(value):
    """A kernel listing's address (``10.0.0.1`` or ``10.0.0.0/24``) as canonical CIDR text."""
    return str(ipaddress.ip_network(value))


def nft_sets(ns, table="nodeallow"):
    """``{(comment, "ipv4_addr"|"ipv6_addr"): set of CIDRs}`` of the sets in ``inet <table>``.

    An allowlist has a host set and a prefix set per family, both with its name as comment: the
    value is their union.
    """
    out = {}
    for item in ns.nft_ruleset()["nftables"]:
        nft_set = item.get("set")
        if nft_set and nft_set["family"] == "inet" and nft_set["table"] == table:
            elements = set()
            for elem in nft_set.get("elem", []):
                if isinstance(elem, dict):
                    elements.add(f"{elem['prefix']['addr']}/{elem['prefix']['len']}")
                else:
                    elements.add(cidr(elem))
            out.setdefault((nft_set.get("comment"), nft_set["type"]), set()).update(elements)
    return out


def nft_tables(ns):
    """``{(family, name)}`` of all nft tables in the namespace."""
    return {
        (item["table"]["family"], item["table"]["name"])
        for item in ns.nft_ruleset()["nftables"]
        if "table" in item
    }


def nft_rules(ns, table="nodeallow", chain="input"):
    """The rules of ``inet <table> <chain>`` as ``nft list`` text lines."""
    proc = ns.run(["nft", "list", "chain", "inet", table, chain], check=False)
    if proc.returncode != 0:
        return []
    return [line.strip() for line in proc.stdout.splitlines() if "comment" in line]


def ipsets(ns):
    """``{name: (family, set of CIDRs)}`` of all ipsets in the namespace."""
    sets = {}
    for line in ns.ipset_save().splitlines():
        parts = line.split()
        if parts and parts[0] == "create":
            sets[parts[1]] = ("inet6" if "inet6" in parts else "inet", set())
        elif parts and parts[0] == "add":
            sets[parts[1]][1].add(cidr(parts[2]))
    return sets


def chain_rules(save_text, chain="NODEALLOW"):
    """The ``-A <chain>`` lines of iptables-save output, parsed with shlex."""
    return [shlex.split(line) for line in save_text.splitlines() if line.startswith(f"-A {chain} ")]


def option(args, name):
    """The value after ``name`` in parsed rule arguments, or ``None``."""
    return args[args.index(name) + 1] if name in args else None


def sources(save_text):
    """The ``-s`` addresses of our chain's rules, as canonical CIDRs."""
    return {cidr(option(args, "-s")) for args in chain_rules(save_text) if "-s" in args}


def has_jump(save_text):
    """Whether INPUT jumps to our chain."""
    return "-A INPUT -j NODEALLOW" in save_text.splitlines()


def without_comments(save_text):
    """iptables-save output without its ``#`` lines (they carry the time of the dump)."""
    return [line for line in save_text.splitlines() if not line.startswith("#")]


# Accepts TCP connections on the given ports (dual stack) until killed; run inside a namespace.
LISTENER = """
import select, socket, sys
socks = []
for port in map(int, sys.argv[1:]):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port))
    s.listen(64)
    socks.append(s)
print("ready", flush=True)
while True:
    for s in select.select(socks, [], [])[0]:
        s.accept()[0].close()
"""

# Connects from a given source address; exit status 0 when the connection is established.
CONNECTOR = """
import socket, sys
src, dst, port, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
family = socket.AF_INET6 if ":" in dst else socket.AF_INET
s = socket.socket(family, socket.SOCK_STREAM)
s.settimeout(timeout)
s.bind((src, 0))
s.connect((dst, port))
"""


def tcp_connects(ns, source, destination, port, timeout=1.0):
    """Whether a TCP connection from ``source`` (inside ``ns``) to ``destination:port`` succeeds."""
    import sys  # pylint: disable=import-outside-toplevel

    proc = ns.run(
        [sys.executable, "-c", CONNECTOR, source, destination, port, timeout],
        check=False,
        timeout=timeout + 10,
    )
    return proc.returncode == 0


STATE_ID = "nodeallow_|-nodeallow_|-nodeallow_|-managed"


def state_applier(salt_cli, minion):
    """``apply(pillar_data, test=False, audit=False)``: run ``nodeallow.managed`` on ``minion``, return its return."""

    def apply(data, test=False, audit=False):
        args = ["state.single", "nodeallow.managed", "name=nodeallow", f"pillar={json.dumps(data)}"]
        if test:
            args.append("test=True")
        if audit:
            args.append("audit=True")
        ret = salt_cli.run(*args, minion_tgt=minion.id)
        assert isinstance(ret.data, dict) and STATE_ID in ret.data, ret
        return ret.data[STATE_ID]

    return apply


def last_good_path(minion):
    """The path of ``minion``'s last-known-good store."""
    return os.path.join(minion.config["cachedir"], "nodeallow", "last-good.json")


def age_last_audit(minion):
    """Make ``minion``'s last full read-back look older than any audit interval."""
    with open(last_good_path(minion), encoding="utf-8") as fh:
        data = json.load(fh)
    data["audited"] = 0
    with open(last_good_path(minion), "w", encoding="utf-8") as fh:
        json.dump(data, fh)


def remove_last_good(minion):
    """Delete ``minion``'s last-known-good store, so a test starts without one."""
    store = os.path.join(minion.config["cachedir"], "nodeallow", "last-good.json")
    if os.path.exists(store):
        os.unlink(store)


def pillar_record(name, sequence, addresses):
    """The pillar record of allowlist ``name`` (``cluster/allowlist``) at ``sequence``, as the master stores it."""
    cluster, allowlist = name.split("/")
    return {
        "cluster": cluster,
        "allowlist": allowlist,
        "sequence": sequence,
        "digest": canonical.digest(addresses),
        "generated_at": f"2026-12-08T10:00:{sequence:02d}Z",
        "addresses": list(addresses),
        "retired": False,
    }
