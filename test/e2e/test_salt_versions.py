# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Salt 3006 LTS and 3008 LTS side by side: a 3008 master with a 3006 minion, and a 3006 master with its minions.

Each case is a system of its own (one cluster with its controller, one salt-master and salt-api, two minions),
every Salt with nodeallow installed from the release wheel as ``salt-pip install`` does (harness.saltenv).
While the controller publishes a Node's address changing four times, the minions' nft sets are sampled every
200 ms: never empty, and never back to an older snapshot (each snapshot's set is told apart by its address);
every minion follows at least one of the changes by ``nodeallow.apply_delta`` (deltas are on by default).
Both take about a minute each, most of it the system's start.

The cheap tests first: the wheel installs as salt-pip installs it, and docs/salt.md and docs/install.md say
what these tests do.
"""

import os
import re
import subprocess
import time

import pytest

from harness import saltenv
from harness.binaries import REPO_ROOT, control_plane_missing
from harness.processes import wait_until
from harness.system import ClusterSpec, MinionSpec, System, SystemSpec
from saltext.nodeallow import results
from tests.support import netns
from tests.support.sampler import SetSampler
from topology import SELECTOR, TEST_LABEL, WORKER_LABELS

ALLOWLIST = "alpha/workers"
ANCHOR = "192.0.2.254"
# The Node's address in the snapshots published one after the other (snapshot k holds ANCHOR and STEPS[k-1]).
STEPS = ["192.0.2.101", "192.0.2.102", "192.0.2.103", "192.0.2.104"]
# Salt line -> the version its test environment pins (requirements/tests.txt, tests-3006.txt).
VERSIONS = {"3008": "3008.4", "3006": "3006.29"}


def _version_file():
    """The repository's VERSION (the wheel's version, the binary's and the chart's appVersion)."""
    return (REPO_ROOT / "VERSION").read_text(encoding="utf-8").strip()


@pytest.mark.parametrize("line", sorted(VERSIONS))
def test_the_wheel_installs_as_salt_pip_installs_it(line):
    """The release wheel lands in the line's own environment, its requirement met by the Salt already there."""
    install = saltenv.install(line)
    probe = ("import importlib.metadata as m, salt.version, saltext.nodeallow as n; "
             "print(n.__file__); print(m.version('saltext.nodeallow')); print(salt.version.__version__)")
    where, version, salt_version = subprocess.run(
        [install.python, "-c", probe], env=install.environ(), capture_output=True, text=True, timeout=120,
        check=True).stdout.split()
    assert where.startswith(install.site_packages + os.sep), where
    assert version == _version_file()
    assert salt_version == VERSIONS[line]
    # pip resolved salt>=3006.27 against the cached environment: nothing but the extension was added,
    # and the cached environment (shared by every clone) got nothing.
    added = sorted(name for name in os.listdir(install.site_packages) if name.endswith(".dist-info"))
    assert added == [f"saltext_nodeallow-{version}.dist-info"], added
    cached = subprocess.run(
        [os.path.join(install.venv, "bin", "python"), "-c",
         "import importlib.util as u; print(u.find_spec('saltext') is not None)"],
        env=install.environ(), capture_output=True, text=True, timeout=120, check=True).stdout.strip()
    assert cached == "False", f"{install.venv} has a saltext package: the shared environment was modified"


