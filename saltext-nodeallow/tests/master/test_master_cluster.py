# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""nodeallow on a Salt master cluster: two real salt-masters of one cluster, each with salt-api and a minion.

The cluster shares ``cluster_pki_dir`` and ``cachedir`` (so nodeallow's store), as Salt's master cluster
tutorial requires (tests/support/master_cluster.py). Salt forwards every event of one master's bus to its
peer, marked with ``__peer_id``; these tests count events on both buses to prove that one POST is
ingested once cluster-wide, applied once per minion (also on the minion of the other master), that
concurrent POSTs to the two salt-apis keep the newest sequence, and that one master's restart loses
nothing. Events without ``__peer_id`` happened on that master; the others are its peer's, forwarded.
Both engines handle every return and reconnect; the tests check one job per need, cluster-wide.
NODEALLOW_MCLUSTER_KEEP=1 keeps the cluster's folder (every daemon's log) after the run.
"""

import concurrent.futures
import os
import secrets
import shutil
import tempfile
import time

import pytest

from saltext.nodeallow import compat, reconcile
from saltext.nodeallow import store as nodeallow_store
from tests.support.events import MasterEvents
from tests.support.hooks import HookClient
from tests.support.master_cluster import MasterCluster, wait_for
from tests.support.master_side import Publisher, encode_body

CLUSTER = "prod"
APPLY_TIMEOUT = 90
# Seconds to keep listening after the last expected event, so late duplicates would be counted.
SETTLE = 6

pytestmark = [
    pytest.mark.skipif(
        os.geteuid() != 0,
        reason="needs root: runs two salt-masters of one cluster as user root (Salt's default user), "
        "listening on 127.x.y.2 and 127.x.y.3",
    ),
    # Salt 3006 (NODEALLOW_SALT=3006 hack/test-python.sh) has no master clusters.
    pytest.mark.skipif(not compat.has_master_cluster(), reason=str(compat.master_cluster_missing())),
]


def addresses_of(sequence):
    """The snapshot of ``sequence``: addresses that name it, so a file shows which sequence it holds."""
    return [f"10.{sequence}.0.1/32", f"10.{sequence}.0.2/32", f"2001:db8:{sequence:x}::1/128"]


def local(events, tag):
    """The events tagged ``tag`` that happened on this bus's own master (not forwarded by its peer)."""
    return [e for e in events.matching(tag) if "__peer_id" not in e["data"]]


def forwarded(events, tag):
    """The events tagged ``tag`` that the peer forwarded (Salt adds the origin's id as ``__peer_id``)."""
    return [e for e in events.matching(tag) if "__peer_id" in e["data"]]


def ingested(events, name):
    """The outcomes of this master's own ingests of ``name`` (one ``nodeallow/<outcome>`` event per body) on its bus."""
    outcomes = []
    for event in local(events, f"nodeallow/*/{name}"):
        kind = event["tag"].split("/")[1]
        if kind in ("stored", "retired", "chunk", "rejected"):
            outcomes.append(kind)
        elif kind == "unchanged":
            outcomes.append(event["data"]["outcome"])
    return outcomes


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
        try:
            system.start()
        except Exception as exc:
            tails = "\n".join(master.log_tail() for master in system.masters)
            raise AssertionError(f"the master cluster did not start: {exc}\n{tails}") from exc
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


def assert_status(cluster, allowlist, sequence):
    """Both masters' ``nodeallow.status`` (one shared store): ``sequence`` stored, both minions applied it."""
    for master in cluster.masters:
        entry = status(master, allowlist)
        applied = {mid: entry["subscribers"][mid]["applied_sequence"] for mid in cluster.minion_ids}
        assert (entry["sequence"], applied) == (sequence, dict.fromkeys(cluster.minion_ids, sequence)), (
            master.host,
            entry,
        )


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


def jobs_started(buses, minion_id):
    """Apply jobs (the full apply or a delta) started for ``minion_id`` anywhere in the cluster (each on its bus)."""
    functions = (reconcile.STATE_FUNCTION, reconcile.DELTA_FUNCTION)
    return [
        e
        for bus in buses
        for e in local(bus, "salt/job/*/new")
        if e["data"].get("fun") in functions and minion_id in (e["data"].get("minions") or [])
    ]


def recent_job(master, minion_id, within=10):
    """The job in flight for ``minion_id`` in the shared store if it started in the last ``within`` s, else None."""
    job = nodeallow_store.Store(master.opts()).get_minions().get(minion_id, {}).get("job")
    return job if job and job.get("started", 0) > time.time() - within else None


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
    assert ingested(bus1, name) == ["stored"], bus1.matching("nodeallow/*")
    assert ingested(bus2, name) == [], bus2.matching("nodeallow/*")
    # master2 saw master1's store only as a forwarded event.
    copies = forwarded(bus2, f"nodeallow/stored/{name}")
    assert [e["data"]["__peer_id"] for e in copies] == [master1.host], copies

    # One apply job per minion cluster-wide (started on one master; the other master delivers it to m2).
    for mid in cluster.minion_ids:
        assert len(jobs_started(buses, mid)) == 1, (mid, jobs_started(buses, mid))
    # One nodeallow/applied per minion on each bus (fired on one of the masters, forwarded to the other).
    for bus in buses:
        assert applied_by_minion(bus, name) == {mid: [1] for mid in cluster.minion_ids}, bus.matching("nodeallow/*")
    # The shared store: both masters report the same stored sequence and both minions at it.
    assert_status(cluster, allowlist, 1)


