# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""nodeallow on a Salt master cluster: two real salt-masters of one cluster, each with salt-api and a minion.

The cluster shares ``cluster_pki_dir`` and ``cachedir`` (so nodeallow's store), as Salt's master cluster
tutorial requires (tests/support/master_cluster.py). Salt forwards every event of one master's bus to its
peer, marked with ``__peer_id``; these tests count events on both buses to prove that one POST is
ingested once cluster-wide, applied once per minion (also on the minion of the other master), that
concurrent POSTs to the two salt-apis keep the newest sequence, and that one master's restart loses
nothing. Events without ``__peer_id`` happened on that master; the others are its peer's, forwarded.
NODEALLOW_MCLUSTER_KEEP=1 keeps the cluster's folder (every daemon's log) after the run.
"""

import concurrent.futures
import os
import secrets
import shutil
import tempfile
import time

import pytest

from tests.support.events import MasterEvents
from tests.support.hooks import HookClient
from tests.support.master_cluster import MasterCluster, wait_for
from tests.support.master_side import Publisher, encode_body

CLUSTER = "prod"
INGEST = "runner.nodeallow.ingest"
APPLY_TIMEOUT = 90
# Seconds to keep listening after the last expected event, so late duplicates would be counted.
SETTLE = 6

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="needs root: runs two salt-masters of one cluster as user root (Salt's default user), "
    "listening on 127.x.y.2 and 127.x.y.3",
)


def addresses_of(sequence):
    """The snapshot of ``sequence``: addresses that name it, so a file shows which sequence it holds."""
    return [f"10.{sequence}.0.1/32", f"10.{sequence}.0.2/32", f"2001:db8:{sequence:x}::1/128"]


def local(events, tag):
    """The events tagged ``tag`` that happened on this bus's own master (not forwarded by its peer)."""
    return [e for e in events.matching(tag) if "__peer_id" not in e["data"]]


def forwarded(events, tag):
    """The events tagged ``tag`` that the peer forwarded (Salt adds the origin's id as ``__peer_id``)."""
    return [e for e in events.matching(tag) if "__peer_id" in e["data"]]


def ingests(events):
    """``(new, returns)`` of this master's own ``nodeallow.ingest`` runner jobs seen on its bus."""
    new = [e for e in local(events, "salt/run/*/new") if e["data"].get("fun") == INGEST]
    rets = [e for e in local(events, "salt/run/*/ret") if e["data"].get("fun") == INGEST]
    return new, rets


def applied_by_minion(events, name):
    """``{minion: [sequence, ...]}`` of the ``nodeallow/applied`` events of ``name`` on this bus, in order."""
    out = {}
    for event in events.matching(f"nodeallow/applied/{name}"):
        out.setdefault(event["data"]["minion"], []).append(event["data"]["sequence"])
    return out


@pytest.fixture(scope="module")
def cluster(signing_keys):
    """The running master cluster (fresh folders), stopped and removed after this module, pass or fail."""
    workdir = tempfile.mkdtemp(prefix="na-mc-", dir="/tmp")
    system = MasterCluster(workdir, clusters={CLUSTER: signing_keys[CLUSTER]})
    try:
        system.start()
        yield system
    finally:
        try:
            system.stop()
        finally:
            if os.environ.get("NODEALLOW_MCLUSTER_KEEP") == "1":
                print(f"kept the master cluster's folder (logs): {workdir}")
            else:
                shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def allowlist(cluster):
    """The allowlist both minions subscribe to (``prod/<name>``), indexed on the shared store."""
    name = f"mc-{secrets.token_hex(3)}"
    for minion_id in cluster.minion_ids:
        cluster.pillar.subscribe(minion_id, f"{CLUSTER}/{name}")
    found = cluster.masters[0].run("nodeallow.reindex")
    assert sorted(found["subscribers"].get(f"{CLUSTER}/{name}", [])) == sorted(cluster.minion_ids), found
    return name


@pytest.fixture
def buses(cluster):
    """Live subscriptions to both masters' event buses: ``[bus of master1, bus of master2]``."""
    with MasterEvents(cluster.masters[0].opts()) as one, MasterEvents(cluster.masters[1].opts()) as two:
        yield [one, two]


