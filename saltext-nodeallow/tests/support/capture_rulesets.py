# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Capture the terse rulesets (``nft -j -t list ruleset``) of real host firewalls beside nodeallow.

The unit tests of ``firewall/hostfirewall.py`` (tests/unit/test_hostfirewall.py) read what this writes to
tests/unit/data/hostfirewalls/: for each host firewall of docs/firewall.md ("Beside your host firewall")
the ruleset before the admin opened the port (``*-closed``) and after (``*-open``), with nodeallow's
objects applied by the real engine (:data:`PILLAR`, nftables backend unless the name says otherwise).
Each file keeps the docs' text it was made from, so a unit test notices when the docs change.

Run as root, in saltext-nodeallow/ (takes about half a minute)::

    flock /tmp/nodeallow-heavy.lock env PYTHONPATH=../bin/saltext-site:. ../bin/venv/bin/python \\
        -m tests.support.capture_rulesets tests/unit/data/hostfirewalls
"""

import json
import os
import sys
import tempfile

from saltext.nodeallow.firewall import engine
from tests.support import hostfirewalls as hf
from tests.support import netns as netns_support
from tests.support.sandbox import HostGuard, Sandbox

PORT = 5432
PILLAR = {
    "rules": [{"allowlist": "prod/workers", "proto": "tcp", "ports": [PORT]}],
    "allowlists": {
        "prod/workers": {
            "cluster": "prod",
            "allowlist": "workers",
            "sequence": 1,
            "addresses": ["10.200.1.2/32", "fd00:201::2/128"],
            "retired": False,
        }
    },
}


def _apply(ns, cachedir, backend="nftables"):
    """Apply :data:`PILLAR` with the real engine inside ``ns``."""
    ret = engine.managed({"cachedir": cachedir, "nodeallow_netns": ns.name}, dict(PILLAR, backend=backend))
    if ret["result"] is not True:
        raise RuntimeError(f"nodeallow did not apply: {ret['comment']}")


def _save(outdir, name, ns, source):
    """Write ``<outdir>/<name>.json``: the docs' ``source`` text and the terse ruleset of ``ns``."""
    items = json.loads(ns.run(["nft", "-j", "-t", "list", "ruleset"]).stdout)["nftables"]
    with open(os.path.join(outdir, f"{name}.json"), "w", encoding="utf-8") as fh:
        fh.write(dump(name, source, items))
    print(f"wrote {name}.json ({len(items)} items)")


def dump(name, source, items):
    """The file's text: one JSON object, one ruleset item per line (small, and diffs read well)."""
    head = json.dumps({"scenario": name, "source": source})[:-1]
    return head + ', "nftables": [\n' + ",\n".join(json.dumps(item, sort_keys=True) for item in items) + "\n]}\n"


def firewalld(outdir, ns, cachedir):
    """firewalld's default zone, then the docs' commands that open the port."""
    opening = hf.doc_block("sh", "firewall-cmd")
    with Sandbox(ns) as sandbox:
        daemon = hf.Firewalld(sandbox)
        daemon.start()
        _apply(ns, cachedir)
        _save(outdir, "firewalld-closed", ns, opening)
        for argv in hf.commands(opening):
            daemon.run(argv)
        _save(outdir, "firewalld-open", ns, opening)


def ufw(outdir, ns, cachedir, backend="nftables"):
    """ufw with default deny, then the docs' commands that allow the port."""
    opening = hf.doc_block("sh", "ufw allow")
    suffix = "" if backend == "nftables" else f"-{backend}"
    with Sandbox(ns) as sandbox:
        daemon = hf.Ufw(sandbox)
        daemon.start()
        for argv in hf.commands(hf.UFW_SETUP):
            daemon.run(argv)
        _apply(ns, cachedir, backend)
        _save(outdir, f"ufw{suffix}-closed", ns, opening)
        for argv in hf.commands(opening):
            daemon.run(argv)
        _save(outdir, f"ufw{suffix}-open", ns, opening)


def nftables_conf(outdir, ns, cachedir):
    """The docs' /etc/nftables.conf without and with the port's accept."""
    text = hf.doc_block("nft", "flush ruleset")
    for name, conf in (("nftables-conf-closed", hf.without_port(text, PORT)), ("nftables-conf-open", text)):
        hf.NftablesConf(ns, cachedir, conf).start()
        _apply(ns, cachedir)
        _save(outdir, name, ns, text)


def iptables_formula(outdir, ns, cachedir):
    """The docs' rules.v4 loaded with iptables-restore, without and with the port's accept."""
    text = hf.doc_block("text", "*filter")
    for name, rules in (("iptables-formula-closed", hf.without_port(text, PORT)), ("iptables-formula-open", text)):
        ns.run(["iptables-restore"], input_text=rules)
        _apply(ns, cachedir)
        _save(outdir, name, ns, text)


def main(outdir):
    """Capture every scenario, each in a namespace of its own; check the host did not change."""
    os.makedirs(outdir, exist_ok=True)
    guard = HostGuard()
    for capture in (firewalld, ufw, nftables_conf, iptables_formula):
        with netns_support.netns() as ns, tempfile.TemporaryDirectory(prefix="nodeallow-capture-") as cachedir:
            capture(outdir, ns, cachedir)
    with netns_support.netns() as ns, tempfile.TemporaryDirectory(prefix="nodeallow-capture-") as cachedir:
        ufw(outdir, ns, cachedir, backend="iptables")
    changes = guard.changes()
    if changes:
        raise SystemExit("the host changed during the capture:\n" + "\n".join(changes))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/unit/data/hostfirewalls")
