# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Issue 10's probes through the whole master path: salt-api, the shipped reactor, the ingest runner, a firewall.

Its own master with Salt's default ``max_event_size`` (1 MiB, so the bus really trims) and a cluster
in the middle of a key rotation (``signing_keys: [new, old]``). A subscribed minion's nft set is
sampled while the probes arrive: none of them may change it.
"""

import secrets

import pytest
from pytestshellutils.utils import ports
from saltfactories.utils import random_string

from saltext.nodeallow.protocol.refusal import BAD_ADDRESS, SPECIAL_ADDRESS, TOO_LARGE, TOO_WIDE
from tests.master.conftest import nodeallow_master_config
from tests.support import netns as netns_support
from tests.support.events import MasterEvents
from tests.support.hooks import HookClient
from tests.support.master_side import PillarFiles, Publisher, encode_body, stored
from tests.support.sampler import SetSampler

NEW_KEY, OLD_KEY = secrets.token_hex(32), secrets.token_hex(32)
SALT_DEFAULT_MAX_EVENT_SIZE = 1048576
GOOD = ["10.50.0.1/32", "10.50.0.2/32", "2001:db8:50::1/128"]


@pytest.fixture(scope="module")
def hostile_master(salt_factories, signing_keys, salt_factories_default_root_dir):
    """A nodeallow master with Salt's default event size and cluster ``rotating`` holding two keys."""
    pillar = PillarFiles(salt_factories_default_root_dir / "nodeallow-hostile-pillar")
    config = nodeallow_master_config(ports.get_unused_localhost_port(), pillar.root, signing_keys)
    config["max_event_size"] = SALT_DEFAULT_MAX_EVENT_SIZE
    config["nodeallow"]["clusters"]["rotating"] = {"signing_keys": [NEW_KEY, OLD_KEY]}
    factory = salt_factories.salt_master_daemon(random_string("na-hostile-"), overrides=config)
    with factory.started(), factory.salt_api_daemon().started():
        yield factory, pillar


@pytest.fixture(scope="module")
def hostile_minion(hostile_master, netns_available):  # pylint: disable=unused-argument
    """A running minion of ``hostile_master`` with its firewall in a namespace: ``(factory, ns)``."""
    master, _ = hostile_master
    with netns_support.netns() as ns:
        factory = master.salt_minion_daemon(
            random_string("na-hostile-minion-", uppercase=False), overrides={"nodeallow_netns": ns.name}
        )
        with factory.started():
            yield factory, ns


@pytest.fixture
def hostile_publisher(hostile_master, signing_keys):
    """A Publisher for ``hostile_master``; cluster ``rotating`` signs with the new key by default."""
    master, _ = hostile_master
    client = HookClient(f"http://127.0.0.1:{master.config['rest_cherrypy']['port']}", timeout=60)
    try:
        yield Publisher(client, {**signing_keys, "rotating": NEW_KEY})
    finally:
        client.close()


def subscribe_and_publish(master, pillar, minion, publisher, cluster, allowlist):
    """Subscribe ``minion`` to ``cluster/allowlist``, publish GOOD as sequence 1, wait until it is applied."""
    pillar.subscribe(minion.id, f"{cluster}/{allowlist}")
    assert master.salt_run_cli(timeout=120).run("nodeallow.reindex").returncode == 0
    with MasterEvents(master.config) as events:
        publisher.post(cluster, allowlist, encode_body(cluster, allowlist, 1, GOOD))
        applied = events.wait_for(f"nodeallow/applied/{cluster}/{allowlist}", timeout=120)["data"]
    assert applied["result"] is True, applied


PROBES = [
    pytest.param(["0.0.0.0/1", "128.0.0.0/1"], {TOO_WIDE}, id="ipv4-two-slash-1"),
    pytest.param(["10.0.0.1/32", "::/1", "8000::/1"], {TOO_WIDE}, id="ipv6-two-slash-1"),
    pytest.param(["0.0.0.0/0"], {TOO_WIDE, BAD_ADDRESS}, id="slash-0"),
    pytest.param([f"11.{i}.0.0/16" for i in range(5)], {TOO_WIDE}, id="five-slash-16-add-up"),
    pytest.param(["10.50.0.1/32", "127.0.0.1/32"], {SPECIAL_ADDRESS}, id="loopback"),
]


