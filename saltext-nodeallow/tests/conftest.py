# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Pytest fixtures that run real Salt daemons (master, salt-api, minions) and network namespaces.

Daemons are started by pytest-salt-factories in one temporary directory per
test session, on free ports of 127.0.0.1, and stopped (and the directory
removed) when the session ends, whether the tests passed or not. They are
started lazily: a test run that needs no daemon starts none.
"""

import contextlib
import logging
import os
import pathlib
import shutil
import tempfile

import pytest
from pytestshellutils.utils import ports
from saltfactories.plugins.event_listener import EventListener
from saltfactories.utils import random_string

import saltext.nodeallow
from tests.support import netns as netns_support
from tests.support.events import MasterEvents
from tests.support.hooks import HookClient

# Salt raises the root logger's level on import; restore pytest's default and
# drop Salt's handlers so only --log-cli-level decides what is shown.
logging.root.setLevel(logging.WARNING)
for _handler in logging.root.handlers[:]:
    logging.root.removeHandler(_handler)
    _handler.close()

# Where the extension under test is installed (bin/saltext-site, put on
# PYTHONPATH by hack/test-python.sh); the daemons import it from there too.
EXTENSION_SITE = saltext.nodeallow.PACKAGE_ROOT.parent.parent

LOOPBACK = "127.0.0.1"


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    """Make salt-factories' log server listen on loopback only (its default is 0.0.0.0)."""
    # Runs before the plugin's own tryfirst hook starts the server, because
    # conftest hooks are registered after the plugin's.
    log_server = session.config.pluginmanager.get_plugin("saltfactories-log-server")
    if log_server is not None:
        log_server.log_host = LOOPBACK


@pytest.fixture(scope="session", autouse=True)
def host_ruleset_untouched():
    """Fail the session if it left anything of nodeallow in this host's own ruleset (every firewall is a test's)."""
    before = netns_support.host_firewall_mentions()
    yield
    left = [line for line in netns_support.host_firewall_mentions() if line not in before]
    assert not left, f"the tests left nodeallow objects in the host's own ruleset (a minion without a netns?): {left}"


@pytest.fixture(scope="session")
def event_listener():
    """Salt-factories' event listener (tells when daemons are up), bound to loopback only."""
    listener = EventListener()
    # host/address are computed attributes defaulting to 0.0.0.0; nothing
    # outside this machine has any business talking to the test daemons.
    listener.host = LOOPBACK
    listener.address = f"tcp://{LOOPBACK}:{listener.port}"
    with listener:
        yield listener


