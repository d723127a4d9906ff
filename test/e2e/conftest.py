# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""End-to-end fixtures: the whole nodeallow system (harness.system, topology.py) started once per session.

Run with ``bash hack/test-python.sh test/e2e`` (as root: network namespaces and nft; about 8 minutes, two of them
test_multimaster.py with a system of its own; test_salt_versions.py starts two more, Salt 3006 in them, which needs
``hack/python-env.sh 3006``). Every system's Salt has nodeallow installed from the release wheel (harness.saltenv).
Environment: NODEALLOW_E2E_VERBOSE=1 prints the start-up steps, NODEALLOW_E2E_KEEP=1 keeps the temporary
folder with every daemon's log, NODEALLOW_E2E_LATENCY_TRIALS (default 20), NODEALLOW_E2E_LATENCY_FILE
(default bin/e2e-latency.txt) and NODEALLOW_E2E_LATENCY_VERIFY_STORE (true/false; unset keeps the default)
tune the latency measurement, NODEALLOW_E2E_FAILOVER_TRIALS (default 2) and
NODEALLOW_E2E_FAILOVER_TIMINGS (lease, renew and retry seconds, default 4,3,1) the failover test's.
"""

import os
import pathlib
import sys

import pytest

E2E_DIR = pathlib.Path(__file__).resolve().parent
REPO_ROOT = E2E_DIR.parents[1]
# The Salt test support (event bus subscription) lives with the extension's tests.
sys.path.insert(0, str(REPO_ROOT / "saltext-nodeallow"))

# pylint: disable=wrong-import-position
from harness.binaries import control_plane_missing  # noqa: E402
from harness.system import System  # noqa: E402
from tests.support import netns  # noqa: E402
from tests.support.events import MasterEvents  # noqa: E402
from topology import ANCHORS, SELECTOR, SUBSCRIBER, TEST_LABEL, spec  # noqa: E402


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    """Keep salt-factories' log server (a plugin loaded with it) on loopback; its default is 0.0.0.0."""
    log_server = session.config.pluginmanager.get_plugin("saltfactories-log-server")
    if log_server is not None:
        log_server.log_host = "127.0.0.1"


@pytest.fixture(scope="session")
def system():
    """The running system (see the module docstring), stopped and removed after the session."""
    reason = netns.skip_reason() or control_plane_missing()
    if reason:
        pytest.skip(reason)
    progress = (lambda message: print(f"e2e: {message}", file=sys.stderr, flush=True)) \
        if os.environ.get("NODEALLOW_E2E_VERBOSE") else None
    with System(spec(), progress=progress) as running:
        for name, handle in running.clusters.items():
            handle.kube.create_allowlist(running.allowlist("workers", cluster=name, node_selector=SELECTOR))
            handle.kube.create_node(f"{name}-anchor", [ANCHORS[name]], labels={"pool": "workers"})
        running.wait_allowed("db1", "alpha/workers", [ANCHORS["alpha"]], timeout=120)
        running.wait_allowed("db3", "beta/workers", [ANCHORS["beta"]], timeout=120)
        yield running


@pytest.fixture
def alpha(system):
    """Cluster alpha's handle; Nodes a test creates there (labelled TEST_LABEL) are deleted afterwards."""
    yield system.clusters["alpha"]
    _cleanup(system, "alpha")


@pytest.fixture
def beta(system):
    """Cluster beta's handle; Nodes a test creates there (labelled TEST_LABEL) are deleted afterwards."""
    yield system.clusters["beta"]
    _cleanup(system, "beta")


def _cleanup(system, cluster):
    """Delete the test's Nodes and wait until the minions are back to the anchor only, so tests stay independent."""
    system.clusters[cluster].kube.delete_nodes(TEST_LABEL)
    system.wait_allowed(SUBSCRIBER[cluster], f"{cluster}/workers", [ANCHORS[cluster]], timeout=120)


@pytest.fixture
def master_events(system):
    """A live subscription to the Salt master's event bus (``wait_for(tag)``, ``seen``)."""
    with MasterEvents(system.salt.master_opts()) as events:
        yield events


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failed test, append the ends of every daemon's log to the report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and "system" in item.fixturenames:
        running = item.funcargs.get("system")
        if running is not None:
            report.sections.append(("nodeallow daemon logs", running.diagnostics(lines=25)))
