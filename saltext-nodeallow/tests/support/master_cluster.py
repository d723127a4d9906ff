# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Two salt-masters of one Salt master cluster on this machine, each with salt-api and one minion.

The layout follows Salt's master cluster tutorial in its shared mode: ``cluster_pki_dir``, ``cachedir``
(so nodeallow's store) and the pillar/file roots are shared by both masters; each master keeps its own
``pki_dir``, ``sock_dir`` (its local event bus), pid files and ``sqlite_queue_dir``. The masters listen on
two loopback addresses (Linux routes all of 127/8 to ``lo``) with the same ports, because a cluster peer
is named by its address and that name must equal the peer's ``id``. Traps this avoids
(/work/notes/master-cluster.md §4): ``root_dir`` stays ``/`` (Salt prefixes it to absolute paths outside
it, so the masters would not share the cachedir); a cluster whose masters all restart on kept state never
opens its request gate again in Salt 3008.4, so a cluster always starts on fresh folders and only one
master restarts at a time.

Daemons run through the e2e harness's :class:`harness.processes.Process` (own process group, stopped
with everything they forked, told to stop when the test process dies), in its Salt environment
(:func:`harness.salt.salt_env`).
"""

import ipaddress
import os
import pathlib
import random
import socket
import subprocess
import sys
import time

import requests
import salt.client
import salt.config
import yaml

import saltext.nodeallow
from saltext.nodeallow.firewall import rulesetfile
from tests.support import saltconfig
from tests.support.master_side import PillarFiles

REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO_ROOT / "test" / "e2e"))
# pylint: disable=wrong-import-position
from harness.processes import Process, stop_all, wait_until  # noqa: E402
from harness.salt import API_EAUTH, API_USER, parse_json_output, salt_env  # noqa: E402

VENV_BIN = pathlib.Path(sys.executable).parent
REACTOR_FILE = saltext.nodeallow.PACKAGE_ROOT / "reactor" / "nodeallow.sls"
CLUSTER_ID = "nodeallow_test"
# What salt-master 3008 logs (at info) once it is a committed cluster voter and serves requests.
GATE_OPEN = "cluster ready — opening request gate".encode()


class ClusterError(RuntimeError):
    """A daemon or command of the master cluster failed."""


def free_address_pair():
    """Two loopback addresses ``127.x.y.2`` and ``.3`` and three TCP ports free on both of them.

    A random ``127.x.y`` keeps two runs on one machine (other test sessions, the research demo on
    127.0.0.2/.3) apart; the ports are the same for both masters (see the module docstring).
    """
    prefix = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}"
    hosts = (f"{prefix}.2", f"{prefix}.3")
    ports = []
    while len(ports) < 4:
        with socket.socket() as first:
            first.bind((hosts[0], 0))
            port = first.getsockname()[1]
            with socket.socket() as second:
                try:
                    second.bind((hosts[1], port))
                except OSError:
                    continue
        if port not in ports:
            ports.append(port)
    return hosts, ports


def _write(path, text, mode=0o644):
    """Write ``text`` to ``path`` (parents created) with permissions ``mode``."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)


