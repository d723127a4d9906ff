# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Self-repair on a real minion: the engine ``nodeallow`` (watcher) puts back what others delete or flush.

A master of this module's own and one minion with the engine enabled as docs/firewall.md shows, its
firewall in a namespace linked to a client namespace. After each event (done with the real nft, ipset
and iptables-restore, no publish or state run) a prober connects every 200 ms from an allowlisted and
an outside address: the outside one gets through only inside the repair window, the allowlisted one is
refused at most for the repair bound (10 s). The last test stops the master first.
"""

import contextlib
import json
import pathlib
import time

import pytest
import yaml
from saltfactories.utils import random_string

from saltext.nodeallow.firewall import naming
from tests.support import firewall as fw
from tests.support import netns as netns_support
from tests.support import probe
from tests.support.events import MasterEvents

HOST4, GOOD, BAD = "10.201.0.1", "10.201.0.2", "10.201.0.3"
PORT = 5432
OTHERS = ["10.201.0.10/32", "10.201.0.11/32", "10.201.0.12/32", "10.201.0.13/32"]
BOUND = 10.0
DOC = pathlib.Path(__file__).resolve().parents[3] / "docs" / "firewall.md"


def documented_minion_config():
    """The minion config docs/firewall.md shows in "Self-repair" (the yaml block naming minion.d/nodeallow.conf)."""
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("### Self-repair") :]
    block = section[section.index("```yaml\n") + len("```yaml\n") :]
    block = block[: block.index("```")]
    assert "minion.d/nodeallow.conf" in block, block
    return yaml.safe_load(block)


@pytest.fixture(scope="module")
def repair_master(salt_factories):
    """A salt-master of this module only (the last test stops it)."""
    factory = salt_factories.salt_master_daemon(
        random_string("na-repair-master-", uppercase=False), overrides={"interface": "127.0.0.1", "worker_threads": 3}
    )
    with factory.started():
        yield factory


@pytest.fixture(scope="module")
def repair_ns(netns_available):  # pylint: disable=unused-argument
    """The minion's namespace."""
    with netns_support.netns() as ns:
        yield ns


@pytest.fixture(scope="module")
def repair_minion(repair_master, repair_ns):
    """A minion with the watcher enabled, its firewall in ``repair_ns``."""
    factory = repair_master.salt_minion_daemon(
        random_string("na-repair-minion-", uppercase=False),
        overrides={"nodeallow_netns": repair_ns.name, **documented_minion_config()},
    )
    with factory.started():
        yield factory


@pytest.fixture(scope="module")
def client(repair_ns):
    """The client namespace (a :class:`tests.support.probe.Link`) with the allowlisted and the outside address."""
    with probe.Link(repair_ns, (HOST4,), (GOOD, BAD), (PORT,)) as link:
        yield link


def pillar(backend, sequence=1, extra=()):
    """One rule on port 5432 for prod/workers, which lists GOOD (and ``extra``)."""
    return {
        "nodeallow": {
            "backend": backend,
            "rules": [{"allowlist": "prod/workers", "ports": [5432]}],
            "allowlists": {
                "prod/workers": {
                    "cluster": "prod",
                    "allowlist": "workers",
                    "sequence": sequence,
                    "addresses": sorted([f"{GOOD}/32", *extra], key=lambda a: tuple(map(int, a[:-3].split(".")))),
                    "retired": False,
                }
            },
        }
    }


def held(verdict):
    """The firewall holds: the allowlisted address gets through, the outside one does not."""
    return verdict[GOOD] and not verdict[BAD]


@pytest.fixture
def applied(repair_master, repair_minion, client):
    """``applied(backend, extra=())``: the state applied (it removes another backend's objects); returns the prober."""
    apply = fw.state_applier(repair_master.salt_cli(timeout=60), repair_minion)
    with contextlib.ExitStack() as stack:

        def start(backend, extra=()):
            ret = apply(pillar(backend, extra=extra))
            assert ret["result"] is True, ret
            prober = stack.enter_context(client.sampling([(GOOD, HOST4), (BAD, HOST4)], PORT))
            prober.wait(held, 10, "the applied firewall")
            return prober, apply

        yield start


def minion_log(minion, lines=40):
    """The last lines of the minion's log that mention nodeallow or an engine (for failure messages)."""
    try:
        with open(minion.config["log_file"], encoding="utf-8", errors="replace") as fh:
            found = [line.rstrip()[:400] for line in fh if "nodeallow watcher" in line or "engines.nodeallow" in line]
    except OSError as exc:
        return f"(no minion log: {exc})"
    return "\n".join(found[-lines:])


