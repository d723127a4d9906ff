# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The master's reconcile loop under real faults: a subscriber down during publishes, a master SIGKILLed after a store.

Its own salt-master (with salt-api, the nodeallow engine and an unrelated echo reactor) and two
minions whose firewalls live in network namespaces; their nft sets are sampled every 200 ms while
the faults happen (tests/support/sampler.py).
"""

import contextlib
import os
import shutil
import signal
import statistics
import time

import psutil
import pytest
import salt.utils.event
from pytestshellutils.utils import ports
from saltfactories.utils import random_string

from saltext.nodeallow import index as subscriber_index
from saltext.nodeallow import store as nodeallow_store
from tests.master.conftest import nodeallow_master_config
from tests.support import netns as netns_support
from tests.support.events import MasterEvents, ingest_times, stamp
from tests.support.hooks import HookClient
from tests.support.master_side import PillarFiles, Publisher, encode_body
from tests.support.sampler import SetSampler

RECONCILE_INTERVAL = 10
# A healthy subscriber drops a removed address within this many seconds of the store.
REMOVAL_BOUND = 10
# The unrelated reaction must keep answering within this (the 1 s, with room for a loaded CI machine).
ECHO_BOUND = 2.0
ECHO_REACTOR = '''#!py
def run():
    """Answer nodeallow-test/echo/<n> with nodeallow-test/echoed/<n> (an unrelated reaction)."""
    return {"echo": {"runner.event.send": [{"args": [{"tag": "nodeallow-test/echoed/" + tag.split("/")[-1]}]}]}}
'''


@pytest.fixture(scope="module")
def fault_pillar(salt_factories_default_root_dir):
    """This master's pillar tree."""
    return PillarFiles(salt_factories_default_root_dir / "nodeallow-fault-pillar")


@pytest.fixture(scope="module")
def fault_master(salt_factories, signing_keys, fault_pillar, salt_factories_default_root_dir):
    """A nodeallow master with a short reconcile interval and an unrelated echo reaction."""
    echo = salt_factories_default_root_dir / "echo-reactor.sls"
    echo.write_text(ECHO_REACTOR, encoding="utf-8")
    config = nodeallow_master_config(
        ports.get_unused_localhost_port(), fault_pillar.root, signing_keys, reconcile_interval=RECONCILE_INTERVAL
    )
    config["reactor"].append({"nodeallow-test/echo/*": [str(echo)]})
    factory = salt_factories.salt_master_daemon(random_string("na-fault-"), overrides=config)
    with factory.started():
        yield factory


@pytest.fixture(scope="module")
def fault_publisher(fault_master, signing_keys):
    """A Publisher posting to ``fault_master``'s salt-api."""
    api = fault_master.salt_api_daemon()
    with api.started():
        client = HookClient(f"http://127.0.0.1:{fault_master.config['rest_cherrypy']['port']}", timeout=30)
        try:
            yield Publisher(client, signing_keys)
        finally:
            client.close()


@pytest.fixture(scope="module")
def fault_minions(fault_master, netns_available):  # pylint: disable=unused-argument
    """Two running minions of ``fault_master``, each with its firewall in its own namespace: ``{id: (factory, ns)}``."""
    with contextlib.ExitStack() as stack:
        out = {}
        for _ in range(2):
            ns = stack.enter_context(netns_support.netns())
            factory = fault_master.salt_minion_daemon(
                random_string("na-fault-minion-", uppercase=False), overrides={"nodeallow_netns": ns.name}
            )
            stack.enter_context(factory.started())
            out[factory.id] = (factory, ns)
        yield out


def reindex(master):
    """Rebuild the subscriber index after writing pillar files."""
    ret = master.salt_run_cli(timeout=120).run("nodeallow.reindex", "--out=json")
    assert ret.returncode == 0, ret
    return ret.data["subscribers"]


def wait_set(sampler, label, want, timeout):
    """Wait until ``label``'s set holds exactly ``want``; return the seconds it took."""
    started = time.monotonic()
    want = frozenset(want)
    while True:
        value = sampler.read(label)
        if value == want:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{label}'s set is {sorted(value or [])}, not {sorted(want)}, after {timeout}s")
        time.sleep(0.1)