class ClusterMaster:
    """One master of the cluster: salt-master and salt-api on address ``host``, and its own minion."""

    def __init__(self, workdir, name, host, peer, ports, *, clusters, api_password, minion_id):
        """Write this master's (``<workdir>/<name>``) and its minion's configuration below ``workdir``."""
        self.host = host
        # Short on purpose: Salt silently moves sock_dir to <cachedir>/.salt-unix when it is more than
        # 10 characters longer than cachedir, and that cachedir is shared: both masters on one bus.
        self.dir = pathlib.Path(workdir) / name
        self.etc = self.dir / "etc"
        self.publish_port, self.ret_port, self.pool_port, self.api_port = ports
        self.api_url = f"http://{host}:{self.api_port}"
        self.api_password = api_password
        self.minion_id = minion_id
        self.minion_dir = pathlib.Path(workdir) / f"minion-{minion_id}"
        self.ruleset_file = self.minion_dir / "nodeallow.nft"
        shared = pathlib.Path(workdir) / "shared"
        env = salt_env()
        self.env = env
        users_file = self.etc / "nodeallow-eauth"
        _write(users_file, f"{API_USER}:{api_password}\n", mode=0o600)
        log = self.dir / "log"
        master = {
            "id": host,
            "interface": host,
            "publish_port": self.publish_port,
            "ret_port": self.ret_port,
            "cluster_id": CLUSTER_ID,
            "cluster_peers": [peer],
            "cluster_pki_dir": str(shared / "pki"),
            "cluster_pool_port": self.pool_port,
            # Shared by the cluster (the tutorial's shared filesystem): job cache, tokens, nodeallow's store.
            "cachedir": str(shared / "cache"),
            # This master's own.
            "root_dir": "/",
            "pki_dir": str(self.dir / "pki"),
            "sock_dir": str(self.dir / "sock"),
            "pidfile": str(self.dir / "master.pid"),
            "api_pidfile": str(self.dir / "api.pid"),
            "extension_modules": str(self.dir / "extmods"),
            "sqlite_queue_dir": str(self.dir / "queues"),
            "log_file": str(log / "master"),
            "api_logfile": str(log / "api"),
            "key_logfile": str(log / "key"),
            "log_level_logfile": "info",
            # Test machines only: accept minion keys without an operator.
            "auto_accept": True,
            "worker_threads": 3,
            "file_roots": {"base": [str(shared / "srv" / "salt")]},
            "pillar_roots": {"base": [str(shared / "srv" / "pillar")]},
        }
        _write(self.etc / "master", yaml.safe_dump(master, sort_keys=False))
        nodeallow = saltconfig.master_config(
            clusters=clusters,
            reactor_file=REACTOR_FILE,
            api_port=self.api_port,
            users_file=str(users_file),
            api_user=API_USER,
            # apply_timeout keeps its default (20 s): a loaded 2-core machine must not time out real applies.
            # Quick passes and retries: a job lost with a stopped master is retried within the test.
            reconcile_interval=5,
            retry_base=2,
            retry_max=5,
        )
        nodeallow["rest_cherrypy"]["host"] = host
        _write(self.etc / "master.d" / "nodeallow.conf", yaml.safe_dump(nodeallow, sort_keys=False), mode=0o600)
        minion = {
            "id": minion_id,
            "root_dir": str(self.minion_dir / "root"),
            "log_file": str(self.minion_dir / "root" / "log" / "minion"),
            "log_level_logfile": "info",
            "master": host,
            "master_port": self.ret_port,
            "publish_port": self.publish_port,
            "acceptance_wait_time": 1,
            "acceptance_wait_time_max": 2,
            "enable_fqdns_grains": False,
            # No network namespace needed: the nftables backend writes its ruleset to this file.
            "nodeallow_ruleset_file": str(self.ruleset_file),
        }
        _write(self.minion_dir / "etc" / "minion", yaml.safe_dump(minion, sort_keys=False))
        self.master = Process("salt-master", [VENV_BIN / "salt-master", "-c", self.etc, "--log-level=warning"],
                              log_path=str(self.dir / "salt-master.out"), env=env)
        self.api = Process("salt-api", [VENV_BIN / "salt-api", "-c", self.etc, "--log-level=warning"],
                           log_path=str(self.dir / "salt-api.out"), env=env)
        self.minion = Process(f"salt-minion-{minion_id}",
                              [VENV_BIN / "salt-minion", "-c", self.minion_dir / "etc", "--log-level=warning"],
                              log_path=str(self.minion_dir / "salt-minion.out"), env=env)
        self._opts = None
        self._log_offset = 0

    @property
    def conf_file(self):
        """The master's configuration file."""
        return str(self.etc / "master")

    def opts(self):
        """The master's options as Salt computes them (for :class:`tests.support.events.MasterEvents`)."""
        if self._opts is None:
            opts = salt.config.master_config(self.conf_file)
            if opts["sock_dir"] != str(self.dir / "sock"):
                raise ClusterError(f"Salt moved master {self.host}'s sock_dir to {opts['sock_dir']}: "
                                   "shorten the folder names (sock_dir at most 10 characters longer than cachedir)")
            self._opts = opts
        return self._opts

    def start_master(self, timeout=120, wait=True):
        """Start salt-master and (``wait``) wait until it joined the cluster (its request gate is open)."""
        self._log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        self.master.start()
        if wait:
            self.wait_master(timeout)

    def pool_listens(self):
        """Whether salt-master listens on its cluster pool port (read in /proc: a probe would reach Salt)."""
        local = f"{socket.inet_aton(self.host)[::-1].hex().upper()}:{self.pool_port:04X}"
        with open("/proc/net/tcp", encoding="ascii") as fh:
            return any(fields[1] == local and fields[3] == "0A" for fields in (line.split() for line in fh))

    @property
    def log_file(self):
        """salt-master's log file."""
        return self.dir / "log" / "master"

    def _gate_open(self):
        """Whether salt-master logged, since its last start, that it opened its request gate (cluster ready)."""
        try:
            with self.log_file.open("rb") as fh:
                fh.seek(self._log_offset)
                return GATE_OPEN in fh.read()
        except FileNotFoundError:
            return False

    def wait_master(self, timeout=120):
        """Wait for salt-master's local event bus."""
        self.opts()  # fails at once if Salt would put the bus elsewhere
        sock = self.dir / "sock" / "master_event_pub.ipc"
        wait_until(sock.exists, timeout=timeout, what=f"salt-master {self.host}'s event socket {sock}",
                   interval=0.2, processes=[self.master])
        # Until then it defers every request but _auth: minions would wait out their auth backoff.
        wait_until(self._gate_open, timeout=timeout, interval=0.2, processes=[self.master],
                   what=f"salt-master {self.host} to join the cluster ({GATE_OPEN.decode()!r} in {self.log_file})")

    def stop_master(self):
        """SIGTERM salt-master (its group is killed if it does not stop in 60 s)."""
        self.master.stop(timeout=60)
        # A restarted master must not find the socket of its predecessor and look ready early.
        for name in ("master_event_pub.ipc", "master_event_pull.ipc"):
            (self.dir / "sock" / name).unlink(missing_ok=True)

    def wait_api(self, timeout=120):
        """Wait until salt-api answers HTTP."""
        session = requests.Session()
        session.trust_env = False
        try:
            wait_until(lambda: session.get(self.api_url + "/", timeout=2).status_code == 200, timeout=timeout,
                       what=f"salt-api at {self.api_url}", interval=0.3, processes=[self.api, self.master])
        finally:
            session.close()

    def login(self):
        """Log in to this master's salt-api like a controller; return the token (valid at this salt-api only)."""
        response = requests.post(
            self.api_url + "/login",
            json={"username": API_USER, "password": self.api_password, "eauth": API_EAUTH},
            timeout=30,
        )
        response.raise_for_status()
        return response.json()["return"][0]["token"]

    def _cli(self, tool, args, timeout):
        """Run ``tool -c etc --out=json <args>``; return (returncode, decoded output, raw text)."""
        argv = [str(VENV_BIN / tool), "-c", str(self.etc), "--out=json", "--out-indent=-1", *args]
        proc = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=timeout + 60,
                              check=False)
        try:
            data = parse_json_output(proc.stdout)
        except ValueError:
            data = None
        return proc.returncode, data, proc.stdout + proc.stderr

    def run(self, function, *args, timeout=60):
        """``salt-run <function> <args>`` on this master; return its decoded return."""
        code, data, text = self._cli("salt-run", [f"--timeout={timeout}", function, *args], timeout)
        if code != 0 or data is None:
            raise ClusterError(f"salt-run {function} on master {self.host} exited {code}: {text[-2000:]}")
        return data

    def ping(self, minion_ids, timeout=10):
        """``test.ping`` to ``minion_ids`` through this master: {minion_id: True} for those that answered.

        In this process (salt.client.LocalClient): a ``salt`` command costs seconds of start-up on a loaded machine.
        """
        try:
            with salt.client.get_local_client(self.conf_file) as client:
                return client.cmd(sorted(minion_ids), "test.ping", tgt_type="list", timeout=timeout) or {}
        except Exception:  # pylint: disable=broad-except  # the gate may still be closed: not ready yet
            return {}

    def ruleset_addresses(self, allowlist):
        """The networks of ``allowlist`` (``cluster/name``) in this master's minion's ruleset file, as strings.

        Read from the file's record (rulesetfile.RulesetFile, what the backend reads back), normalised
        (a host set holds ``10.0.0.1`` for ``10.0.0.1/32``); ``set()`` before the first apply.
        """
        found = set()
        for table in rulesetfile.RulesetFile(str(self.ruleset_file)).load().values():
            for family in (table.get("addresses") or {}).get(allowlist, {}).values():
                found.update(str(ipaddress.ip_network(address)) for address in family)
        return found

    def log_tail(self, lines=30):
        """The end of this master's and its salt-api's logs (for failure messages)."""
        out = []
        for path in (self.dir / "log" / "master", self.dir / "log" / "api"):
            try:
                out.append(f"--- {path}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
            except OSError as exc:
                out.append(f"--- {path}: {exc}")
        return "\n".join(out)


class MasterCluster:
    """Two :class:`ClusterMaster` of one cluster sharing ``<workdir>/shared``; :meth:`stop` ends everything."""

    def __init__(self, workdir, *, clusters, minion_ids=("m1", "m2")):
        """Write both masters' configuration and the shared pillar tree below ``workdir``."""
        self.workdir = pathlib.Path(workdir)
        hosts, ports = free_address_pair()
        password = os.urandom(12).hex()
        self.masters = [
            ClusterMaster(workdir, f"m{i + 1}", hosts[i], hosts[1 - i], ports, clusters=clusters, api_password=password,
                          minion_id=minion_ids[i])
            for i in (0, 1)
        ]
        (self.workdir / "shared" / "srv" / "salt").mkdir(parents=True, exist_ok=True)
        self.pillar = PillarFiles(self.workdir / "shared" / "srv" / "pillar")

    @property
    def minion_ids(self):
        """The minions' ids, master1's first."""
        return [m.minion_id for m in self.masters]

    def start(self, timeout=180):
        """Start both masters, then both salt-apis and minions; wait until each master reaches both minions.

        A minion answering through the *other* master proves the cluster routes jobs between peers.
        """
        # The founder (the lowest address, master1) first, until its cluster port listens: a master that
        # starts sends its peer one cluster discover, and Salt 3008.4 never resends it. Started side by
        # side, master2's discover sometimes reached master1 before it listened; master1 then waited as
        # founding voter for master2's vote and master2 for a join reply, and neither gate ever opened.
        founder, joiner = self.masters
        founder.start_master(wait=False)
        wait_until(founder.pool_listens, timeout=timeout, interval=0.2, processes=[founder.master],
                   what=f"salt-master {founder.host}'s cluster port {founder.pool_port}")
        joiner.start_master(wait=False)
        for master in self.masters:
            master.wait_master(timeout=timeout)
        for master in self.masters:
            master.api.start()
            master.minion.start()
        for master in self.masters:
            master.wait_api(timeout=timeout)
        ids = self.minion_ids
        for master in self.masters:
            wait_until(lambda m=master: all(m.ping(ids).get(i) is True for i in ids), timeout=timeout,
                       what=f"minions {ids} to answer test.ping through master {master.host}", interval=1,
                       processes=[p for m in self.masters for p in (m.master, m.minion)])
        return self

    def stop(self):
        """Stop every daemon (salt-apis and minions side by side, then the masters)."""
        stop_all([p for m in self.masters for p in (m.api, m.minion)], timeout=30)
        stop_all([m.master for m in self.masters], timeout=60)

    def wait_ready(self, master, timeout=120):
        """Wait until ``master`` (re)joined the cluster: it reaches both minions again."""
        ids = self.minion_ids
        wait_until(lambda: all(master.ping(ids).get(i) is True for i in ids), timeout=timeout,
                   what=f"master {master.host} to answer again (cluster request gate)", interval=1,
                   processes=[master.master])


def wait_for(predicate, *, timeout, what, interval=0.5):
    """Call ``predicate`` until it returns a true value and return it; raise AssertionError naming ``what``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")
