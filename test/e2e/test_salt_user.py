# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""salt-master and salt-api run as the user ``salt``, as Salt's packages run them; the minions as root.

Root's ``salt-run`` switches to the master's user too, so nothing it writes (the store, its lock, the index)
is left root-owned for the master to trip over later.
"""

import os
import pwd

import pytest

from harness.saltuser import SALT_USER
from topology import ANCHORS, SUBSCRIBER, WORKER_LABELS

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the master runs as salt only when root starts it")


def _group_uids(pgid):
    """``{pid: real uid}`` of every process in process group ``pgid`` (a daemon and all it forked)."""
    uids = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                # The command name (field 2) may hold spaces; the fields after its ')' are fixed.
                fields = fh.read().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                uids[int(entry)] = os.stat(f"/proc/{entry}").st_uid
        except (OSError, IndexError, ValueError):
            continue
    return uids


def _foreign_files(top, uid):
    """Paths below ``top`` (``top`` included) not owned by ``uid``, but for root's client key.

    Salt writes ``.root_key`` for root on purpose (root's ``salt`` command reads it); the master never writes it.
    """
    found = [] if os.stat(top).st_uid == uid else [top]
    for folder, dirs, files in os.walk(top):
        for name in dirs + files:
            path = os.path.join(folder, name)
            if name != ".root_key" and os.lstat(path).st_uid != uid:
                found.append(path)
    return found


def test_the_master_and_salt_api_run_as_salt_and_the_minions_as_root(system):
    """Every process of salt-master (reactor, engine, workers) and of salt-api is the user salt's."""
    salt_uid = pwd.getpwnam(SALT_USER).pw_uid
    for daemon in (system.salt.master, system.salt.api):
        uids = _group_uids(daemon.pid)
        assert len(uids) > 1, f"{daemon.name}: {uids}"
        assert set(uids.values()) == {salt_uid}, f"{daemon.name} runs as {uids}"
    for minion in system.salt.minions.values():
        assert set(_group_uids(minion.process.pid).values()) == {0}, minion.id


def test_roots_salt_run_leaves_the_master_nothing_it_cannot_write(system, alpha):
    """After root's reindex, status and reconcile every cache, key and log file is salt's, and stores go on."""
    salt_uid = pwd.getpwnam(SALT_USER).pw_uid
    system.salt.run("nodeallow.reindex")
    system.salt.run("nodeallow.status")
    system.salt.run("nodeallow.reconcile")
    opts = system.salt.master_opts()
    lock = os.path.join(opts["cachedir"], "nodeallow.lock")
    assert os.path.exists(lock)
    for top in (opts["cachedir"], opts["pki_dir"], opts["sock_dir"], os.path.dirname(opts["log_file"])):
        assert _foreign_files(top, salt_uid) == [], top
    # The master, as salt, still takes the lock and stores: a new Node reaches the subscriber.
    alpha.kube.create_node("alpha-saltuser", ["192.0.2.77"], labels=WORKER_LABELS)
    system.wait_allowed(SUBSCRIBER["alpha"], "alpha/workers", [ANCHORS["alpha"], "192.0.2.77"], timeout=120)