def publisher(master, signing_keys):
    """A :class:`Publisher` to ``master``'s salt-api that sends its login token like a controller."""
    token = master.login()
    client = HookClient(master.api_url, timeout=30)
    client._session.headers["X-Auth-Token"] = token  # pylint: disable=protected-access
    return Publisher(client, signing_keys)


def post(master, signing_keys, allowlist, sequence):
    """POST the snapshot of ``sequence`` to ``master``'s salt-api (logged in as the controller's user)."""
    pub = publisher(master, signing_keys)
    try:
        pub.post(CLUSTER, allowlist, encode_body(CLUSTER, allowlist, sequence, addresses_of(sequence)))
    finally:
        pub.hook_client.close()


def status(master, allowlist):
    """``salt-run nodeallow.status`` on ``master`` for ``allowlist``: its stored sequence and subscribers."""
    report = master.run("nodeallow.status", f"cluster={CLUSTER}", f"allowlist={allowlist}")
    report = report.get("data", report)
    return report[f"{CLUSTER}/{allowlist}"]


def listen_until(bus, predicate, *, timeout, what):
    """Receive events on ``bus`` until ``predicate(bus)`` holds; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate(bus):
        if time.monotonic() > deadline:
            tags = [e["tag"] for e in bus.seen if "listener-ready" not in e["tag"]]
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; tags seen: {tags[-40:]}")
        bus.drain(0.5)


def settle(buses, seconds=SETTLE):
    """Keep listening on every bus for ``seconds``, so late duplicates would be counted too."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for bus in buses:
            bus.drain(0.2)


def wait_applied(cluster, allowlist, sequence, timeout=APPLY_TIMEOUT):
    """Wait until both minions' ruleset files hold exactly the addresses of ``sequence``."""
    want = set(addresses_of(sequence))
    name = f"{CLUSTER}/{allowlist}"
    for master in cluster.masters:
        wait_for(lambda m=master: m.ruleset_addresses(name) == want, timeout=timeout,
                 what=f"minion {master.minion_id} (of master {master.host}) to apply sequence {sequence}")


def test_one_post_is_ingested_once_and_applied_on_both_minions(cluster, allowlist, buses, signing_keys):
    """A POST to master1's salt-api: one ingest (on master1), one store, one apply per minion, both minions."""
    master1, master2 = cluster.masters
    bus1, bus2 = buses
    name = f"{CLUSTER}/{allowlist}"
    post(master1, signing_keys, allowlist, 1)

    stored = bus1.wait_for(f"nodeallow/stored/{name}", timeout=APPLY_TIMEOUT)
    assert "__peer_id" not in stored["data"] and stored["data"]["sequence"] == 1, stored
    copy = bus2.wait_for(f"nodeallow/stored/{name}", timeout=30)
    assert copy["data"].get("__peer_id") == master1.host, copy
    wait_applied(cluster, allowlist, 1)
    for bus in buses:
        listen_until(bus, lambda b: set(applied_by_minion(b, name)) >= set(cluster.minion_ids), timeout=30,
                     what="nodeallow/applied of both minions")
    settle(buses)

    # The hook reached both buses (Salt forwards it), but only its own master ingested it.
    assert len(local(bus1, "salt/netapi/hook/nodeallow/*")) == 1
    assert len(forwarded(bus2, "salt/netapi/hook/nodeallow/*")) == 1
    new1, rets1 = ingests(bus1)
    new2, rets2 = ingests(bus2)
    assert (len(new1), len(new2)) == (1, 0), (new1, new2)
    assert [r["data"]["return"]["result"] for r in rets1] == ["stored"], rets1
    assert rets2 == []
    assert local(bus2, f"nodeallow/stored/{name}") == []
    assert len(forwarded(bus2, "salt/run/*/new")) >= 1  # the ingest job's own event, master1's

    # One nodeallow/applied per minion on each bus (fired on one of the masters, forwarded to the other).
    for bus in buses:
        assert applied_by_minion(bus, name) == {mid: [1] for mid in cluster.minion_ids}, bus.matching("nodeallow/*")
    # The shared store: both masters report the same stored sequence and both minions at it.
    for master in cluster.masters:
        entry = status(master, allowlist)
        assert entry["sequence"] == 1, (master.host, entry)
        for mid in cluster.minion_ids:
            assert entry["subscribers"][mid]["applied_sequence"] == 1, (master.host, mid, entry)
