# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The whole nodeallow system on one machine: clusters with controllers, one Salt master, minions in namespaces.

Used by the end-to-end tests (test/e2e/conftest.py) and by `make demo` (test/e2e/demo.py), so both run the
same thing::

    spec = SystemSpec(clusters={"alpha": ClusterSpec()}, minions=[MinionSpec("db1", rules=[...])])
    with System(spec) as system:
        system.clusters["alpha"].kube.create_node(...)

``SystemSpec(masters=2)`` starts Salt's classic multi-master: two salt-masters, each with its own salt-api,
cache and reactor (``system.salts``; ``system.salt`` is the first), and every minion connected to both.

``SystemSpec(salt="3006")`` runs the masters and salt-apis with Salt 3006 instead of the primary 3008, and
``MinionSpec(..., salt="3006")`` one minion (harness.saltenv: each with nodeallow installed from the release
wheel as ``salt-pip install`` does).

``SystemSpec(firewall_files=True)`` (the demo when not root) needs no root: no namespaces, and each minion
writes its nftables ruleset to ``<workdir>/firewalls/<id>.nft`` (minion option ``nodeallow_ruleset_file``).

Leaving the ``with`` block (normally, by an exception or by Ctrl-C) stops every process it started and removes
the network namespaces and the temporary folder.
"""

import contextlib
import dataclasses
import glob
import os
import re
import secrets
import shutil
import signal
import tempfile
import threading
import time

from harness import binaries, firewall, saltenv
from harness.cluster import LocalCluster
from harness.controller import CONTROLLER_NAMESPACE, Controller
from harness.processes import ProcessError, free_loopback_ports, wait_until
from harness.salt import API_EAUTH, API_USER, SaltMaster
from tests.support import netns

SIGNING_KEY_SECRET = "salt-signing-key"
CREDENTIALS_SECRET = "salt-api-credentials"
# Names the harness process owning a temporary folder, so a later run can remove it if that process was killed.
_OWNER_FILE = "harness.pid"
# Lines Salt's daemons print on stderr at every shutdown of a transport; they only hide the real cause.
_NOISE = re.compile(r"Task was destroyed but it is pending|^task: <Task |unclosed SyncWrapper")


@dataclasses.dataclass
class ClusterSpec:
    """One Kubernetes cluster with its own controller (``--cluster-name``) and signing key."""

    signing_key: str = dataclasses.field(default_factory=lambda: secrets.token_hex(32))
    # A newer key the master accepts too (``signing_keys: [next, signing_key]``), for a rotation in progress:
    # the controller starts with ``signing_key`` and a test may move its Secret to this one.
    next_signing_key: str = ""

    def master_keys(self):
        """The keys the master accepts for this cluster, newest first."""
        return [key for key in (self.next_signing_key, self.signing_key) if key]


@dataclasses.dataclass
class MinionSpec:
    """One minion and its subscriptions: pillar ``nodeallow: rules:`` entries (docs/salt.md)."""

    id: str
    rules: list
    backend: str = "nftables"
    # The minion's Salt line ("3008", "3006"); None: the masters' (SystemSpec.salt).
    salt: str | None = None


@dataclasses.dataclass
class SystemSpec:
    """What to start."""

    clusters: dict
    minions: list
    # Prefix of the temporary folder, e.g. "nodeallow-e2e-" or "nodeallow-demo-".
    workdir_prefix: str = "nodeallow-e2e-"
    controller_log_level: str = "info"
    # Minions write their nftables ruleset to files (nodeallow_ruleset_file) instead of kernels in network
    # namespaces, so nothing needs root (the demo as a normal user).
    firewall_files: bool = False
    # How many salt-masters (classic multi-master: each its own salt-api, cache and reactor; every minion
    # connects to all of them), and further nodeallow settings for all of them.
    masters: int = 1
    master_settings: dict = dataclasses.field(default_factory=dict)
    # The Salt line ("3008", "3006") of the masters and salt-apis, and of every minion that names none;
    # NODEALLOW_E2E_SALT=3006 runs a whole suite on the other line (e.g. the fault tests).
    salt: str = dataclasses.field(default_factory=lambda: os.environ.get("NODEALLOW_E2E_SALT", saltenv.PRIMARY))


class ClusterHandle:
    """A running cluster: its control plane, API client, kubeconfig and controller."""

    def __init__(self, name, spec, local, controller):
        """Bundle what belongs to cluster ``name``."""
        self.name = name
        self.spec = spec
        self.local = local
        self.kube = local.kube
        self.kubeconfig = local.kubeconfig
        self.controller = controller


class System:
    """Starts everything in :class:`SystemSpec` on ``__enter__`` and removes all of it on ``__exit__``."""

    def __init__(self, spec, *, progress=None):
        """Prepare to start ``spec``; ``progress(message)`` is told about each step (default: silent)."""
        self.spec = spec
        self.progress = progress or (lambda message: None)
        self.workdir = None
        self.log_dir = None
        self.salt = None
        self.salts = []
        self.clusters = {}
        self.namespaces = {}
        self.ruleset_files = {}
        self.timings = {}
        self._manager = self._env = None
        self._stack = contextlib.ExitStack()

    # Lifecycle

    def __enter__(self):
        """Start the system; on any failure, undo what was started and re-raise."""
        try:
            self._start()
        except BaseException:
            with _signals_deferred():
                self._stack.close()
            raise
        return self

    def __exit__(self, *exc_info):
        """Stop every process, delete the namespaces and the temporary folder."""
        self.progress("stopping everything and cleaning up")
        with _signals_deferred():
            self._stack.close()
        return False

    def _timed(self, step, func, *args, **kwargs):
        """Run ``func``, record how long ``step`` took, and return its result."""
        started = time.monotonic()
        self.progress(step)
        result = func(*args, **kwargs)
        self.timings[step] = time.monotonic() - started
        return result

    def _start(self):
        """Build, start and wire everything (see the module docstring)."""
        reason = binaries.control_plane_missing()
        if not self.spec.firewall_files:
            reason = netns.skip_reason() or reason
        if reason:
            raise ProcessError(reason)
        _remove_stale_workdirs(self.spec.workdir_prefix)
        # Short, under /tmp: Salt's unix sockets live below it (107-byte limit).
        self.workdir = tempfile.mkdtemp(prefix=self.spec.workdir_prefix, dir="/tmp")
        self._stack.callback(self._remove_workdir)
        with open(os.path.join(self.workdir, _OWNER_FILE), "w", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()}\n")
        self.log_dir = os.path.join(self.workdir, "logs")
        os.makedirs(self.log_dir)
        bin_dir = os.path.join(self.workdir, "bin")
        manager, _ = self._timed("build the controller (go build ./cmd)", binaries.go_build, "./cmd",
                                 os.path.join(bin_dir, "manager"))
        localcluster, _ = self._timed("build test/localcluster", binaries.go_build, "./test/localcluster",
                                      os.path.join(bin_dir, "localcluster"))

        if self.spec.firewall_files:
            os.makedirs(os.path.join(self.workdir, "firewalls"))
            for minion in self.spec.minions:
                self.ruleset_files[minion.id] = os.path.join(self.workdir, "firewalls", f"{minion.id}.nft")
        else:
            netns.remove_stale()
            for minion in self.spec.minions:
                name = netns.name_for(minion.id)
                self._stack.callback(netns.delete, name)
                netns.create(name)
                self.namespaces[minion.id] = name

        env = dict(os.environ)
        env["PATH"] = env.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin"
        # A busy machine starts kube-apiserver slower than envtest's 20 s default.
        env.setdefault("KUBEBUILDER_CONTROLPLANE_START_TIMEOUT", "180s")
        self._manager, self._env = manager, env
        locals_ = {}
        for name in self.spec.clusters:
            local = LocalCluster(name, binary=localcluster, workdir=os.path.join(self.workdir, "clusters", name),
                                 log_dir=self.log_dir, env=env)
            self._stack.callback(local.stop)
            local.launch()
            locals_[name] = local

        lines = dict.fromkeys([self.spec.salt, *(m.salt for m in self.spec.minions if m.salt)])
        installs = {line: self._timed(f"install nodeallow's wheel into Salt {line} (salt-pip's way)",
                                      saltenv.install, line) for line in lines}
        api_password = secrets.token_urlsafe(24)
        self.salts = self._salt_masters(api_password, installs[self.spec.salt])
        self.salt = self.salts[0]
        for minion in self.spec.minions:
            pillar = subscriptions_pillar(minion.rules, backend=minion.backend)
            handle = self.salt.add_minion(minion.id, netns=self.namespaces.get(minion.id),
                                          ruleset_file=self.ruleset_files.get(minion.id), pillar=pillar,
                                          also=self.salts[1:], install=installs[minion.salt or self.spec.salt])
            for other in self.salts[1:]:
                other.attach_minion(handle, pillar=pillar)
        for salt in self.salts:
            self._stack.callback(salt.stop)
        self._timed("start salt-master, salt-api and minions", self._start_salt)

        for name, spec in self.spec.clusters.items():
            local = locals_[name]
            self._timed(f"start the control plane of cluster {name}", local.start)
            kube = local.kube
            kube.ensure_namespace(CONTROLLER_NAMESPACE)
            kube.apply_secret(CONTROLLER_NAMESPACE, SIGNING_KEY_SECRET, {"signing-key": spec.signing_key})
            kube.apply_secret(CONTROLLER_NAMESPACE, CREDENTIALS_SECRET,
                              {"username": API_USER, "password": api_password, "eauth": API_EAUTH})
            controller = Controller(name, binary=manager, kubeconfig=local.kubeconfig, log_dir=self.log_dir,
                                    env=env, log_level=self.spec.controller_log_level)
            self._stack.callback(controller.stop)
            self._timed(f"start the controller of cluster {name}", controller.start)
            self.clusters[name] = ClusterHandle(name, spec, local, controller)

    def _salt_masters(self, api_password, install):
        """The :class:`SaltMaster` of the spec, running ``install``: one on 127.0.0.1, or several on addresses of
        their own."""
        keys = {name: spec.master_keys() for name, spec in self.spec.clusters.items()}
        common = {"clusters": keys, "log_dir": self.log_dir, "api_password": api_password,
                  "settings": self.spec.master_settings, "install": install}
        if self.spec.masters == 1:
            return [SaltMaster(os.path.join(self.workdir, "salt"), **common)]
        # Same ports on every address: a multi-master minion has one master_port for all its masters.
        hosts, ports = free_loopback_ports(self.spec.masters, 3)
        return [SaltMaster(os.path.join(self.workdir, f"salt-m{i + 1}"), name=f"m{i + 1}", host=host,
                           ports=ports, **common)
                for i, host in enumerate(hosts)]

    def _start_salt(self):
        """Start every salt-master (the first one first), then the minions and the salt-apis; wait for all."""
        self.salt.start_master()
        for salt in self.salts[1:]:
            # Classic multi-master: every master has the first one's key pair (docs/salt.md).
            salt.use_key_of(self.salt)
            salt.start_master()
        for minion in self.salt.minions.values():
            minion.start()
        for salt in self.salts:
            salt.start_api()
        for salt in self.salts:
            salt.wait_minions()

    def _remove_workdir(self):
        """Remove the temporary folder, unless NODEALLOW_E2E_KEEP is set (then say where it is)."""
        if os.environ.get("NODEALLOW_E2E_KEEP"):
            os.remove(os.path.join(self.workdir, _OWNER_FILE))
            self.progress(f"kept {self.workdir} (NODEALLOW_E2E_KEEP is set)")
            return
        shutil.rmtree(self.workdir, ignore_errors=True)

    # What the tests and the demo do with a running system

    def controller_replica(self, cluster, replica, *, extra_args=()):
        """A leader-elected replica ``replica`` of ``cluster``'s controller (not started; stopped with the system).

        Replicas of one cluster elect their leader through one Lease, as the chart's Deployment does; the
        cluster's own controller runs without leader election, so a test stops it while replicas run.
        """
        handle = self.clusters[cluster]
        controller = Controller(cluster, binary=self._manager, kubeconfig=handle.kubeconfig, log_dir=self.log_dir,
                                env=self._env, log_level=self.spec.controller_log_level, replica=replica,
                                leader_elect=True, extra_args=extra_args)
        self._stack.callback(controller.stop)
        return controller

    def allowlist(self, name, *, cluster, node_selector=None, url=None, endpoints=None, **spec_overrides):
        """Return a NodeAllowlist publishing to the (first) salt-api, to ``url``, or to each of ``endpoints``
        (``spec.salt.endpoints``: a list of salt-api URLs), with cluster's Secrets."""
        spec = {} if node_selector is None else {"nodeSelector": node_selector}
        target = {"endpoints": [{"url": u} for u in endpoints]} if endpoints else {"url": url or self.salt.api_url}
        spec.update({
            "salt": {
                **target,
                "allowInsecureHTTP": True,
                "signingKeySecretRef": {"name": SIGNING_KEY_SECRET, "key": "signing-key"},
                "credentialsSecretRef": {"name": CREDENTIALS_SECRET},
            },
        })
        spec.update(spec_overrides)
        return {"apiVersion": "nodeallow.io/v1alpha1", "kind": "NodeAllowlist", "metadata": {"name": name},
                "spec": spec}

    def allowed(self, minion_id, allowlist):
        """The CIDRs that minion ``minion_id``'s kernel (or ruleset file) allows for ``allowlist`` ("cluster/name")."""
        if self.spec.firewall_files:
            return firewall.allowed_in_file(self.ruleset_files[minion_id], allowlist)
        return firewall.allowed(self.namespaces[minion_id], allowlist)

    def wait_allowed(self, minion_id, allowlist, expected, timeout=60):
        """Wait until ``minion_id`` allows exactly ``expected`` for ``allowlist``; return the seconds it took."""
        want = firewall.canonical(expected)
        started = time.monotonic()
        last = {}

        def matches():
            """Whether the minion's sets are as wanted (remembering what they were)."""
            last["value"] = self.allowed(minion_id, allowlist)
            return last["value"] == want

        try:
            wait_until(matches, timeout=timeout, interval=0.1,
                       what=f"{minion_id}'s nft sets for {allowlist} to be {sorted(want)}")
        except ProcessError as exc:
            raise AssertionError(f"{exc}; they are {sorted(last.get('value', []))}\n{self.diagnostics()}") from exc
        return time.monotonic() - started

    def diagnostics(self, lines=15):
        """The ends of every daemon's output and Salt's own log files, for a failure message."""
        paths = []
        if self.log_dir and os.path.isdir(self.log_dir):
            paths += [os.path.join(self.log_dir, name) for name in sorted(os.listdir(self.log_dir))]
        for salt in self.salts:
            paths += salt.log_files()
        out = []
        for path in dict.fromkeys(paths):
            try:
                with open(path, encoding="utf-8", errors="replace") as fh:
                    text = [line for line in fh.read().splitlines() if not _NOISE.search(line)]
            except FileNotFoundError:
                continue
            out.append(f"--- {path} (last {lines} lines)\n" + "\n".join(text[-lines:]))
        return "\n".join(out)


def _remove_stale_workdirs(prefix):
    """Remove temporary folders of harness processes that were killed before they could clean up."""
    for path in glob.glob(os.path.join("/tmp", f"{prefix}*")):
        try:
            with open(os.path.join(path, _OWNER_FILE), encoding="utf-8") as fh:
                owner = int(fh.read().strip())
        except (OSError, ValueError):
            continue  # kept on purpose (NODEALLOW_E2E_KEEP), or not ours
        if not os.path.exists(f"/proc/{owner}"):
            shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def _signals_deferred():
    """Ignore Ctrl-C and SIGTERM while cleaning up, so a second one cannot leave processes or namespaces behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def subscriptions_pillar(rules, *, backend="nftables"):
    """A minion's pillar subscribing to ``rules`` (docs/salt.md's ``nodeallow:`` pillar)."""
    return {"nodeallow": {"backend": backend, "rules": list(rules)}}
