# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""A real Salt master with salt-api and minions, configured in one folder the way docs/salt.md tells a user to.

Several masters (classic multi-master, docs/salt.md) are several :class:`SaltMaster` on loopback addresses
of their own with the same ports; a minion of the first lists them all (``master: [host1, host2]``) and the
others :meth:`SaltMaster.attach_minion` it (pillar, waits).

Layout below ``<workdir>/salt``::

    etc/master                  harness settings (ports, folders, auto_accept, ``user: salt``) ...
    etc/master.d/nodeallow.conf ... and nodeallow's settings exactly as docs/salt.md shows them
    etc/nodeallow-eauth         salt-api's file eauth user, made by docs/install.md's commands (root:salt 0640)
    srv/pillar/                 top.sls and one subscriptions file per minion
    srv/reactor/nodeallow.sls   the shipped reactor, copied by docs/install.md's command
    master/                     the master's root_dir (pki, cache, sockets, log/), owned by the master's user
    minions/<id>/etc/minion     each minion's config (its own root_dir, nodeallow_netns or nodeallow_ruleset_file)
    bin/                        salt, salt-run, salt-call, salt-key wrappers with -c, run by the master's Salt

Every daemon and command runs a :class:`harness.saltenv.SaltInstall`: Salt of one line (3008 or 3006) with
nodeallow installed from its release wheel as ``salt-pip install`` does; a minion may run another line than
its master (``add_minion(install=...)``).
"""

import contextlib
import getpass
import json
import os
import shlex
import subprocess
import threading
import time

import requests
import yaml

from harness import installdoc, saltenv, saltuser
from harness.binaries import REPO_ROOT
from harness.processes import Process, free_port, stop_all, wait_until
from tests.support import saltconfig

# The faster tests' shortcut (hack/python-env.sh): the extension on PYTHONPATH instead of the wheel installed.
EXTENSION_SITE = REPO_ROOT / "bin" / "saltext-site"

# The salt-api user the controllers log in as (file eauth: a real password check).
API_USER = "nodeallow"
API_EAUTH = "file"
# Fired until an event watch prints it: then that salt-run is connected to the bus (not shown to callers).
WATCH_MARKER = "nodeallow/harness/watching"


class SaltError(RuntimeError):
    """A Salt command failed or answered something unexpected."""


class SaltMaster:
    """salt-master and salt-api (rest_cherrypy, plain HTTP on a loopback address) with nodeallow configured.

    Started by root they run as the user ``salt`` (``user: salt``), as Salt's packages run them (harness.saltuser).
    """

    def __init__(self, workdir, *, clusters, log_dir, api_password, name=None, host="127.0.0.1", ports=None,
                 settings=None, install=None):
        """Write the master's configuration below ``workdir``.

        ``clusters`` maps cluster name to its signing keys, newest first (the master's ``nodeallow: clusters:``).
        ``name`` tells one of several masters apart (its id ``nodeallow-<name>`` and its log files), ``host``
        is the address it and its salt-api listen on, ``ports`` its ``(publish, ret, api)`` ports (default:
        free ones), ``settings`` further ``nodeallow:`` settings (timeouts), ``install`` the
        :class:`harness.saltenv.SaltInstall` salt-master and salt-api run (default: the primary Salt line).
        """
        self.workdir = workdir
        self.name = name
        self.host = host
        self.settings = dict(settings or {})
        self.etc = os.path.join(workdir, "etc")
        self.root = os.path.join(workdir, "master")
        self.srv = os.path.join(workdir, "srv")
        self.bin = os.path.join(workdir, "bin")
        self.log_dir = log_dir
        self.clusters = dict(clusters)
        self.api_password = api_password
        self.publish_port, self.ret_port, self.api_port = ports or (free_port(), free_port(), free_port())
        self.api_url = f"http://{host}:{self.api_port}"
        self.install = install or saltenv.install()
        self.env = self.install.environ()
        self.user = saltuser.master_user()
        self._user_checked = False
        self.minions = {}
        self._write_config()
        suffix = f"-{name}" if name else ""
        self.master = Process(
            f"salt-master{suffix}",
            self.install.command("salt-master", "-c", self.etc, "--log-level=warning"),
            log_path=os.path.join(log_dir, f"salt-master{suffix}.log"),
            env=self.env,
        )
        self.api = Process(
            f"salt-api{suffix}",
            self.install.command("salt-api", "-c", self.etc, "--log-level=warning"),
            log_path=os.path.join(log_dir, f"salt-api{suffix}.log"),
            env=self.env,
        )

    @property
    def reactor_file(self):
        """Where the master config's ``reactor:`` points: install.md's ``/srv/reactor/nodeallow.sls``, copied there."""
        return os.path.join(self.srv, "reactor", "nodeallow.sls")

    @property
    def conf_file(self):
        """The master configuration file (``salt.config.master_config`` reads it with master.d/)."""
        return os.path.join(self.etc, "master")

    def _write_config(self):
        """Write the master config, pillar top, eauth user file and CLI wrappers."""
        for path in (self.etc, os.path.join(self.etc, "master.d"), self.root, self.bin,
                     os.path.join(self.srv, "pillar"),
                     os.path.join(self.srv, "salt")):
            os.makedirs(path, exist_ok=True)
        users_file = os.path.join(self.etc, "nodeallow-eauth")
        harness_settings = {
            "id": f"nodeallow-{self.name or 'master'}",
            "root_dir": self.root,
            "log_file": os.path.join(self.root, "log", "master"),
            "api_logfile": os.path.join(self.root, "log", "api"),
            "key_logfile": os.path.join(self.root, "log", "key"),
            "log_level_logfile": "info",
            "interface": self.host,
            "publish_port": self.publish_port,
            "ret_port": self.ret_port,
            # Test machines only: accept minion keys without an operator.
            "auto_accept": True,
            "worker_threads": 4,
            "file_roots": {"base": [os.path.join(self.srv, "salt")]},
            "pillar_roots": {"base": [os.path.join(self.srv, "pillar")]},
        }
        harness_settings.update(saltuser.user_setting())
        _write(self.conf_file, "# Written by test/e2e/harness: this test system's ports and folders.\n"
               + yaml.safe_dump(harness_settings, sort_keys=False))
        nodeallow_conf = saltconfig.master_config(
            clusters=self.clusters,
            reactor_file=self.reactor_file,
            api_port=self.api_port,
            users_file=users_file,
            api_user=API_USER,
            **self.settings,
        )
        nodeallow_conf["rest_cherrypy"]["host"] = self.host
        nodeallow_conf = "# nodeallow settings (docs/salt.md)\n" + yaml.safe_dump(nodeallow_conf, sort_keys=False)
        # 0600 as docs/salt.md says: it holds the signing keys.
        _write(os.path.join(self.etc, "master.d", "nodeallow.conf"), nodeallow_conf, mode=0o600)
        self._write_users_file()
        self._write_top()
        for tool in ("salt", "salt-run", "salt-key", "salt-call"):
            self._write_wrapper(tool)

    def _write_users_file(self):
        """Write salt-api's file eauth user (``user:password`` lines) with docs/install.md's commands; return its path.

        As root they make it root:salt 0640, so the master's user reads it and no one else, and give
        nodeallow.conf to the user (``salt-run`` reads it again once it switched); the demo run by another
        user writes it 0600, its own.
        """
        path = os.path.join(self.etc, "nodeallow-eauth")
        if os.geteuid() == 0:
            installdoc.run("nodeallow-eauth", dict(self.env, PASSWORD=self.api_password),
                           {installdoc.SALT_ETC: self.etc})
        else:
            _write(path, f"{API_USER}:{self.api_password}\n", mode=0o600)
        return path

    def _hand_over(self):
        """Before a start: give the master's folders to its user, as Salt's packages do, and check it can run.

        Salt chowns what it creates and what it finds in its cache at start (``verify_env``); the log files
        and the key pair :meth:`use_key_of` copied in are written by root before that.
        """
        saltuser.open_path(os.path.dirname(self.workdir))
        # The log folder too: the master opens its log file as root, and stats it as its user.
        saltuser.hand_over(self.user, [self.root, os.path.join(self.root, "log")])
        if not self._user_checked:
            saltuser.check_can_run(self.user, self.install.python, self.env)
            self._user_checked = True

    def _write_wrapper(self, tool):
        """Write ``bin/<tool>``: the master's Salt's tool with this master's config folder."""
        path = os.path.join(self.bin, tool)
        _write(
            path,
            "#!/bin/sh\n"
            f"# {tool} for the nodeallow test system in {self.workdir}\n"
            f"exec {shlex.join(self.install.command(tool, '-c', self.etc))} \"$@\"\n",
            mode=0o755,
        )

    def _write_top(self):
        """Write the pillar top file: each minion gets its own subscriptions file."""
        top = {"base": {mid: [f"subscriptions_{mid.replace('-', '_')}"] for mid in self.minions}}
        _write(os.path.join(self.srv, "pillar", "top.sls"), yaml.safe_dump(top, sort_keys=True))

    def set_subscriptions(self, minion_id, pillar):
        """Write ``minion_id``'s pillar (its ``nodeallow:`` subscriptions) and list it in top.sls."""
        path = os.path.join(self.srv, "pillar", f"subscriptions_{minion_id.replace('-', '_')}.sls")
        _write(path, yaml.safe_dump(pillar, sort_keys=False))
        self._write_top()

    def add_minion(self, minion_id, *, pillar, netns=None, ruleset_file=None, also=(), install=None):
        """Configure (not start) minion ``minion_id``; its firewall is namespace ``netns`` or file ``ruleset_file``.

        ``also`` lists further masters the minion connects to (classic multi-master); attach it to them with
        :meth:`attach_minion`. ``install``: the minion's Salt (default: the master's).
        """
        minion = SaltMinion(self, minion_id, netns=netns, ruleset_file=ruleset_file, also=also,
                            install=install or self.install)
        self.attach_minion(minion, pillar=pillar)
        return minion

    def attach_minion(self, minion, *, pillar):
        """Serve ``minion`` (configured by another master too) ``pillar`` and wait for it like for our own."""
        self.minions[minion.id] = minion
        self.set_subscriptions(minion.id, pillar)

    @property
    def _event_socket(self):
        """The master's event publisher socket (it exists once the master serves its bus)."""
        return os.path.join(self.root, "var", "run", "salt", "master", "master_event_pub.ipc")

    def start_master(self, timeout=180):
        """Start salt-master and wait for its event bus; the first time, copy the reactor as install.md does."""
        self._hand_over()
        self.master.start()
        wait_until(lambda: os.path.exists(self._event_socket), timeout=timeout,
                   what=f"salt-master's event socket {self._event_socket}", interval=0.2, processes=[self.master])
        if not os.path.exists(self.reactor_file):
            # Hooks reach the reactor through salt-api only, which starts after this.
            env = dict(self.env, PATH=f"{self.bin}:{self.env['PATH']}")
            installdoc.run("/srv/reactor/", env, {installdoc.SALT_SRV: self.srv})

    @property
    def pki_dir(self):
        """The master's key folder (``root_dir`` + ``/etc/salt/pki/master``)."""
        return os.path.join(self.root, "etc", "salt", "pki", "master")

    def use_key_of(self, other):
        """Before this master's first start, give it ``other``'s key pair, as classic multi-master requires.

        A minion keeps one master public key (``minion_master.pub``) for all its masters and refuses an
        answer signed with another key ("Unable to decrypt message"). Salt 3008 keeps the pair as
        ``<id>.pem``/``<id>.pub`` with ``master.pem``/``master.pub`` links to them; a fresh master takes a
        ``master.pem``/``master.pub`` it finds as its own.
        """
        os.makedirs(self.pki_dir, mode=0o700, exist_ok=True)
        for name in ("master.pem", "master.pub"):
            with open(os.path.join(other.pki_dir, name), encoding="ascii") as fh:
                _write(os.path.join(self.pki_dir, name), fh.read(), mode=0o400)

    def kill(self):
        """SIGKILL salt-master and salt-api with everything they forked, as a crashed or powered-off master host."""
        self.api.kill()
        self.master.kill()
        self._remove_event_sockets()

    def _remove_event_sockets(self):
        """Remove a killed master's event sockets: a restarted master must not find them and look ready early."""
        for name in ("master_event_pub.ipc", "master_event_pull.ipc"):
            path = os.path.join(os.path.dirname(self._event_socket), name)
            if os.path.exists(path):
                os.unlink(path)

    def kill_master(self):
        """SIGKILL salt-master alone with every process of it (reactor, engine, workers): the daemon crashed.

        salt-api and the minions keep running (:meth:`kill` takes salt-api down too, as a lost host). The
        stale event sockets are removed, so :meth:`start_master` waits for the new master's.
        """
        self.master.kill()
        self._remove_event_sockets()

    def pause_master(self):
        """Freeze salt-master's whole process group (SIGSTOP): its sockets stay open, nothing is handled.

        salt-api still acknowledges hooks then (their events wait in the bus socket's buffer), so a
        :meth:`kill_master` afterwards loses acknowledged events before any store.
        """
        self.master.pause()

    def start_api(self, timeout=120):
        """Start salt-api and wait until it answers HTTP on its port."""
        self.api.start()
        session = requests.Session()
        session.trust_env = False
        try:
            wait_until(lambda: session.get(self.api_url + "/", timeout=2).status_code == 200,
                       timeout=timeout, what=f"salt-api at {self.api_url}", interval=0.2,
                       processes=[self.api, self.master])
        finally:
            session.close()

    def stop_api(self):
        """Stop salt-api (the master and minions keep running)."""
        self.api.stop(timeout=30)

    def pause_api(self):
        """Freeze salt-api: the kernel still accepts connections on its port, but no request is answered."""
        self.api.pause()

    def resume_api(self):
        """Let a frozen salt-api answer again (the requests that waited are served then)."""
        self.api.resume()

    def wait_minions(self, timeout=180):
        """Wait until every configured minion answers test.ping (auto_accept lets them in)."""
        ids = sorted(self.minions)

        def all_answer():
            """Whether every minion answered (raising when one of them died)."""
            for minion in self.minions.values():
                minion.process.check_alive()
            ret = self.salt(ids, "test.ping", timeout=10, check=False)
            return all(ret.get(mid) is True for mid in ids)

        wait_until(all_answer, timeout=timeout, what=f"minions {ids} to answer test.ping", interval=1,
                   processes=[self.master])

    def stop(self):
        """Stop salt-api, the minions (also those shared with other masters) and the master."""
        # Minions take ~10 s each to finish on SIGTERM; stop them (and salt-api) together.
        stop_all([self.api, *(m.process for m in self.minions.values())], timeout=30)
        self.master.stop(timeout=60)

    # Command line tools, as a user would run them (through bin/ wrappers' equivalents).

    def _run(self, tool, args, timeout):
        """Run ``tool -c etc --out=json <args>`` and return the CompletedProcess."""
        argv = self.install.command(tool, "-c", self.etc, "--out=json", "--out-indent=-1", *args)
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=timeout + 60, check=False)

    def salt(self, targets, function, *args, timeout=60, check=True):
        """Run ``salt -L <targets> <function> <args>`` and return {minion_id: return}."""
        proc = self._run("salt", ["--static", f"--timeout={timeout}", "-L", ",".join(targets), function, *args],
                         timeout)
        data = parse_json_output(proc.stdout)
        if check and (proc.returncode != 0 or not isinstance(data, dict)):
            raise SaltError(f"salt {function} on {targets} exited {proc.returncode}: {proc.stdout}{proc.stderr}")
        return data if isinstance(data, dict) else {}

    def run(self, function, *args, timeout=120):
        """Run ``salt-run <function> <args>`` and return its (JSON-decoded) return value."""
        proc = self._run("salt-run", [f"--timeout={timeout}", function, *args], timeout)
        if proc.returncode != 0:
            raise SaltError(f"salt-run {function} {' '.join(args)} exited {proc.returncode}: "
                            f"{proc.stdout}{proc.stderr}")
        return parse_json_output(proc.stdout)

    @contextlib.contextmanager
    def event_watch(self, tagmatch="nodeallow/*", pretty=False):
        """Run ``salt-run state.event <tagmatch>`` as a user watches the bus, in the block; yield its EventWatch.

        Entering waits until the watch is connected, so no event fired in the block is missed.
        """
        import salt.utils.event  # pylint: disable=import-outside-toplevel  # the venv's Salt, as master_opts

        argv = self.install.command("salt-run", "-c", self.etc, "state.event", tagmatch)
        if pretty:
            argv.append("pretty=True")
        watch = EventWatch(argv, self.env)
        opts = self.master_opts()
        try:
            # salt-run takes seconds to start: fire a marker until the watch prints it.
            with salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=False) as bus:
                deadline = time.monotonic() + 60
                while not watch.connected() and time.monotonic() < deadline:
                    watch.process.poll()
                    if watch.process.returncode is not None:
                        raise SaltError(f"{shlex.join(argv)} exited {watch.process.returncode} before it connected")
                    bus.fire_event({}, WATCH_MARKER)
                    time.sleep(0.5)
            if not watch.connected():
                raise SaltError(f"{shlex.join(argv)} printed no event within 60 s")
            yield watch
        finally:
            watch.stop()

    def log_files(self):
        """Salt's own log files (master, salt-api, each minion) of this system."""
        files = [os.path.join(self.root, "log", "master"), os.path.join(self.root, "log", "api")]
        return files + [os.path.join(m.root, "log", "minion") for m in self.minions.values()]

    def master_opts(self):
        """The master's options as Salt computes them (for subscribing to its event bus)."""
        import salt.config  # pylint: disable=import-outside-toplevel

        return salt.config.master_config(self.conf_file)