def echo_latencies(events):
    """``({n: seconds}, [unanswered n])`` from each ``nodeallow-test/echo/<n>`` to its answer (master stamps)."""
    asked = {}
    answered = {}
    for event in events.seen:
        parts = event["tag"].split("/")
        if parts[:2] == ["nodeallow-test", "echo"]:
            asked[parts[2]] = stamp(event)
        elif parts[:2] == ["nodeallow-test", "echoed"]:
            answered[parts[2]] = stamp(event)
    return {n: answered[n] - asked[n] for n in asked if n in answered}, sorted(set(asked) - set(answered))


def status_of(master, name):
    """``nodeallow.status`` of one allowlist."""
    ret = master.salt_run_cli(timeout=120).run("nodeallow.status", "--out=json")
    assert ret.returncode == 0, ret
    return ret.data[name]


def add_ghosts(master, pillar, store, names, count):
    """Accept ``count`` minion keys that never connect (subscribers that are down), subscribed to ``names``.

    Their pillar subscribes them too, so the engine's index sweep keeps them subscribed.
    """
    folder = os.path.join(master.config["pki_dir"], "minions")
    ghosts = [f"ghost-{number}" for number in range(count)]
    for ghost in ghosts:
        shutil.copyfile(os.path.join(master.config["pki_dir"], "master.pub"), os.path.join(folder, ghost))
        pillar.subscribe(ghost, *names)
        subscriber_index.record(store, ghost, [tuple(name.split("/")) for name in names])
    return ghosts


def test_down_subscribers_never_stall_the_master_and_catch_up(
    fault_master, fault_publisher, fault_minions, fault_pillar, allowlist_name, capsys
):
    """A burst over six allowlists of two clusters, one real and six ghost subscribers down: nothing waits for them.

    The healthy minion follows every publish at once; ingest is quick; an unrelated
    reaction keeps answering and none is dropped; the stopped minion catches up after its start.
    """
    names = [f"{cluster}/{allowlist_name}-{n}" for cluster in ("prod", "staging") for n in range(3)]
    (healthy, (_, a_ns)), (down, (b_factory, b_ns)) = sorted(fault_minions.items())
    for minion_id in fault_minions:
        fault_pillar.subscribe(minion_id, *names)
    reindex(fault_master)
    store = nodeallow_store.Store(fault_master.config)
    ghosts = add_ghosts(fault_master, fault_pillar, store, names, 6)
    # Each round drops the lowest address and adds a new one.
    rounds = [[f"10.20.0.{n}/32" for n in range(r + 1, r + 4)] for r in range(5)]
    targets = {f"{m}:{name}": (ns, name) for name in names for m, ns in ((healthy, a_ns), (down, b_ns))}
    sampler = SetSampler(targets)
    for name in names:
        cluster, allowlist = name.split("/")
        fault_publisher.post(cluster, allowlist, encode_body(cluster, allowlist, 1, rounds[0]))
    for label in targets:
        try:
            wait_set(sampler, label, rounds[0], 90)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; status: {status_of(fault_master, label.split(':')[1])}") from exc

    removal = []
    posted = 0
    try:
        with MasterEvents(fault_master.config) as events, sampler, salt.utils.event.get_master_event(
            fault_master.config, fault_master.config["sock_dir"], listen=False
        ) as sender:
            # The reactor loads its runner client at its first runner reaction; ingest (the engine's) no
            # longer does that for the echo, so a warm-up keeps the load out of the figures.
            sender.fire_event({}, "nodeallow-test/echo/warm")
            events.wait_for("nodeallow-test/echoed/warm", timeout=120)
            b_factory.terminate()
            for sequence, addresses in enumerate(rounds[1:], start=2):
                started = time.monotonic()
                for number, name in enumerate(names):
                    cluster, allowlist = name.split("/")
                    fault_publisher.post(cluster, allowlist, encode_body(cluster, allowlist, sequence, addresses))
                    posted += 1
                    sender.fire_event({}, f"nodeallow-test/echo/{sequence}-{number}")
                for name in names:
                    wait_set(sampler, f"{healthy}:{name}", addresses, REMOVAL_BOUND)
                removal.append(time.monotonic() - started)
            back = time.monotonic()
            b_factory.start()
            for name in names:
                wait_set(sampler, f"{down}:{name}", rounds[-1], RECONCILE_INTERVAL + 30)
            caught_up = time.monotonic() - back
            # Let every ingest and echo of the burst finish before counting them.
            sender.fire_event({}, "nodeallow-test/echo/last")
            events.wait_for("nodeallow-test/echoed/last", timeout=30)
            held = ingest_times(events)
            echoes, unanswered = echo_latencies(events)
            echoes.pop("warm", None)
            entry_subscribers = status_of(fault_master, names[0])["subscribers"]
    finally:
        for ghost in ghosts:
            os.remove(os.path.join(fault_master.config["pki_dir"], "minions", ghost))
            fault_pillar.clear(ghost)
        subscriber_index.prune(store, sorted(fault_minions))
    sampler.assert_never_empty()
    # The ghosts stayed subscribed throughout, and behind: the master never waited for them.
    assert all(entry_subscribers[ghost]["behind"] for ghost in ghosts), entry_subscribers
    assert unanswered == [] and len(echoes) == posted + 1, (unanswered, echoes)
    assert max(echoes.values()) < ECHO_BOUND, echoes
    assert len(held) >= posted and max(held) < 2.0, held
    for name in names:
        entry = status_of(fault_master, name)
        assert entry["sequence"] == len(rounds), entry
        assert entry["subscribers"][down]["applied_sequence"] == len(rounds), entry
    with capsys.disabled():
        print(
            f"\nreconcile: {posted} publishes over {len(names)} allowlists with 7 subscribers down: the healthy "
            f"subscriber followed each round in {max(removal):.2f}s (max); ingest (hook to stored) took "
            f"{statistics.median(held):.2f}s (median), {max(held):.2f}s (max); the unrelated reaction answered "
            f"in {max(echoes.values()):.2f}s (max), none dropped; the stopped subscriber caught up "
            f"{caught_up:.1f}s after its start"
        )


