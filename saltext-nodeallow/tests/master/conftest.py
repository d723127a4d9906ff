# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Fixtures of the master-side tests: a salt-master configured as the nodeallow master, its salt-api and minions.

These tests get their own master (not the shared ``salt_master``) because they
need master-only settings (reactor, ext_pillar, pillar_roots, signing keys) that
a session-scoped master must have from its start, and because they write the
master's store. All daemons here are shared by the master-side tests.
"""

import contextlib
import secrets

import pytest
from pytestshellutils.utils import ports
from saltfactories.utils import random_string

import saltext.nodeallow
from tests.support import netns as netns_support
from tests.support import saltconfig
from tests.support.events import MasterEvents
from tests.support.hooks import HookClient
from tests.support.master_side import PillarFiles, Publisher

# The reactor file as installed with the extension (what docs/salt.md tells users to point at).
LOOPBACK = "127.0.0.1"
REACTOR_FILE = saltext.nodeallow.PACKAGE_ROOT / "reactor" / "nodeallow.sls"


def nodeallow_master_config(api_port, pillar_root, keys, **nodeallow_settings):
    """The documented master settings (tests/support/saltconfig.py) plus what these tests need on loopback."""
    config = saltconfig.master_config(
        clusters=keys, reactor_file=REACTOR_FILE, api_port=api_port, **nodeallow_settings
    )
    config["rest_cherrypy"].update(
        # Tests only: hooks are posted without logging in first.
        webhook_disable_auth=True,
        # Above the protocol's 1 MiB, so an oversized body reaches the runner
        # and its too-large refusal can be tested (production keeps 1 MiB).
        max_request_body_size=3 * 1024 * 1024,
    )
    config.update(
        interface=LOOPBACK,
        worker_threads=3,
        # A hook event carries the body twice; keep a 1.5 MiB body untrimmed.
        max_event_size=16 * 1024 * 1024,
        pillar_roots={"base": [str(pillar_root)]},
    )
    return config


@pytest.fixture(scope="session")
def signing_keys():
    """A random signing key per configured cluster (``prod-eu1`` and ``lab`` are the vectors' clusters)."""
    return {name: secrets.token_hex(32) for name in ("prod", "staging", "prod-eu1", "lab")}


@pytest.fixture(scope="session")
def pillar_files(salt_factories_default_root_dir):
    """The nodeallow master's pillar tree (tests subscribe minions by writing their pillar files)."""
    return PillarFiles(salt_factories_default_root_dir / "nodeallow-pillar")


@pytest.fixture(scope="session")
def nodeallow_master(salt_factories, signing_keys, pillar_files):
    """A running salt-master configured as the nodeallow master, shared by the master-side tests."""
    config = nodeallow_master_config(
        ports.get_unused_localhost_port(), pillar_files.root, signing_keys
    )
    factory = salt_factories.salt_master_daemon(random_string("na-master-"), overrides=config)
    with factory.started():
        yield factory


@pytest.fixture(scope="session")
def nodeallow_api_url(nodeallow_master):
    """Base URL of a running salt-api attached to ``nodeallow_master``."""
    factory = nodeallow_master.salt_api_daemon()
    with factory.started():
        yield f"http://{LOOPBACK}:{nodeallow_master.config['rest_cherrypy']['port']}"


@pytest.fixture(scope="session")
def nodeallow_minions(nodeallow_master):
    """Start minions of ``nodeallow_master``: ``start(overrides=None)`` returns a running, accepted minion."""
    with contextlib.ExitStack() as stack:

        def start(overrides=None):
            """Start one minion with config ``overrides``; it stops at the end of the session.

            Its firewall is in a namespace of its own unless ``overrides`` name one (netns.confined).
            """
            factory = nodeallow_master.salt_minion_daemon(
                random_string("na-minion-", uppercase=False), overrides=netns_support.confined(stack, overrides)
            )
            stack.enter_context(factory.started())
            return factory

        yield start


@pytest.fixture(scope="session")
def subscriber(nodeallow_minions):
    """A running minion of the nodeallow master (tests subscribe it per allowlist)."""
    return nodeallow_minions()


@pytest.fixture(scope="session")
def bystander(nodeallow_minions):
    """A second running minion that subscribes to nothing: it must never be targeted."""
    return nodeallow_minions()


@pytest.fixture(scope="session")
def na_salt_cli(nodeallow_master):
    """The ``salt`` command line of the nodeallow master."""
    return nodeallow_master.salt_cli(timeout=120)


@pytest.fixture(scope="session")
def na_run_cli(nodeallow_master):
    """The ``salt-run`` command line of the nodeallow master."""
    return nodeallow_master.salt_run_cli(timeout=120)


@pytest.fixture
def reindex(na_run_cli):
    """``reindex()``: rebuild the subscriber index after a test changed pillar files (docs/salt.md)."""

    def run():
        """Run ``salt-run nodeallow.reindex`` and return the subscribers it found."""
        ret = na_run_cli.run("nodeallow.reindex", "--out=json")
        assert ret.returncode == 0, ret
        return ret.data["subscribers"]

    return run


@pytest.fixture
def na_events(nodeallow_master):
    """A live subscription to the nodeallow master's event bus."""
    with MasterEvents(nodeallow_master.config) as events:
        yield events


@pytest.fixture
def publisher(nodeallow_api_url, signing_keys):
    """A :class:`Publisher` posting signed bodies to the nodeallow master's salt-api."""
    client = HookClient(nodeallow_api_url, timeout=30)
    try:
        yield Publisher(client, signing_keys)
    finally:
        client.close()


@pytest.fixture
def allowlist_name():
    """An allowlist name unique to the test, so tests never see each other's stored sequences."""
    return f"t-{secrets.token_hex(4)}"
