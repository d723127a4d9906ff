# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Benchmark: what a publish costs the salt-master per subscriber, and when the last subscriber has it.

A real salt-master (with the nodeallow engine) and salt-api, real minions whose nftables firewalls live in
network namespaces of their own, all subscribed to one allowlist. Signed snapshots are POSTed to salt-api in
chunks of the controller's size; measured are the salt-master's process tree CPU time (the master and every
process it forked: reactor, engine, workers; not salt-factories' event forwarder, which only tests run) from
before the first chunk until the last subscriber's ``nodeallow/applied`` event, and the wall time from
salt-api's answer to the last chunk to each subscriber's applied event (its ``_stamp``), with the steps in
between (stored, apply job published, last return). First the whole snapshot, then ``RUNS`` changes of 100
addresses (50 out, 50 in), with 4 and then 8 subscribers (issue 25). Before each publish the benchmark waits
until no job is in flight and every subscriber applied the stored sequence, and any failed apply stops it:
a measurement that overlaps an earlier publish's jobs (or their retries) measures both. The CPU of each change
is also shown by Salt process title (e.g. ``MWorker``): where the master's time went. The daemons log as
Salt's packages do (warning), not every debug record as salt-factories would (saltconfig.production_logging).

Each run starts a master with ``nodeallow:deltas`` off (every subscriber gets the full apply, as before
deltas) and one with it on. Quick by default (``make test``: deltas on, 1,000 addresses, 2 subscribers, one
change); ``NODEALLOW_BENCH=1`` runs docs/benchmarks.md's matrix (10,000 and 100,000 addresses, 4 and 8
subscribers, both modes, medians of 3); ``NODEALLOW_BENCH_SIZES``, ``NODEALLOW_BENCH_SUBSCRIBERS``,
``NODEALLOW_BENCH_MODES`` (``full,deltas``) and ``NODEALLOW_BENCH_RUNS`` pick others.
"""

import collections
import contextlib
import os
import re
import statistics
import time

import psutil
import pytest
from pytestshellutils.utils import ports
from saltfactories.utils import random_string

from saltext.nodeallow import index as subscriber_index
from saltext.nodeallow import store as nodeallow_store
from tests.master.conftest import nodeallow_master_config
from tests.support import netns as netns_support
from tests.support import saltconfig
from tests.support.events import MasterEvents, stamp
from tests.support.hooks import HookClient
from tests.support.master_side import PillarFiles, Publisher, chunked_bodies

FULL = bool(os.environ.get("NODEALLOW_BENCH"))
SIZES = tuple(int(n) for n in os.environ.get("NODEALLOW_BENCH_SIZES", "").split(",") if n) or (
    (10000, 100000) if FULL else (1000,)
)
SUBSCRIBERS = tuple(int(n) for n in os.environ.get("NODEALLOW_BENCH_SUBSCRIBERS", "").split(",") if n) or (
    (4, 8) if FULL else (2,)
)
RUNS = int(os.environ.get("NODEALLOW_BENCH_RUNS", "3" if FULL else "1"))
# The master's nodeallow:deltas setting per run: off is the full apply for every subscriber (before deltas).
MODES = tuple(os.environ.get("NODEALLOW_BENCH_MODES", "full,deltas" if FULL else "deltas").split(","))
# Addresses per body: the controller's 256 KiB chunks hold about this many IPv4 host routes.
PER_CHUNK = 15000
CHANGED = 100
# salt-factories' event forwarder (the engine that hands every master event to the test process): a test
# harness cost no production master has, shown but not counted in the master's CPU.
HARNESS = "event forwarder (salt-factories)"
# The jobs a publish starts on its subscribers: the delta, or the full apply.
APPLY_FUNCTIONS = ("nodeallow.apply_delta", "state.single", "state.apply")
# Seconds to wait for every subscriber's applied event, and for the master to have no job in flight.
APPLY_TIMEOUT = 300
# The master's apply_timeout here: a loaded 2-core machine can take longer than the default 20 s to bring
# a 100,000-address full snapshot to 8 minions, and an expired job is retried (a second full apply) in the
# middle of what is measured next. Costs are measured here, not timeouts (tests/master/test_apply.py).
MASTER_APPLY_TIMEOUT = 240


def addresses(count, shift=0):
    """``count`` canonical IPv4 host routes (numeric order), starting ``shift`` addresses further on."""
    return [f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}/32" for n in range(shift, count + shift)]


def changed(previous):
    """``previous`` with its first CHANGED/2 addresses out and CHANGED/2 new ones in at its end."""
    last = previous[-1].split("/")[0].split(".")
    after = (int(last[1]) << 16) + (int(last[2]) << 8) + int(last[3]) + 1
    return previous[CHANGED // 2 :] + addresses(CHANGED // 2, after)


@pytest.fixture(scope="module", params=MODES)
def bench_setup(request, salt_factories, signing_keys, salt_factories_default_root_dir, netns_available):
    """A nodeallow master with salt-api and max(SUBSCRIBERS) minions, each firewalled in a namespace of its own."""
    pillar = PillarFiles(salt_factories_default_root_dir / f"nodeallow-bench-subscribers-pillar-{request.param}")
    config = nodeallow_master_config(
        ports.get_unused_localhost_port(),
        pillar.root,
        signing_keys,
        deltas=request.param == "deltas",
        apply_timeout=MASTER_APPLY_TIMEOUT,
    )
    config.update(saltconfig.production_logging("master"))
    factory = salt_factories.salt_master_daemon(random_string("na-subs-"), overrides=config)
    with contextlib.ExitStack() as stack:
        stack.enter_context(factory.started())
        stack.enter_context(factory.salt_api_daemon().started())
        minions = []
        for _ in range(max(SUBSCRIBERS)):
            ns = stack.enter_context(netns_support.netns())
            minion = factory.salt_minion_daemon(
                random_string("na-subs-minion-", uppercase=False),
                overrides={"nodeallow_netns": ns.name, **saltconfig.production_logging("minion")},
            )
            stack.enter_context(minion.started())
            minions.append(minion)
        yield factory, pillar, minions, request.param


def master_cpu(master):
    """``{process: CPU seconds}`` of the salt-master's process tree so far, by Salt's process title.

    Children that exited are in their parent's ``children_*``. Salt's title (the words after the
    command line's options, cut to the length of the original command line) without its numbers
    groups Salt's processes (``MWorker-default-2`` -> ``MWorker-default``), so a bench shows where the
    CPU went. The engines' titles are cut too short to tell them apart, so the nodeallow engine is
    found by its module and salt-factories' event forwarder (:data:`HARNESS`) by its connection to the
    test's event listener.
    """
    listener = master.config["pytest-master"]["returner_address"]["port"]
    proc = psutil.Process(master.pid)
    cpu = collections.Counter()
    for each in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = each.cpu_times()
            words = [word for word in each.cmdline() if word]
            options = [i for i, word in enumerate(words) if word.startswith("-")]
            title = " ".join(words[options[-1] + 1 :] if options else words[:1]) or "?"
            if any(c.raddr and c.raddr.port == listener for c in each.net_connections("tcp")):
                title = HARNESS
            elif title.startswith("Engine(salt.loaded.ext"):
                title = "nodeallow engine"
            elif title.startswith("Engine(salt.loaded.int"):
                title = "reactor"
            title = re.sub(r"[-_:]?\d+(:\d+)?$", "", title.split()[-1] if title.startswith("RequestServer") else title)
            cpu[title] += times.user + times.system + times.children_user + times.children_system
    return cpu


def settled(store, name, sequence, minion_ids):
    """Wait until no job is in flight on the master and every one of ``minion_ids`` applied ``sequence`` of ``name``.

    Fails (never measures an overlap) when that takes longer than APPLY_TIMEOUT or an apply failed.
    """
    cluster, allowlist = name.split("/")
    deadline = time.monotonic() + APPLY_TIMEOUT
    while True:
        busy = {m: s["job"].get("jid") for m, s in store.get_minions().items() if s.get("job")}
        applies = store.get_applies(cluster, allowlist)
        failed = {m: applies[m].get("comment") for m in minion_ids if applies.get(m, {}).get("result") is False}
        assert not failed, f"applies of {name} failed, the measurement is void: {failed}"
        behind = [m for m in minion_ids if applies.get(m, {}).get("sequence") != sequence]
        if not busy and not behind:
            return
        if time.monotonic() > deadline:
            pytest.fail(
                f"{name} sequence {sequence} not settled after {APPLY_TIMEOUT} s (jobs in flight {busy}, "
                f"behind {behind}): measuring the next publish would overlap these jobs"
            )
        time.sleep(0.2)


def publish(master, store, publisher, events, name, sequence, listed, subscribers):
    """Post one snapshot in chunks to the ``subscribers`` (minion factories) of ``name``; return what it cost.

    ``(master CPU s, first applied s, last applied s, master CPU by process, steps, minion CPU per subscriber s)``,
    times after salt-api's answer to the last chunk. Starts once the master is idle (:func:`settled`); an apply
    that fails on the way fails the benchmark.
    """
    cluster, allowlist = name.split("/")
    minion_ids = [minion.id for minion in subscribers]
    settled(store, name, sequence - 1, minion_ids if sequence > 1 else [])
    before = master_cpu(master)
    minions_before = sum(tree_cpu(minion.pid) for minion in subscribers)
    for body in chunked_bodies(cluster, allowlist, sequence, listed, PER_CHUNK):
        publisher.post(cluster, allowlist, body)
    acknowledged = time.time()
    applied = {}
    deadline = time.monotonic() + APPLY_TIMEOUT
    while set(applied) != set(minion_ids):
        event = events.wait_for(f"nodeallow/applied/{name}", timeout=max(1.0, deadline - time.monotonic()))
        if event["data"]["minion"] in minion_ids and event["data"]["result"] is not True:
            failure = event["data"]["minions"].get(event["data"]["minion"], {}).get("comment")
            pytest.fail(f"{event['data']['minion']} failed to apply {name} during the measurement: {failure}")
        for minion_id, result in event["data"]["minions"].items():
            if result["sequence"] == sequence and result["result"] is True and minion_id not in applied:
                applied[minion_id] = stamp(event) - acknowledged
    after = master_cpu(master)
    where = {title: after[title] - before.get(title, 0.0) for title in after}
    own = sum(cpu for title, cpu in where.items() if title != HARNESS)
    per_minion = (sum(tree_cpu(minion.pid) for minion in subscribers) - minions_before) / len(subscribers)
    timeline = steps(events, name, sequence, acknowledged)
    return own, min(applied.values()), max(applied.values()), where, timeline, per_minion


def tree_cpu(pid):
    """CPU seconds of process ``pid`` and its children so far (those that exited are in ``children_*``)."""
    total = 0.0
    with contextlib.suppress(psutil.Error):
        proc = psutil.Process(pid)
        for each in [proc, *proc.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = each.cpu_times()
                total += times.user + times.system + times.children_user + times.children_system
    return total


def steps(events, name, sequence, acknowledged):
    """Seconds from salt-api's answer to each step of one publish on the master bus (master stamps).

    ``last hook`` (salt-api's event of the last chunk), ``stored`` (the outcome event), ``job`` (the first
    apply job published after it), ``returned``
    (the last subscriber's return of such a job): where the time to the last subscriber went.
    """
    stored = [stamp(e) for e in events.matching(f"nodeallow/stored/{name}") if e["data"]["sequence"] == sequence]
    if not stored:
        return {}
    hooks = [stamp(e) for e in events.matching(f"salt/netapi/hook/nodeallow/{name}") if stamp(e) <= stored[0]]
    jobs = [
        e for e in events.matching("salt/job/*/new")
        if e["data"].get("fun") in APPLY_FUNCTIONS and stamp(e) >= stored[0]
    ]
    jids = {e["data"]["jid"] for e in jobs}
    returns = [stamp(e) for e in events.matching("salt/job/*/ret/*") if e["tag"].split("/")[2] in jids]
    out = {"last hook": hooks[-1] - acknowledged, "stored": stored[0] - acknowledged} if hooks else {}
    out["stored"] = stored[0] - acknowledged
    if jobs:
        out["job"] = min(stamp(e) for e in jobs) - acknowledged
    if returns:
        out["returned"] = max(returns) - acknowledged
    return out


@pytest.mark.parametrize("size", SIZES)
def test_what_a_publish_costs_the_master_per_subscriber(bench_setup, signing_keys, size, capsys):
    """Full snapshot, then 100-address changes, to 4 and 8 subscribers: master CPU and time to the last one."""
    master, pillar, minions, mode = bench_setup
    store = nodeallow_store.Store(master.config)
    client = HookClient(f"http://127.0.0.1:{master.config['rest_cherrypy']['port']}", timeout=120)
    publisher = Publisher(client, signing_keys)
    rows = []
    try:
        for count in SUBSCRIBERS:
            name = f"prod/bench-{size}-{count}-{random_string('', uppercase=False)[:6]}"
            chosen = minions[:count]
            for minion in minions:
                if minion in chosen:
                    pillar.subscribe(minion.id, name)
                    subscriber_index.record(store, minion.id, [tuple(name.split("/"))])
                else:
                    pillar.clear(minion.id)
                    subscriber_index.record(store, minion.id, [])
            listed = addresses(size)
            with MasterEvents(master.config) as events:
                full = publish(master, store, publisher, events, name, 1, listed, chosen)
                deltas = []
                for run in range(RUNS):
                    listed = changed(listed)
                    deltas.append(publish(master, store, publisher, events, name, 2 + run, listed, chosen))
            rows.append((size, count, full, deltas))
    finally:
        client.close()
        for minion in minions:
            pillar.clear(minion.id)
            subscriber_index.record(store, minion.id, [])
    with capsys.disabled():
        print(f"\nwhat a publish costs the salt-master ({size} addresses, {mode}; changes: median of {RUNS})")
        print("subscribers | publish | master CPU (s) | first applied (s) | last applied (s) | after salt-api's answer")
        for _, count, full, deltas in rows:
            print(f"{count:11d} | full    | {full[0]:14.2f} | {full[1]:17.2f} | {full[2]:16.2f} |")
            median = [statistics.median(d[i] for d in deltas) for i in range(3)]
            print(f"{count:11d} | {CHANGED} chg | {median[0]:14.2f} | {median[1]:17.2f} | {median[2]:16.2f} |"
                  f" runs: {[round(d[0], 2) for d in deltas]} s CPU")
            where = {t: statistics.median(d[3].get(t, 0.0) for d in deltas) for t in {t for d in deltas for t in d[3]}}
            busiest = sorted(where.items(), key=lambda item: -item[1])[:8]
            print("            where (median s): " + ", ".join(f"{t} {cpu:.3f}" for t, cpu in busiest)
                  + f" (not counted: {HARNESS})")
            timeline = {
                k: statistics.median(d[4][k] for d in deltas if k in d[4])
                for k in ("last hook", "stored", "job", "returned")
                if any(k in d[4] for d in deltas)
            }
            print("            after salt-api's answer (median s): "
                  + ", ".join(f"{k} {v:.2f}" for k, v in timeline.items()) + f", last applied {median[2]:.2f};"
                  f" minion CPU per subscriber {statistics.median(d[5] for d in deltas):.3f} s")
        if len(rows) >= 2:
            (_, c1, _, d1), (_, c2, _, d2) = rows[0], rows[-1]
            per = (statistics.median(d[0] for d in d2) - statistics.median(d[0] for d in d1)) / (c2 - c1)
            print(f"master CPU per extra subscriber, {CHANGED} changed: {per * 1000:.0f} ms ({size} addresses)")