def test_an_allowlist_nobody_published_holds_nothing_else(
    fault_master, fault_publisher, fault_minions, fault_pillar, allowlist_name
):
    """A minion subscribed to a published and a never-published allowlist applies the first and is not behind."""
    name = f"prod/{allowlist_name}"
    never = f"staging/{allowlist_name}"
    minion_id, (_, ns) = sorted(fault_minions.items())[0]
    fault_pillar.subscribe(minion_id, name, never)
    reindex(fault_master)
    sampler = SetSampler({minion_id: (ns, name)})
    with MasterEvents(fault_master.config) as events:
        fault_publisher.post("prod", allowlist_name, encode_body("prod", allowlist_name, 1, ["10.30.0.1/32"]))
        applied = events.wait_for(f"nodeallow/applied/prod/{allowlist_name}", timeout=120)["data"]
    assert applied["minions"][minion_id]["result"] is True, applied
    wait_set(sampler, minion_id, ["10.30.0.1/32"], 10)
    entry = status_of(fault_master, name)
    assert entry["subscribers"][minion_id]["behind"] is False, entry
    held = status_of(fault_master, never)
    assert held["stored"] is False and held["subscribers"][minion_id]["result"] is False, held


def test_a_late_return_of_an_older_job_never_moves_a_minion_back(
    fault_master, fault_publisher, fault_minions, fault_pillar, allowlist_name
):
    """The real return of sequence 1's job, delivered again after sequence 2's: the record stays at 2."""
    name = f"prod/{allowlist_name}"
    minion_id, (_, ns) = sorted(fault_minions.items())[0]
    fault_pillar.subscribe(minion_id, name)
    reindex(fault_master)
    jids = {}
    with MasterEvents(fault_master.config) as events:
        for sequence, addresses in ((1, ["10.60.0.1/32"]), (2, ["10.60.0.2/32"])):
            fault_publisher.post("prod", allowlist_name, encode_body("prod", allowlist_name, sequence, addresses))
            while True:
                data = events.wait_for(f"nodeallow/applied/prod/{allowlist_name}", timeout=120)["data"]
                if data["sequence"] == sequence:
                    jids[sequence] = data["minions"][minion_id]["jid"]
                    break
    assert jids[1] < jids[2], jids
    late = fault_master.salt_run_cli(timeout=120).run("jobs.lookup_jid", jids[1], "--out=json")
    assert late.returncode == 0 and minion_id in late.data, late
    with MasterEvents(fault_master.config) as events, salt.utils.event.get_master_event(
        fault_master.config, fault_master.config["sock_dir"], listen=False
    ) as sender:
        sender.fire_event(
            {"fun": "state.single", "jid": jids[1], "id": minion_id, "return": late.data[minion_id], "success": True},
            f"salt/job/{jids[1]}/ret/{minion_id}",
        )
        # The engine handles events in order: sequence 3's apply result comes after it saw the late return.
        fault_publisher.post("prod", allowlist_name, encode_body("prod", allowlist_name, 3, ["10.60.0.3/32"]))
        while events.wait_for(f"nodeallow/applied/prod/{allowlist_name}", timeout=120)["data"]["sequence"] != 3:
            pass
        stale = [
            e["data"] for e in events.seen
            if e["tag"] == f"nodeallow/applied/prod/{allowlist_name}" and e["data"]["sequence"] != 3
        ]
    assert stale == [], stale
    line = status_of(fault_master, name)["subscribers"][minion_id]
    assert (line["applied_sequence"], line["behind"]) == (3, False), line
    assert SetSampler({minion_id: (ns, name)}).read(minion_id) == frozenset({"10.60.0.3/32"})