def repair_window(prober, event_at, minion=None):
    """Seconds from the event until the firewall held again for good (the last wrong sample ends the window)."""
    try:
        prober.wait(held, BOUND + 5, "the repaired firewall")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nminion log:\n{minion_log(minion) if minion else ''}") from None
    time.sleep(1.0)
    after = prober.since(event_at)
    wrong = [t for t, v in after if not held(v)]
    assert held(after[-1][1]), after[-5:]
    return (wrong[-1] - event_at + probe.INTERVAL) if wrong else 0.0


def assert_within_bound(prober, event_at, window, outside_may_pass):
    """The outside address got through only inside the window, and only after events that deleted our drop."""
    assert window <= BOUND, f"repaired after {window:.1f}s, bound {BOUND}s"
    passed = [t - event_at for t, v in prober.since(event_at) if v[BAD]]
    if not outside_may_pass:
        assert not passed, f"the outside address got through at {passed}"
    assert all(t <= window for t in passed), passed


NFT_EVENTS = {
    "table deleted": (["nft", "delete", "table", "inet", "nodeallow"], True),
    "ruleset flushed": (["nft", "flush", "ruleset"], True),
    "set flushed": (["nft", "flush", "set", "inet", "nodeallow", naming.nft_set("prod/workers", 4)], False),
    "element deleted": (
        ["nft", "delete", "element", "inet", "nodeallow", naming.nft_set("prod/workers", 4), "{", GOOD, "}"],
        False,
    ),
}


@pytest.mark.parametrize("event", sorted(NFT_EVENTS))
def test_nftables_is_put_back_after(applied, repair_ns, repair_minion, event):
    """Each event is repaired within the bound, with no state run, and the master hears of it."""
    prober, _ = applied("nftables")
    argv, opens = NFT_EVENTS[event]
    repair_ns.run(argv)
    event_at = time.monotonic()
    window = repair_window(prober, event_at, repair_minion)
    assert_within_bound(prober, event_at, window, opens)
    print(f"\nrepair window after {event}: {window:.2f}s")


# A formula's iptables rules, loaded without --noflush: every filter chain is replaced, ours is gone.
FORMULA = (
    "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
    "-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n"
)


@pytest.mark.parametrize(
    "backend, event",
    [("ipset", "ipset flushed"), ("ipset", "iptables chains replaced"), ("iptables", "iptables chains replaced")],
)
def test_xtables_backends_are_put_back_after(applied, repair_ns, backend, event):
    """ipset (polled) and the iptables chains (iptables-restore of a formula) are repaired within the bound."""
    prober, _ = applied(backend)
    if event == "ipset flushed":
        repair_ns.run(["ipset", "flush", naming.ipset("prod/workers", 4)])
    else:
        repair_ns.run(["iptables-restore"], input_text=FORMULA)
    event_at = time.monotonic()
    window = repair_window(prober, event_at)
    assert_within_bound(prober, event_at, window, event != "ipset flushed")
    print(f"\nrepair window after {event} ({backend}): {window:.2f}s")


def test_a_flushed_set_is_refilled_before_the_next_state_run_and_publish(applied, repair_master, repair_ns):
    """The issue's case: flush the set, then a state run and a publish (one address added) keep every address."""
    with MasterEvents(repair_master.config) as events:
        prober, apply = applied("nftables", extra=OTHERS)
        repair_ns.run(["nft", "flush", "set", "inet", "nodeallow", naming.nft_set("prod/workers", 4)])
        event_at = time.monotonic()
        window = repair_window(prober, event_at)
        assert window <= BOUND
        event = events.wait_for("nodeallow/minion/repaired", timeout=30)
    repair = event["data"]["data"]["repair"]
    assert event["data"]["id"], event
    assert any("put back" in line for line in repair["summary"]), repair
    assert apply(pillar("nftables", extra=OTHERS))["result"] is True
    ret = apply(pillar("nftables", sequence=2, extra=[*OTHERS, "10.201.0.14/32"]))
    assert ret["result"] is True, ret
    sets = fw.nft_sets(repair_ns)
    assert sets[("prod/workers", "ipv4_addr")] == {f"{GOOD}/32", *OTHERS, "10.201.0.14/32"}


def test_repair_works_while_the_master_is_down(applied, repair_master, repair_ns, repair_minion):
    """With the master stopped (no pillar, no jobs), a deleted table still comes back within the bound."""
    prober, _ = applied("nftables")
    repair_master.terminate()
    try:
        repair_ns.run(["nft", "delete", "table", "inet", "nodeallow"])
        event_at = time.monotonic()
        window = repair_window(prober, event_at)
        assert_within_bound(prober, event_at, window, True)
        print(f"\nrepair window with the master down: {window:.2f}s")
        store = fw.last_good_path(repair_minion)
        with open(store, encoding="utf-8") as fh:
            assert json.load(fh)["format"] == 3
    finally:
        repair_master.start()