def test_the_docs_show_the_wheel_and_the_versions_the_tests_run():
    """install.md's salt-pip line names the wheel make dist builds; salt.md's table names the tested versions."""
    wheel = os.path.basename(saltenv.wheel())
    documented = wheel.replace(_version_file(), "<version>")
    install_md = (REPO_ROOT / "docs" / "install.md").read_text(encoding="utf-8")
    assert f"salt-pip install ./{documented}" in install_md
    assert f"python -m pip install ./{documented}" in install_md

    salt_md = (REPO_ROOT / "docs" / "salt.md").read_text(encoding="utf-8")
    table = salt_md.split("## Compatibility", 1)[1].split("###", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| 3")]
    assert f"| {VERSIONS['3008']} / {VERSIONS['3008']} |" in table and f"| {VERSIONS['3006']} / " in table, rows
    assert f"| {VERSIONS['3008']} / {VERSIONS['3006']} |" in table, rows
    pyproject = (REPO_ROOT / "saltext-nodeallow" / "pyproject.toml").read_text(encoding="utf-8")
    requirement = re.search(r'"(salt>=[0-9.]+)"', pyproject).group(1)
    assert f"`{requirement}`" in table, f"salt.md's Compatibility section does not say {requirement}"


def _rule():
    """The subscription of every minion here."""
    return {"allowlist": ALLOWLIST, "proto": "tcp", "ports": [5432], "comment": "postgres from alpha"}


# Short minion ids and the default folder prefix: a 3006 minion's event socket
# (<root_dir>/var/run/salt/minion/minion_event_<10 hex>_pull.ipc) must fit the 107 bytes of a unix socket path.
CASES = {
    # An upgrade in progress: the master (and salt-api) already on 3008, one minion still on 3006.
    "3008-master-3006-minion": SystemSpec(
        clusters={"alpha": ClusterSpec()}, salt="3008",
        minions=[MinionSpec("n1", rules=[_rule()]), MinionSpec("o1", rules=[_rule()], salt="3006")]),
    # A 3006 shop: master, salt-api and minions on 3006.
    "3006-master-3006-minions": SystemSpec(
        clusters={"alpha": ClusterSpec()}, salt="3006",
        minions=[MinionSpec("o2", rules=[_rule()]), MinionSpec("o3", rules=[_rule()])]),
}


def _stage(allowed):
    """Which snapshot a sampled set is: 0 for the anchor alone, k for snapshot k; None for anything else."""
    if allowed == frozenset({f"{ANCHOR}/32"}):
        return 0
    for number, address in enumerate(STEPS, start=1):
        if allowed == frozenset({f"{ANCHOR}/32", f"{address}/32"}):
            return number
    return None


def _assert_never_back(sampler, minion_ids):
    """Every sample of every minion is a published snapshot, and no minion ever went back to an older one."""
    for minion_id in minion_ids:
        stages = [(moment, value, _stage(value)) for moment, value in sampler.series(minion_id) if value]
        unknown = [(round(moment, 1), sorted(value)) for moment, value, stage in stages if stage is None]
        assert not unknown, f"{minion_id}: sets that no snapshot held: {unknown[:5]}"
        seen = [stage for _, _, stage in stages]
        assert seen == sorted(seen), f"{minion_id} went back to an older snapshot: {seen}"
        assert seen and seen[-1] == len(STEPS), f"{minion_id} never held the last snapshot: {seen}"
        print(f"{minion_id}: {len(seen)} samples, snapshots seen in order {sorted(set(seen))}")


def _salt_version(system, tool):
    """The version ``<tool> --version`` of the master's installation prints, e.g. ``3006.29``."""
    out = subprocess.run(system.salt.install.command(tool, "--version"), env=system.salt.env, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    return out.split()[1]  # "salt-master 3006.29 (Sulfur)"


def _delta_returns(system):
    """``{minion_id: count}`` of the successful ``nodeallow.apply_delta`` returns in the master's job cache."""
    found = {}
    for jid in system.salt.run("jobs.list_jobs", "search_function=nodeallow.apply_delta") or {}:
        for minion_id, ret in (system.salt.run("jobs.lookup_jid", jid) or {}).items():
            if results.is_delta(ret) and ret.get("result") is True and not results.need_full(ret):
                found[minion_id] = found.get(minion_id, 0) + 1
    return found


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_salt_mix_follows_each_publish_and_never_goes_back(case):
    """The minions follow four publishes in order on Salt 3006/3008 mixes; their sets are never empty."""
    reason = netns.skip_reason() or control_plane_missing()
    if reason:
        pytest.skip(reason)
    spec = CASES[case]
    minion_ids = [m.id for m in spec.minions]
    with System(spec) as system:
        alpha = system.clusters["alpha"]
        # Each daemon runs the Salt its spec names (masters, salt-api and minions).
        assert _salt_version(system, "salt-master") == VERSIONS[spec.salt]
        assert _salt_version(system, "salt-api") == VERSIONS[spec.salt]
        assert system.salt.salt(minion_ids, "test.version") == {
            m.id: VERSIONS[m.salt or spec.salt] for m in spec.minions}

        alpha.kube.create_allowlist(system.allowlist("workers", cluster="alpha", node_selector=SELECTOR))
        alpha.kube.create_node("alpha-anchor", [ANCHOR], labels={"pool": "workers"})
        for minion_id in minion_ids:
            system.wait_allowed(minion_id, ALLOWLIST, [ANCHOR], timeout=120)

        targets = {minion_id: (lambda m=minion_id: system.allowed(m, ALLOWLIST)) for minion_id in minion_ids}
        with SetSampler(targets) as sampler:
            alpha.kube.create_node("alpha-w1", [STEPS[0]], labels=WORKER_LABELS)
            for minion_id in minion_ids:
                system.wait_allowed(minion_id, ALLOWLIST, [ANCHOR, STEPS[0]])
            # Three more changes, each just past the controller's 2 s debounce: published one by one while
            # the minions may still be applying the one before.
            for address in STEPS[1:]:
                alpha.kube.set_node_addresses("alpha-w1", [address])
                time.sleep(2.5)
            for minion_id in minion_ids:
                system.wait_allowed(minion_id, ALLOWLIST, [ANCHOR, STEPS[-1]])
            time.sleep(1)

        sampler.assert_never_empty()
        _assert_never_back(sampler, minion_ids)
        # The master holds the controller's sequence, and no subscriber is behind.
        sequence = alpha.kube.get_allowlist("workers")["status"]["sequence"]
        wait_until(lambda: system.salt.run("nodeallow.status")[ALLOWLIST]["behind"] == [], timeout=60,
                   what=f"no subscriber of {ALLOWLIST} to be behind")
        status = system.salt.run("nodeallow.status")[ALLOWLIST]
        assert status["sequence"] == sequence, status
        assert sorted(status["subscribers"]) == sorted(minion_ids), status
        # The changes went by delta on every Salt, not only by the full apply.
        deltas = _delta_returns(system)
        assert all(deltas.get(minion_id) for minion_id in minion_ids), f"successful deltas per minion: {deltas}"
        alpha.kube.delete_nodes(TEST_LABEL)