def _kill_tree(pid):
    """SIGKILL a process and all its children at once (no chance to finish anything)."""
    parent = psutil.Process(pid)
    for process in [*parent.children(recursive=True), parent]:
        with contextlib.suppress(psutil.NoSuchProcess):
            os.kill(process.pid, signal.SIGKILL)


def test_a_master_killed_right_after_storing_converges_after_restart(
    fault_master, fault_publisher, fault_minions, fault_pillar, allowlist_name, capsys
):
    """SIGKILL the master the moment it announces a store: after restart every subscriber reaches that snapshot."""
    name = f"prod/{allowlist_name}"
    for minion_id in fault_minions:
        fault_pillar.subscribe(minion_id, name)
    reindex(fault_master)
    targets = {minion_id: (ns, name) for minion_id, (_, ns) in fault_minions.items()}
    sampler = SetSampler(targets)
    first, second = ["10.40.0.1/32", "10.40.0.2/32"], ["10.40.0.2/32", "10.40.0.3/32"]
    fault_publisher.post("prod", allowlist_name, encode_body("prod", allowlist_name, 1, first))
    for minion_id in fault_minions:
        wait_set(sampler, minion_id, first, 60)
    with sampler:
        with MasterEvents(fault_master.config) as events:
            fault_publisher.post("prod", allowlist_name, encode_body("prod", allowlist_name, 2, second))
            events.wait_for(f"nodeallow/stored/prod/{allowlist_name}", timeout=30)
            _kill_tree(fault_master.pid)
        killed = time.monotonic()
        fault_master.terminate()
        fault_master.start()
        restarted = time.monotonic()
        for minion_id in fault_minions:
            try:
                wait_set(sampler, minion_id, second, RECONCILE_INTERVAL + 60)
            except AssertionError as exc:
                raise AssertionError(f"{exc}; status: {status_of(fault_master, name)}") from exc
        converged = time.monotonic() - restarted
    sampler.assert_never_empty()
    entry = status_of(fault_master, name)
    assert entry["sequence"] == 2 and entry["behind"] == [], entry
    with capsys.disabled():
        print(
            f"\nreconcile: master SIGKILLed after the store; restarted in {restarted - killed:.1f}s, "
            f"every subscriber converged {converged:.1f}s after the restart"
        )