class SaltMinion:
    """One salt-minion with its own root_dir whose firewall is network namespace ``netns`` or file ``ruleset_file``."""

    def __init__(self, master, minion_id, *, netns=None, ruleset_file=None, also=(), install=None):
        """Write the minion's configuration below the master's workdir (exactly one of ``netns``, ``ruleset_file``).

        With ``also`` (further :class:`SaltMaster` on other addresses, same ports) the minion connects to
        ``master`` and each of them: Salt's classic multi-master, ``master: [host1, host2, ...]``.
        ``install`` is the minion's Salt (default: the master's), e.g. a 3006 minion of a 3008 master.
        """
        if (netns is None) == (ruleset_file is None):
            raise ValueError(f"minion {minion_id}: give exactly one of netns and ruleset_file")
        for other in also:
            if (other.publish_port, other.ret_port) != (master.publish_port, master.ret_port):
                raise ValueError(f"minion {minion_id}: its masters must share their ports (one master_port for all)")
        self.id = minion_id
        self.install = install or master.install
        self.netns = netns
        self.ruleset_file = ruleset_file
        self.etc = os.path.join(master.workdir, "minions", minion_id, "etc")
        self.root = os.path.join(master.workdir, "minions", minion_id, "root")
        os.makedirs(self.etc, exist_ok=True)
        os.makedirs(self.root, exist_ok=True)
        config = {
            "id": minion_id,
            "root_dir": self.root,
            "log_file": os.path.join(self.root, "log", "minion"),
            "log_level_logfile": "info",
            "master": [m.host for m in (master, *also)] if also else master.host,
            "master_port": master.ret_port,
            "publish_port": master.publish_port,
            "acceptance_wait_time": 1,
            "acceptance_wait_time_max": 2,
            # Reverse DNS of every interface slows the start and tells the tests nothing.
            "enable_fqdns_grains": False,
        }
        if netns is not None:
            # Tests and demo only: every firewall command runs in this namespace.
            config["nodeallow_netns"] = netns
        else:
            # Demo without root: the nftables ruleset goes to this file instead of the kernel.
            config["nodeallow_ruleset_file"] = ruleset_file
        config.update(_minion_user_setting())
        _write(os.path.join(self.etc, "minion"),
               "# Written by test/e2e/harness.\n" + yaml.safe_dump(config, sort_keys=False))
        self.process = Process(
            f"salt-minion-{minion_id}",
            self.install.command("salt-minion", "-c", self.etc, "--log-level=warning"),
            log_path=os.path.join(master.log_dir, f"salt-minion-{minion_id}.log"),
            env=self.install.environ(),
        )

    def start(self):
        """Start the minion."""
        self.process.start()

    def stop(self):
        """Stop the minion."""
        self.process.stop(timeout=30)