@pytest.fixture(scope="session")
def salt_factories_default_root_dir():
    """A fresh temporary directory for all daemons of this session, removed at the end."""
    # Short and under /tmp: Salt's unix sockets live below it and their paths
    # must stay under the 107-byte limit.
    root = pathlib.Path(tempfile.mkdtemp(prefix="nodeallow-salt-", dir="/tmp"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def salt_factories_config(salt_factories_default_root_dir):
    """Settings for salt-factories' FactoriesManager."""
    return {
        "root_dir": salt_factories_default_root_dir,
        # Prepended to sys.path of every daemon: the installed extension
        # (with its entry point metadata) rather than the source tree.
        "code_dir": str(EXTENSION_SITE),
        # Coverage of daemons only when asked for; the injection costs startup time.
        "inject_sitecustomize": "COVERAGE_PROCESS_START" in os.environ,
        # Usually 6 s for master and minion, but a busy 2-core machine has
        # needed 38 s; a timeout only costs time when a daemon really hangs.
        "start_timeout": 120,
        # SIGTERM first, so daemons shut down their own workers; measured no
        # slower than SIGKILL here (psutil's reaping dominates either way).
        "slow_stop": True,
    }


@pytest.fixture(scope="session")
def salt_api_port():
    """A free TCP port on 127.0.0.1 for salt-api (rest_cherrypy)."""
    return ports.get_unused_localhost_port()


@pytest.fixture(scope="session")
def master_config_overrides(salt_api_port):
    """Master configuration for the session's master; extend it in a conftest to add settings."""
    return {
        "interface": LOOPBACK,
        "rest_cherrypy": {
            "host": LOOPBACK,
            "port": salt_api_port,
            # Tests only: rest_cherrypy refuses to start without TLS otherwise.
            "disable_ssl": True,
            # Tests only: the hook smoke test needs no eauth token.
            "webhook_disable_auth": True,
        },
        # No need for the default 5 request workers with one or two minions;
        # fewer processes start faster on small CI machines.
        "worker_threads": 3,
    }


@pytest.fixture(scope="session")
def salt_master_factory(salt_factories, master_config_overrides):
    """The (not yet started) salt-master daemon factory of this session."""
    return salt_factories.salt_master_daemon(
        random_string("master-"), overrides=master_config_overrides
    )


@pytest.fixture(scope="session")
def salt_master(salt_master_factory):
    """A running salt-master on 127.0.0.1, shared by the whole session."""
    with salt_master_factory.started():
        yield salt_master_factory


@pytest.fixture(scope="session")
def salt_api(salt_master):
    """A running salt-api (rest_cherrypy, plain HTTP on 127.0.0.1) attached to ``salt_master``."""
    factory = salt_master.salt_api_daemon()
    with factory.started():
        yield factory


@pytest.fixture(scope="session")
def salt_api_url(salt_api, salt_master):
    """Base URL of the running salt-api, e.g. ``http://127.0.0.1:41234``."""
    return f"http://{LOOPBACK}:{salt_master.config['rest_cherrypy']['port']}"


@pytest.fixture(scope="session")
def minion_factory(salt_master):
    """Start extra minions: ``minion_factory(overrides=None)`` returns a running, accepted minion.

    Minions started this way stop at the end of the session.
    """
    with contextlib.ExitStack() as stack:

        def start(overrides=None, minion_id=None):
            """Start one minion with config ``overrides`` and return its (running) factory.

            Its firewall is in a namespace of its own unless ``overrides`` name one (netns.confined).
            """
            factory = salt_master.salt_minion_daemon(
                minion_id or random_string("minion-"), overrides=netns_support.confined(stack, overrides)
            )
            # salt-factories accepts the key with the real salt-key as soon as
            # the master reports the minion's authentication attempt.
            stack.enter_context(factory.started())
            return factory

        yield start


@pytest.fixture(scope="session")
def salt_minion(minion_factory):
    """A running minion of ``salt_master`` with its key accepted, shared by the session."""
    return minion_factory()


@pytest.fixture(scope="session")
def salt_cli(salt_master):
    """The ``salt`` command line of the session's master (``salt_cli.run("test.ping", minion_tgt=...)``)."""
    return salt_master.salt_cli(timeout=60)


@pytest.fixture(scope="session")
def salt_run_cli(salt_master):
    """The ``salt-run`` command line of the session's master."""
    return salt_master.salt_run_cli(timeout=60)


@pytest.fixture
def hook_client(salt_api_url):
    """A :class:`HookClient` that POSTs to the session's salt-api ``/hook/...``."""
    client = HookClient(salt_api_url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def master_events(salt_master):
    """A live :class:`MasterEvents` subscription to the master's event bus, for ``wait_for(tag)``."""
    with MasterEvents(salt_master.config) as events:
        yield events


@pytest.fixture(scope="session")
def netns_available():
    """Skip namespace tests where they cannot run, and remove namespaces a killed run left."""
    reason = netns_support.skip_reason()
    if reason:
        pytest.skip(reason)
    netns_support.remove_stale()


@pytest.fixture
def netns(request, netns_available):
    """A fresh network namespace (:class:`tests.support.netns.Netns`), deleted after the test."""
    stack = contextlib.ExitStack()
    # Registered before the namespace exists, so it is removed even if the
    # test (or a later fixture) fails.
    request.addfinalizer(stack.close)
    return stack.enter_context(netns_support.netns())