def test_no_probe_widens_a_subscribers_firewall(hostile_master, hostile_minion, hostile_publisher, allowlist_name):
    """Each world-opening snapshot is refused by the runner with its reason; store and nft set stay as they were."""
    master, pillar = hostile_master
    minion, ns = hostile_minion
    subscribe_and_publish(master, pillar, minion, hostile_publisher, "prod", allowlist_name)
    name = f"prod/{allowlist_name}"
    sampler = SetSampler({minion.id: (ns, name)})
    with sampler, MasterEvents(master.config) as events:
        for sequence, probe in enumerate(PROBES, start=2):
            addresses, reasons = probe.values
            hostile_publisher.post("prod", allowlist_name, encode_body("prod", allowlist_name, sequence, addresses))
            rejected = events.wait_for(f"nodeallow/rejected/prod/{allowlist_name}", timeout=60)["data"]
            assert rejected["reason"] in reasons, (probe.id, rejected)
        # A last good publish proves the runner kept working and the minion still follows.
        events.seen.clear()
        hostile_publisher.post("prod", allowlist_name, encode_body("prod", allowlist_name, 10, GOOD[:2]))
        events.wait_for(f"nodeallow/applied/prod/{allowlist_name}", timeout=120)
    sampler.assert_never_empty()
    widest = set().union(*(value for _, value in sampler.series(minion.id) if value))
    assert widest <= set(GOOD), sorted(widest)
    assert stored(master.config, "prod", allowlist_name)["sequence"] == 10


@pytest.mark.parametrize("size", [(1 << 20) - 1, 1 << 20, (1 << 20) + 1, 600000])
def test_a_body_the_bus_trimmed_is_too_large_not_bad_signature(hostile_master, hostile_publisher, allowlist_name, size):
    """Bodies around 1 MiB and over half of max_event_size reach the runner trimmed: refused as too-large."""
    master, _ = hostile_master
    head = encode_body("prod", allowlist_name, 1, ["10.0.0.1/32"])
    body = head[:-1] + ',"pad":"' + "x" * (size - len(head) - 9) + '"}'
    assert len(body) == size
    with MasterEvents(master.config) as events:
        hostile_publisher.post("prod", allowlist_name, body)
        rejected = events.wait_for(f"nodeallow/rejected/prod/{allowlist_name}", timeout=60)["data"]
    assert rejected["reason"] == TOO_LARGE, rejected
    assert "max_event_size" in rejected["detail"], rejected


def test_rotation_takes_both_keys_without_a_single_refusal(
    hostile_master, hostile_minion, hostile_publisher, allowlist_name
):
    """During a rotation publishes signed with the old and the new key interleave; every one is stored and applied."""
    master, pillar = hostile_master
    minion, _ = hostile_minion
    subscribe_and_publish(master, pillar, minion, hostile_publisher, "rotating", allowlist_name)
    with MasterEvents(master.config) as events:
        for sequence, key in zip(range(2, 8), [OLD_KEY, NEW_KEY, OLD_KEY, NEW_KEY, NEW_KEY, NEW_KEY], strict=True):
            body = encode_body("rotating", allowlist_name, sequence, GOOD[: 1 + sequence % 3])
            hostile_publisher.post("rotating", allowlist_name, body, key=key)
            arrived = events.wait_for(f"nodeallow/stored/rotating/{allowlist_name}", timeout=60)
            assert arrived["data"]["sequence"] == sequence
        tags = [event["tag"] for event in events.seen]
    assert not [tag for tag in tags if tag.startswith("nodeallow/rejected/")], tags
    record = stored(master.config, "rotating", allowlist_name)
    assert record["sequence"] == 7 and record["addresses"] == GOOD[: 1 + 7 % 3]