class EventWatch:
    """A running ``salt-run state.event``: :meth:`events` parses what it printed so far."""

    def __init__(self, argv, env):
        """Start ``argv`` (unbuffered, so each event reaches the reader thread as it is printed)."""
        self._lines = []
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                        env=dict(env, PYTHONUNBUFFERED="1"))
        self._reader = threading.Thread(target=lambda: self._lines.extend(self.process.stdout), daemon=True)
        self._reader.start()

    def connected(self):
        """Whether the watch printed the harness's marker event (so it receives everything fired since)."""
        return any(tag == WATCH_MARKER for tag, _ in _split_events(list(self._lines)))

    def printed(self):
        """``[(tag, data as printed)]`` of every event printed so far but the marker, in order."""
        return [(tag, text) for tag, text in _split_events(list(self._lines)) if tag != WATCH_MARKER]

    def events(self):
        """``[{"tag", "data", "text"}]`` of :meth:`printed`, ``data`` JSON-decoded (one still printing left out)."""
        printed = self.printed()
        events = []
        for number, (tag, text) in enumerate(printed):
            try:
                events.append({"tag": tag, "data": json.loads(text), "text": text})
            except ValueError:
                if number < len(printed) - 1:
                    raise
        return events

    def wait_for(self, wanted, timeout=60, what="an event"):
        """Wait until an event of :meth:`events` satisfies ``wanted(event)``; return the first that does."""
        found = []

        def seen():
            """Whether such an event was printed (remembering the first)."""
            found[:] = [event for event in self.events() if wanted(event)][:1]
            return bool(found)

        wait_until(seen, timeout=timeout, interval=0.2, what=f"salt-run state.event to print {what}")
        return found[0]

    def stop(self):
        """Stop salt-run and its reader (wait for the events you need first: :meth:`wait_for`)."""
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
        self._reader.join(timeout=30)


