# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""nodeallow beside real host firewalls: firewalld, ufw and an /etc/nftables.conf, with a real minion.

One minion (its firewall in a namespace, ``nodeallow_netns``) gets its pillar from the session master's
pillar files. The host firewall runs in the same namespace: firewalld (nftables backend, with a D-Bus
system bus of its own) and ufw (iptables-nft) inside a private mount namespace whose copies of their
files hide the host's (tests/support/sandbox.py), the nftables.conf from a temporary file. The admin's
steps are the commands and files docs/firewall.md shows ("Beside your host firewall"). An allowlisted
and an outside client namespace, each on a link of its own, connect every 200 ms (tests/support/reach.py)
while the host firewall is reloaded: the allowlisted one gets through, the outside one does not, and
after each reload both hold again within the repair bound. Before the port is opened in the host
firewall, the state's comment and ``nodeallow.show`` name the table and chain that drop it.

The host's input filtering and the firewalls' host files are checked to be unchanged afterwards. Timings
of the fixtures (firewalld start, reloads) are printed at the end of the module (``-s`` shows them).
"""

import importlib.util
import time

import pytest
import yaml

from tests.support import firewall as fw
from tests.support import hostfirewalls as hf
from tests.support import netns as netns_support
from tests.support import reach
from tests.support.master_side import PillarFiles
from tests.support.sandbox import HostGuard, Sandbox, netns_for_sandbox

PORT = 5432
# The repair bound of the issue: after a reload both clients hold again within this many seconds.
BOUND = 10.0
REPAIR_MODULE = "saltext.nodeallow.firewall.repair"
NO_REPAIR = (
    f"{REPAIR_MODULE} (the minion's self-repair watcher) is not in this tree: without it a reload that "
    "deletes nodeallow's table (flush ruleset) leaves the port open until the next state run"
)


def repair_available():
    """Whether the self-repair watcher is part of the extension under test."""
    return importlib.util.find_spec(REPAIR_MODULE) is not None


def self_repair_config():
    """The minion config docs/firewall.md shows for self-repair (``{}`` without the watcher)."""
    if not repair_available():
        return {}
    text = hf.DOC.read_text(encoding="utf-8")
    section = text[text.index("### Self-repair") :]
    block = section[section.index("```yaml\n") + len("```yaml\n") :]
    return yaml.safe_load(block[: block.index("```")])


@pytest.fixture(scope="module")
def timings():
    """``{what: seconds or [seconds]}`` of the fixtures, printed when the module ends (CI's budget)."""
    collected = {}
    yield collected
    print("\nhost firewall timings (s):")
    for what, value in collected.items():
        values = value if isinstance(value, list) else [value]
        print(f"  {what}: " + ", ".join(f"{v:.2f}" for v in values))


@pytest.fixture(scope="module", autouse=True)
def host_unchanged():
    """The host's input filtering and the firewalls' host files are the same after the module as before."""
    guard = HostGuard()
    yield
    changes = guard.changes()
    assert not changes, "\n".join(changes)


@pytest.fixture(scope="module")
def host_ns(netns_available):  # pylint: disable=unused-argument
    """The minion's namespace, where the host firewall runs too."""
    reason = hf.missing() or netns_for_sandbox()
    if reason:
        pytest.skip(reason)
    with netns_support.netns() as ns:
        yield ns


@pytest.fixture(scope="module")
def net(host_ns):
    """The allowlisted and the outside client, linked to the minion's namespace; a listener on the port."""
    with reach.clients(host_ns, ports=(PORT,)) as clients:
        yield clients


@pytest.fixture(scope="module")
def hf_minion(minion_factory, host_ns):
    """A real minion whose firewall commands run in ``host_ns`` (with the self-repair engine when present)."""
    return minion_factory(overrides={"nodeallow_netns": host_ns.name, **self_repair_config()})


@pytest.fixture(scope="module")
def pillar_files(salt_master):
    """The session master's pillar files (``top.sls`` includes ``minions/<id>.sls`` when it exists)."""
    return PillarFiles(salt_master.config["pillar_roots"]["base"][0])


@pytest.fixture
def host(host_ns, hf_minion, net):  # pylint: disable=unused-argument
    """The minion's namespace emptied (nft, hence iptables-nft too) and its store removed, before each test."""
    host_ns.run(["nft", "flush", "ruleset"])
    fw.remove_last_good(hf_minion)
    return host_ns


@pytest.fixture
def sandbox(host):
    """A private mount namespace in the minion's network namespace, for firewalld or ufw."""
    with Sandbox(host) as box:
        yield box


@pytest.fixture
def state(salt_cli, hf_minion, pillar_files, net):
    """``state()`` runs ``nodeallow.managed`` on the minion with its pillar (one rule, the allowlisted client)."""
    pillar_files.set(
        hf_minion.id,
        {
            "nodeallow": {
                "rules": [{"allowlist": "prod/workers", "proto": "tcp", "ports": [PORT], "comment": "postgres"}],
                "allowlists": {
                    "prod/workers": {
                        "cluster": "prod",
                        "allowlist": "workers",
                        "sequence": 1,
                        "addresses": net["allowlisted"].cidrs(),
                        "retired": False,
                    }
                },
            }
        },
    )

    def run():
        ret = salt_cli.run("state.single", "nodeallow.managed", "name=nodeallow", minion_tgt=hf_minion.id)
        assert isinstance(ret.data, dict) and fw.STATE_ID in ret.data, ret
        return ret.data[fw.STATE_ID]

    yield run
    pillar_files.clear(hf_minion.id)


@pytest.fixture
def show(salt_cli, hf_minion):
    """``show()``: ``nodeallow.show`` on the minion (its pillar compiled afresh)."""

    def run():
        ret = salt_cli.run("nodeallow.show", minion_tgt=hf_minion.id)
        assert ret.returncode == 0 and isinstance(ret.data, dict), ret
        return ret.data

    return run


def reaches(net):
    """``{(label, family): bool}``: one connection from each client and family, now."""
    return {(label, family): reach.connects(client, family, PORT) for label, client in net.items() for family in (4, 6)}


def assert_restricts(net):
    """The allowlisted client gets through (IPv4 and IPv6), the outside one does not."""
    assert reaches(net) == {
        ("allowlisted", 4): True, ("allowlisted", 6): True, ("outside", 4): False, ("outside", 6): False
    }


def assert_warned(ret, shown, table, chain):
    """The state's comment and ``nodeallow.show`` warn that ``table`` ``chain`` drops the port."""
    assert ret["result"] is True, ret
    needle = f"table {table} chain {chain} "
    lines = [line for line in ret["comment"].splitlines() if line.startswith("warning: ")]
    assert any(needle in line and f"tcp {PORT} " in line and "prod/workers" in line for line in lines), ret["comment"]
    assert any(needle in text for text in shown["warnings"]), shown["warnings"]


def assert_not_warned(ret, shown):
    """Neither the state's comment nor ``nodeallow.show`` warns."""
    assert ret["result"] is True, ret
    assert "warning:" not in ret["comment"], ret["comment"]
    assert shown["warnings"] == [], shown["warnings"]


def reload_twice(host, net, reload, deletes_ours, timings, what):
    """Reload the host firewall twice while sampling; check both clients held, and within the bound after each."""
    events = []
    with reach.Sampler(net, PORT) as sampler:
        reach.settle(sampler, time.monotonic(), BOUND)
        for number in (1, 2):
            start = time.monotonic()
            reload()
            end = time.monotonic()
            events.append((f"{what} #{number}", start, end, deletes_ours))
            timings.setdefault(f"{what}: until both hold again", []).append(reach.settle(sampler, end, BOUND))
        reach.assert_only_in_windows(sampler, events, BOUND)
    assert ("inet", "nodeallow") in fw.nft_tables(host)
    assert_restricts(net)


def test_firewalld_zone_without_the_port_is_reported(host, sandbox, net, state, show, timings):
    """firewalld's zone rejects the port: the warning names its table and chain; the docs' commands open it."""
    daemon = hf.Firewalld(sandbox)
    daemon.start()
    timings.update({f"firewalld {k}": v for k, v in daemon.timings.items()})

    assert_warned(state(), show(), "inet firewalld", "filter_INPUT")
    assert not any(reaches(net).values()), "firewalld's zone rejects the port for everyone"

    for argv in hf.commands(hf.doc_block("sh", "firewall-cmd")):
        daemon.run(argv)
    timings["firewalld reload (docs)"] = daemon.timings["reload"]
    assert_not_warned(state(), show())
    assert_restricts(net)


def test_firewalld_reload_keeps_the_restriction(host, sandbox, net, state, timings):
    """``firewall-cmd --reload`` rebuilds firewalld's tables only: both clients hold throughout."""
    daemon = hf.Firewalld(sandbox)
    daemon.start()
    for argv in hf.commands(hf.doc_block("sh", "firewall-cmd")):
        daemon.run(argv)
    assert state()["result"] is True
    assert_restricts(net)
    reload_twice(host, net, daemon.reload, False, timings, "firewall-cmd --reload")
    timings["firewall-cmd --reload"] = daemon.timings["reload"][1:]


def start_ufw(sandbox, timings):
    """ufw as the admin had it: default deny incoming, enabled."""
    daemon = hf.Ufw(sandbox)
    daemon.start()
    began = time.monotonic()
    for argv in hf.commands(hf.UFW_SETUP):
        daemon.run(argv)
    timings["ufw default deny + enable"] = time.monotonic() - began
    return daemon


def test_ufw_without_the_port_is_reported(host, sandbox, net, state, show, timings):
    """ufw's default deny drops the port: the warning names both INPUT chains; the docs' commands allow it."""
    daemon = start_ufw(sandbox, timings)

    ret, shown = state(), show()
    assert_warned(ret, shown, "ip filter", "INPUT")
    assert_warned(ret, shown, "ip6 filter", "INPUT")
    assert not any(reaches(net).values()), "ufw drops the port for everyone"

    for argv in hf.commands(hf.doc_block("sh", "ufw allow")):
        daemon.run(argv)
    assert_not_warned(state(), show())
    assert_restricts(net)


def test_ufw_reload_keeps_the_restriction(host, sandbox, net, state, timings):
    """``ufw reload`` rewrites ufw's chains only: both clients hold throughout."""
    daemon = start_ufw(sandbox, timings)
    for argv in hf.commands(hf.doc_block("sh", "ufw allow")):
        daemon.run(argv)
    assert state()["result"] is True
    assert_restricts(net)
    reload_twice(host, net, daemon.reload, False, timings, "ufw reload")
    timings["ufw reload"] = daemon.timings["reload"]


def nftables_conf(host, tmp_path, flush_ruleset=True, port_open=True):
    """The docs' /etc/nftables.conf (``flush ruleset``, or the docs' flush of its own table), loaded."""
    text = hf.doc_block("nft", "flush ruleset")
    if not flush_ruleset:
        text = text.replace("flush ruleset\n", hf.doc_block("nft", "delete table inet filter"))
    conf = hf.NftablesConf(host, tmp_path, text if port_open else hf.without_port(text, PORT))
    conf.start()
    return conf


def test_nftables_conf_without_the_port_is_reported(host, tmp_path, net, state, show):
    """A policy-drop input chain without the port: the warning names it; the docs' file lets it through."""
    nftables_conf(host, tmp_path, port_open=False)
    assert_warned(state(), show(), "inet filter", "input")
    assert not any(reaches(net).values()), "the input chain drops the port for everyone"

    nftables_conf(host, tmp_path)  # flush ruleset: nodeallow's table is gone until the state runs
    assert_not_warned(state(), show())
    assert_restricts(net)


def test_nftables_conf_reload_without_flush_ruleset_keeps_the_restriction(host, tmp_path, net, state, timings):
    """The docs' variant flushes its own table only: ``nft -f`` reloads leave nodeallow's alone."""
    conf = nftables_conf(host, tmp_path, flush_ruleset=False)
    assert state()["result"] is True
    assert_restricts(net)
    reload_twice(host, net, conf.reload, False, timings, "nft -f nftables.conf (own table)")
    timings["nft -f nftables.conf (own table)"] = conf.timings["reload"]


@pytest.mark.skipif(not repair_available(), reason=NO_REPAIR)
def test_nftables_conf_reload_with_flush_ruleset_is_repaired(host, tmp_path, net, state, timings):
    """``flush ruleset`` deletes nodeallow's table with each reload; the watcher restores it within the bound."""
    conf = nftables_conf(host, tmp_path)
    assert state()["result"] is True
    assert_restricts(net)
    reload_twice(host, net, conf.reload, True, timings, "nft -f nftables.conf (flush ruleset)")
    timings["nft -f nftables.conf (flush ruleset)"] = conf.timings["reload"]