def test_concurrent_posts_to_both_apis_keep_the_newest(cluster, allowlist, buses, signing_keys):
    """Sequences N to master1's salt-api and N+1 to master2's at once: N+1 is stored and applied, never N after."""
    master1, master2 = cluster.masters
    name = f"{CLUSTER}/{allowlist}"
    older, newer = 10, 11
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        posts = [pool.submit(post, master1, signing_keys, allowlist, older),
                 pool.submit(post, master2, signing_keys, allowlist, newer)]
        for future in posts:
            future.result()
    wait_applied(cluster, allowlist, newer)
    for bus in buses:
        listen_until(bus, lambda b: all(newer in seqs for seqs in applied_by_minion(b, name).values())
                     and len(applied_by_minion(b, name)) == 2, timeout=30, what=f"nodeallow/applied of {newer}")
    settle(buses)

    # One ingest per POST, each on the master whose salt-api took it.
    outcomes1, outcomes2 = ingested(buses[0], name), ingested(buses[1], name)
    assert outcomes2 == ["stored"], outcomes2
    assert outcomes1 in (["stored"], ["older"]), outcomes1
    # Stored in order: N (if it came first) before N+1, on one master or the other.
    stored = sorted((e["data"]["_stamp"], e["data"]["sequence"]) for bus in buses
                    for e in local(bus, f"nodeallow/stored/{name}"))
    assert [seq for _, seq in stored] in ([newer], [older, newer]), stored
    # Each bus, per minion: never N after N+1, and N+1 last.
    duplicates = {}
    for i, bus in enumerate(buses):
        for mid, sequences in applied_by_minion(bus, name).items():
            assert sequences[-1] == newer and older not in sequences[sequences.index(newer):], (mid, sequences)
            if sequences not in ([newer], [older, newer]):
                duplicates[f"master{i + 1} bus, {mid}"] = sequences
    assert_status(cluster, allowlist, newer)
    for master in cluster.masters:
        assert master.ruleset_addresses(name) == set(addresses_of(newer)), master.minion_id
    # Both engines see the return of N's job; only one of them starts the follow-up.
    assert not duplicates, f"a follow-up apply was started twice: {duplicates}"


def test_restart_of_one_master_loses_nothing(cluster, allowlist, signing_keys):
    """master2 stops: master1 still applies to m1; master2 back, m2 catches up; master1's jobs stay its own."""
    master1, master2 = cluster.masters
    name = f"{CLUSTER}/{allowlist}"
    sequence = 20
    master2.stop_master()
    with MasterEvents(master1.opts()) as bus1:
        post(master1, signing_keys, allowlist, sequence)
        stored = bus1.wait_for(f"nodeallow/stored/{name}", timeout=APPLY_TIMEOUT)
        assert stored["data"]["sequence"] == sequence, stored
        wait_for(lambda: master1.ruleset_addresses(name) == set(addresses_of(sequence)), timeout=APPLY_TIMEOUT,
                 what=f"minion {master1.minion_id} to apply {sequence} while master2 is down")
    # m2 cannot be reached now (its master is down): it is behind, and a job master1 started for it is in
    # flight (started recently, so it still is when master2's engine starts and forgets its own lost jobs).
    assert master2.ruleset_addresses(name) != set(addresses_of(sequence))
    job = wait_for(lambda: recent_job(master1, master2.minion_id), timeout=60,
                   what=f"a job in flight for {master2.minion_id} started by master1 in the last 10 s")
    assert job["master"] == master1.host, job
    log = master2.dir / "log" / "master"
    log_offset = log.stat().st_size

    master2.start_master()
    cluster.wait_ready(master2)
    wait_for(lambda: master2.ruleset_addresses(name) == set(addresses_of(sequence)), timeout=APPLY_TIMEOUT,
             what=f"minion {master2.minion_id} to catch up on {sequence} after master2's restart")
    assert_status(cluster, allowlist, sequence)
    # The restarted engine forgot only jobs master2 started (none were in flight), not master1's job.
    with log.open(encoding="utf-8", errors="replace") as fh:
        fh.seek(log_offset)
        after = fh.read()
    forgot = [line for line in after.splitlines() if "nodeallow: re-applying on " in line]
    assert forgot == [], job


def test_one_reconnect_starts_one_catch_up_job_per_event(cluster, allowlist, buses, signing_keys):
    """m1 is down during a POST; back, it is caught up by one job per reconnect event, cluster-wide.

    A reconnect fires ``salt/auth`` and, a moment later, ``salt/minion/<id>/start``; a job published
    between the two can miss the minion, so each may start one. Both events reach both masters' engines:
    without the event's time deciding which job it clears, that made up to four jobs.
    """
    master1, master2 = cluster.masters
    name = f"{CLUSTER}/{allowlist}"
    sequence = 30
    master1.minion.stop(timeout=1)  # SIGKILL after 1 s: a crash, and faster than its 10 s clean stop
    post(master2, signing_keys, allowlist, sequence)
    wait_for(lambda: master2.ruleset_addresses(name) == set(addresses_of(sequence)), timeout=APPLY_TIMEOUT,
             what=f"minion {master2.minion_id} to apply {sequence} while {master1.minion_id} is down")
    settle(buses, 2)
    before = {e["data"]["jid"] for e in jobs_started(buses, master1.minion_id)}
    master1.minion.start()
    wait_for(lambda: master1.ruleset_addresses(name) == set(addresses_of(sequence)), timeout=APPLY_TIMEOUT,
             what=f"minion {master1.minion_id} to catch up on {sequence} after its restart")
    settle(buses)
    catch_up = [e for e in jobs_started(buses, master1.minion_id) if e["data"]["jid"] not in before]
    assert 1 <= len(catch_up) <= 2, [(e["data"]["jid"], e["data"].get("__peer_id", "local")) for e in catch_up]