def _split_events(lines):
    """``[(tag, data text)]`` of ``salt-run state.event`` output: each event is ``<tag><TAB>`` and its JSON, on
    that line or (``pretty=True``: ``{`` ends the line) down to a line ``}``. Anything else is left out: salt-run
    prints a traceback to stdout when it is stopped."""
    events = []
    open_event = None
    for line in lines:
        line = line.rstrip("\n")
        if open_event is not None:
            open_event[1].append(line)
            if line == "}":
                open_event = None
            continue
        tag, tab, rest = line.partition("\t")
        if tab and tag and not any(c.isspace() for c in tag) and rest.startswith("{"):
            events.append([tag, [rest]])
            open_event = events[-1] if rest == "{" else None
    return [(tag, "\n".join(text)) for tag, text in events]


def salt_env():
    """Environment for the master-side tests' Salt processes (tests/support/master_cluster.py): the shortcut,
    the extension on PYTHONPATH (the end-to-end system installs the wheel instead: harness.saltenv)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.realpath(EXTENSION_SITE)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # ip, nft, iptables live in sbin; a non-login root shell may lack them.
    env["PATH"] = env.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin"
    return env


def _minion_user_setting():
    """``{"user": <me>}`` when not root (minions run as root otherwise, as they must to change firewalls)."""
    if os.geteuid() == 0:
        return {}
    return {"user": getpass.getuser()}


def parse_json_output(text):
    """Decode Salt's ``--out=json`` output; Salt may print one JSON document per line (one per minion)."""
    text = text.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        merged = {}
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            try:
                item = json.loads(line)
            except ValueError:
                return None
            if isinstance(item, dict):
                merged.update(item)
        return merged


def _write(path, text, mode=0o644):
    """Write ``text`` to ``path`` with permissions ``mode``."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, mode)

