# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""A dedicated nodeallow master that these tests may restart, with a short chunk timeout.

Kept apart from the shared ``nodeallow_master`` so that stopping this one never
disturbs the other tests' daemons.
"""

import time

import pytest
from pytestshellutils.utils import ports
from saltfactories.utils import random_string

from tests.master.conftest import nodeallow_master_config
from tests.support.events import MasterEvents
from tests.support.hooks import HookClient
from tests.support.master_side import PillarFiles, Publisher, chunked_bodies, encode_body, stored

CHUNK_TIMEOUT = 3
ADDRESSES = ["10.1.0.0/16", "10.2.0.1/32", "2001:db8:5::/48"]


@pytest.fixture(scope="module")
def restart_pillar(salt_factories_default_root_dir):
    """This master's own pillar tree."""
    return PillarFiles(salt_factories_default_root_dir / "nodeallow-restart-pillar")


@pytest.fixture(scope="module")
def restartable_master(salt_factories, signing_keys, restart_pillar):
    """A running nodeallow master (with salt-api) that tests may stop and start again."""
    config = nodeallow_master_config(
        ports.get_unused_localhost_port(), restart_pillar.root, signing_keys, chunk_timeout=CHUNK_TIMEOUT
    )
    factory = salt_factories.salt_master_daemon(random_string("na-restart-"), overrides=config)
    with factory.started():
        yield factory


@pytest.fixture
def restart_api(restartable_master):
    """salt-api of ``restartable_master`` (per test: it is restarted together with the master)."""
    factory = restartable_master.salt_api_daemon()
    with factory.started():
        yield f"http://127.0.0.1:{restartable_master.config['rest_cherrypy']['port']}"


@pytest.fixture
def restart_publisher(restart_api, signing_keys):
    """A Publisher for ``restartable_master``'s salt-api."""
    client = HookClient(restart_api, timeout=30)
    try:
        yield Publisher(client, signing_keys)
    finally:
        client.close()


def test_incomplete_chunks_are_dropped_after_the_timeout(restartable_master, restart_publisher, allowlist_name):
    """A chunk older than chunk_timeout is dropped, so the set must be sent again to complete."""
    bodies = chunked_bodies("prod", allowlist_name, 1, ADDRESSES, 2)
    tag = f"nodeallow/*/prod/{allowlist_name}"
    with MasterEvents(restartable_master.config) as events:
        restart_publisher.post("prod", allowlist_name, bodies[0])
        assert events.wait_for(tag, timeout=60)["data"]["received"] == 1
        time.sleep(CHUNK_TIMEOUT + 1)
        restart_publisher.post("prod", allowlist_name, bodies[1])
        # Chunk 0 expired before chunk 1 was counted: still one of two.
        late = events.wait_for(tag, timeout=60)
        assert late["tag"] == f"nodeallow/chunk/prod/{allowlist_name}"
        assert late["data"]["received"] == 1
        restart_publisher.post("prod", allowlist_name, bodies[0])
        done = events.wait_for(f"nodeallow/stored/prod/{allowlist_name}", timeout=60)
    assert done["data"]["addresses"] == len(ADDRESSES)


def test_a_restarted_master_keeps_the_snapshot(
    restartable_master, restart_publisher, restart_pillar, allowlist_name
):
    """After a master restart the store, status and ext_pillar still have the snapshot, and replays stay no-ops."""
    restart_pillar.subscribe("ghost-minion", f"prod/{allowlist_name}")
    with MasterEvents(restartable_master.config) as events:
        restart_publisher.post("prod", allowlist_name, encode_body("prod", allowlist_name, 7, ADDRESSES))
        events.wait_for(f"nodeallow/stored/prod/{allowlist_name}", timeout=60)

    restartable_master.terminate()
    assert not restartable_master.is_running()
    restartable_master.start()

    record = stored(restartable_master.config, "prod", allowlist_name)
    assert (record["sequence"], record["addresses"]) == (7, ADDRESSES)
    run = restartable_master.salt_run_cli(timeout=120)
    status = run.run("nodeallow.status", "--out=json")
    assert status.returncode == 0, status
    assert status.data[f"prod/{allowlist_name}"]["sequence"] == 7
    pillar = run.run("pillar.show_pillar", "ghost-minion", "--out=json")
    assert pillar.returncode == 0, pillar
    served = pillar.data["nodeallow"]["allowlists"][f"prod/{allowlist_name}"]
    assert (served["sequence"], served["addresses"]) == (7, ADDRESSES)
