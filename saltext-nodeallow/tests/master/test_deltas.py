# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Deltas with a real master, salt-api and minions whose nftables firewalls live in network namespaces.

The first publish to a subscriber is the full apply; the next ones are ``nodeallow.apply_delta``
jobs; a minion whose last-known-good store was wiped, or whose delta does not hash to the snapshot's
digest, answers ``need_full`` and gets the full apply right after. Meanwhile the sets are sampled:
never empty, sequences in order.
"""

import contextlib
import os

import pytest
from pytestshellutils.utils import ports
from saltfactories.utils import random_string

from saltext.nodeallow import store as nodeallow_store
from saltext.nodeallow.firewall import lastgood
from tests.master.conftest import nodeallow_master_config
from tests.master.test_apply import nft_set
from tests.support import netns as netns_support
from tests.support.events import MasterEvents
from tests.support.hooks import HookClient
from tests.support.master_side import PillarFiles, Publisher, applies, encode_body
from tests.support.sampler import SetSampler

APPLY_TIMEOUT = 180


@pytest.fixture(scope="module")
def delta_system(salt_factories, signing_keys, salt_factories_default_root_dir, netns_available):
    """A nodeallow master with ``deltas: true``, its salt-api and two minions firewalled in namespaces of their own."""
    pillar = PillarFiles(salt_factories_default_root_dir / "nodeallow-deltas-pillar")
    config = nodeallow_master_config(ports.get_unused_localhost_port(), pillar.root, signing_keys, deltas=True)
    master = salt_factories.salt_master_daemon(random_string("na-deltas-"), overrides=config)
    with contextlib.ExitStack() as stack:
        stack.enter_context(master.started())
        stack.enter_context(master.salt_api_daemon().started())
        minions = []
        for _ in range(2):
            ns = stack.enter_context(netns_support.netns())
            minion = master.salt_minion_daemon(
                random_string("na-deltas-minion-", uppercase=False), overrides={"nodeallow_netns": ns.name}
            )
            stack.enter_context(minion.started())
            minions.append((minion, ns))
        client = stack.enter_context(
            contextlib.closing(HookClient(f"http://127.0.0.1:{master.config['rest_cherrypy']['port']}", timeout=30))
        )
        yield master, pillar, minions, Publisher(client, signing_keys)


def hosts(first, count):
    """``count`` canonical IPv4 host routes from 10.20.<first // 256>.<first % 256>."""
    return [f"10.20.{n // 256}.{n % 256}/32" for n in range(first, first + count)]


def publish_and_wait(publisher, events, cluster, allowlist, sequence, addresses, minion_ids):
    """Post one snapshot; return ``{minion_id: apply result}`` once every minion applied it."""
    publisher.post(cluster, allowlist, encode_body(cluster, allowlist, sequence, addresses))
    done = {}
    while set(done) != set(minion_ids):
        data = events.wait_for(f"nodeallow/applied/{cluster}/{allowlist}", timeout=APPLY_TIMEOUT)["data"]
        for minion_id, result in data["minions"].items():
            if result["sequence"] == sequence and result["result"] is True:
                done[minion_id] = result
    return done


def test_deltas_flow_and_every_fallback_ends_in_the_full_apply(delta_system, allowlist_name):
    """Full, then deltas; a wiped store and a digest mismatch fall back to the full apply; the sets never empty."""
    master, pillar_files, two_minions, publisher = delta_system
    nodeallow_master = master
    name = f"prod/{allowlist_name}"
    ids = [minion.id for minion, _ in two_minions]
    for minion_id in ids:
        pillar_files.subscribe(minion_id, name, ports=(5432,))
    ret = master.salt_run_cli(timeout=120).run("nodeallow.reindex", "--out=json")
    assert ret.returncode == 0, ret
    master_store = nodeallow_store.Store(master.config)
    targets = {minion.id: (ns, name) for minion, ns in two_minions}
    lists = [hosts(0, 300), hosts(5, 300), hosts(10, 300), hosts(15, 300), hosts(20, 300)]

    with MasterEvents(master.config) as na_events, SetSampler(targets) as sampler:
        first = publish_and_wait(publisher, na_events, "prod", allowlist_name, 1, lists[0], ids)
        assert all(not r["comment"].startswith("Firewall updated by delta") for r in first.values()), first

        second = publish_and_wait(publisher, na_events, "prod", allowlist_name, 2, lists[1], ids)
        for result in second.values():
            assert result["comment"].startswith("Firewall updated by delta"), result
            assert (result["changes_summary"]["added"], result["changes_summary"]["removed"]) == (5, 5), result

        # db2's store wiped (a new disk, a cache cleared): it asks for the full apply and gets it.
        wiped, _ = two_minions[1]
        os.unlink(lastgood.path(wiped.config["cachedir"]))
        third = publish_and_wait(publisher, na_events, "prod", allowlist_name, 3, lists[2], ids)
        assert third[ids[0]]["comment"].startswith("Firewall updated by delta"), third
        assert third[wiped.id]["comment"].startswith("Firewall updated ("), third

        # The master's copy damaged (one address lost, the digest kept): the step ingest computes
        # from it misses that address, so the result does not hash to the snapshot's digest; both
        # minions refuse the delta before anything is in effect and get the full apply.
        with master_store.lock():
            damaged = master_store.get("prod", allowlist_name)
            master_store.cache.store(
                nodeallow_store.ALLOWLISTS_BANK,
                f"prod.{allowlist_name}",
                {**damaged, "addresses": damaged["addresses"][1:]},
            )
        fourth = publish_and_wait(publisher, na_events, "prod", allowlist_name, 4, lists[3], ids)
        for result in fourth.values():
            assert result["comment"].startswith("Firewall updated ("), result

        # Deltas again afterwards.
        fifth = publish_and_wait(publisher, na_events, "prod", allowlist_name, 5, lists[4], ids)
        for result in fifth.values():
            assert result["comment"].startswith("Firewall updated by delta"), result

    for minion, ns in two_minions:
        assert nft_set(ns, name, 4) == set(lists[4])
        assert lastgood.load(minion.config["cachedir"])["allowlists"][name].sequence == 5
        assert applies(nodeallow_master.config, "prod", allowlist_name)[minion.id]["sequence"] == 5
    # Never empty once filled, and only ever one of the published lists (each transaction is whole), in order.
    sampler.assert_never_empty()
    published = [frozenset(each) for each in lists]
    for minion_id in ids:
        order = [published.index(value) for _, value in sampler.series(minion_id) if value]
        assert order == sorted(order), order
