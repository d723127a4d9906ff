# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""A private mount namespace inside a test network namespace, for running real host firewalls.

firewalld and ufw write their configuration (/etc/firewalld, /etc/ufw, /etc/default/ufw), their
runtime files (/run/firewalld, the pid file, /run/xtables.lock) and logs. Inside a
:class:`Sandbox` those paths are copies in a temporary directory (or empty tmpfs), bind-mounted in
a mount namespace of their own that sits inside the test's network namespace, so the programs
change neither the host's ruleset nor the host's files. :class:`HostGuard` checks both afterwards.

The sandbox is one holder process (``ip netns exec <ns> unshare --mount --propagation private
sleep``): ``ip netns exec`` already gives it a mount namespace whose mounts do not propagate to
the host, ``unshare`` makes that certain. Every command then enters it with ``nsenter --target
<holder> --mount --net``.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from tests.support import netns as netns_support

# Directories copied into the sandbox and mounted over the originals (the programs may edit them).
COPIED = ("/etc/firewalld", "/etc/ufw", "/lib/ufw", "/etc/default")
# Mounted as empty tmpfs: runtime state and logs (firewalld's pid file, /run/firewalld,
# iptables' lock; /var/log/firewalld).
EMPTIED = ("/run", "/var/log")
# Host paths that must look the same after a test as before it (contents, or absence).
WATCHED = ("/etc/firewalld", "/etc/ufw", "/lib/ufw", "/etc/default/ufw", "/run/firewalld", "/var/lib/firewalld",
           "/var/lib/ufw", "/var/log/firewalld", "/run/firewalld.pid", "/var/run/firewalld.pid")


class SandboxError(RuntimeError):
    """Setting up or using a sandbox failed."""


class Sandbox:
    """A mount namespace with private copies of the host firewalls' files, inside network namespace ``ns``."""

    def __init__(self, ns):
        """Prepare (not start) a sandbox in :class:`tests.support.netns.Netns` ``ns``."""
        self.ns = ns
        self.dir = None
        self.holder = None
        self._procs = []

    def __enter__(self):
        """Start the holder and mount the private copies; everything is undone on exit."""
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info):
        """Stop every process started in the sandbox and remove its files."""
        self.close()

    def start(self):
        """Start the holder process and mount the copies and tmpfs over the host paths."""
        self.dir = tempfile.mkdtemp(prefix="nodeallow-sandbox-", dir="/tmp")
        # pylint: disable-next=consider-using-with  # stopped in close()
        self.holder = subprocess.Popen(
            ["ip", "netns", "exec", self.ns.name, "unshare", "--mount", "--propagation", "private",
             "sleep", "infinity"],
            start_new_session=True,
        )
        # unshare execs sleep only once the mount namespace exists: wait until it differs from ours.
        deadline = time.monotonic() + 10
        mine = os.readlink("/proc/self/ns/mnt")
        while True:
            try:
                if os.readlink(f"/proc/{self.holder.pid}/ns/mnt") != mine and self._comm() == "sleep":
                    break
            except OSError:
                pass
            if self.holder.poll() is not None or time.monotonic() > deadline:
                raise SandboxError(f"the sandbox holder in namespace {self.ns.name} did not start")
            time.sleep(0.02)
        for path in COPIED:
            # A program that is not installed has no directory to hide (and nothing that writes there).
            if os.path.isdir(path):
                copy = os.path.join(self.dir, "copy" + path.replace("/", "_"))
                shutil.copytree(path, copy, symlinks=True)
                self.run(["mount", "--bind", copy, path])
        for path in EMPTIED:
            self.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", path])

    def _comm(self):
        """The holder's command name."""
        with open(f"/proc/{self.holder.pid}/comm", encoding="utf-8") as fh:
            return fh.read().strip()

    def argv(self, args):
        """The argument list that runs ``args`` inside the sandbox (its mounts and network namespace)."""
        if isinstance(args, str):
            raise TypeError("pass the command as a list of arguments, not a string")
        return ["nsenter", "--target", str(self.holder.pid), "--mount", "--net", "--", *map(str, args)]

    def run(self, args, *, env=None, check=True, timeout=60, input_text=None):
        """Run ``args`` inside the sandbox and return the CompletedProcess."""
        argv = self.argv(args)
        try:
            proc = subprocess.run(
                argv, env=env, input=input_text, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise SandboxError(f"{list(args)} did not finish within {timeout}s in the sandbox") from exc
        if check and proc.returncode != 0:
            raise SandboxError(
                f"{list(args)} exited with {proc.returncode} in the sandbox: "
                f"{(proc.stderr or proc.stdout).strip() or '(no output)'}"
            )
        return proc

    def popen(self, args, *, env=None, log_name):
        """Start a long-running ``args`` in the sandbox, output to ``<dir>/<log_name>``; stopped by :meth:`close`."""
        # pylint: disable-next=consider-using-with  # handed to the process, closed here once it has it
        log = open(os.path.join(self.dir, log_name), "w", encoding="utf-8")
        # pylint: disable-next=consider-using-with  # stopped in close()
        proc = subprocess.Popen(
            self.argv(args), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self._procs.append(proc)
        return proc

    def log(self, log_name):
        """The output a :meth:`popen` process wrote so far."""
        with open(os.path.join(self.dir, log_name), encoding="utf-8", errors="replace") as fh:
            return fh.read()

    def path(self, *parts):
        """A path inside the sandbox's temporary directory (visible inside and outside)."""
        return os.path.join(self.dir, *parts)

    def close(self):
        """Stop the processes (newest first, SIGTERM then SIGKILL) and the holder; remove the directory."""
        for proc in reversed(self._procs):
            _stop(proc)
        self._procs.clear()
        if self.holder is not None:
            _stop(self.holder)
            self.holder = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


def _stop(proc, grace=5):
    """Stop ``proc`` and its process group: SIGTERM, then SIGKILL after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


class HostGuard:
    """Records the host's input filtering and the firewalls' host paths, and checks they did not change.

    Of the host's ruleset it compares what a leak from a sandbox would change: the base chains on the
    input hook (with their rules and policies) and any table or chain named after firewalld or ufw.
    Other chains may change meanwhile on a shared machine (container builds add forward and NAT
    rules) without it being the tests' doing.
    """

    def __init__(self):
        """Take the first snapshot."""
        self.before = snapshot()

    def changes(self):
        """What differs now from the first snapshot, as sentences (empty: nothing)."""
        after = snapshot()
        return [
            f"the host's {what} changed: before {self.before.get(what)!r}, after {after.get(what)!r}"
            for what in sorted(set(self.before) | set(after))
            if self.before.get(what) != after.get(what)
        ]


def snapshot():
    """``{what: digest or text}`` of the host's input filtering (nft and iptables) and the watched paths."""
    out = {}
    proc = subprocess.run(["nft", "-j", "-s", "list", "ruleset"], capture_output=True, text=True, check=False)
    items = json.loads(proc.stdout).get("nftables", []) if proc.returncode == 0 and proc.stdout.strip() else []
    watched = set()
    for item in items:
        body = item.get("chain") or item.get("table")
        if not body:
            continue
        name = body.get("name", "")
        if body.get("hook") == "input" or re.search(r"firewalld|ufw", f"{body.get('table', '')} {name}"):
            watched.add((body.get("family"), body.get("table", name), name))
            out[f"nft {next(iter(item))} {body.get('family')} {body.get('table', '')} {name}".replace("  ", " ")] = (
                json.dumps(body, sort_keys=True)
            )
    for item in items:
        rule = item.get("rule")
        if rule and (rule.get("family"), rule.get("table"), rule.get("chain")) in watched:
            key = f"nft rules of {rule.get('family')} {rule.get('table')} {rule.get('chain')}"
            out[key] = out.get(key, "") + json.dumps(rule.get("expr"), sort_keys=True) + "\n"
    for tool in ("iptables-save", "ip6tables-save"):
        proc = subprocess.run([tool], capture_output=True, text=True, check=False)
        lines = [
            line for line in proc.stdout.splitlines()
            if line.startswith((":INPUT", "-A INPUT")) or "ufw" in line or "firewalld" in line
        ]
        out[f"{tool} INPUT"] = "\n".join(lines)
    for path in WATCHED:
        out[path] = _tree_digest(path)
    return out


def _tree_digest(path):
    """A digest of a file or directory tree (names, modes, contents), or ``"absent"``."""
    if not os.path.lexists(path):
        return "absent"
    digest = hashlib.sha256()
    paths = [path]
    if os.path.isdir(path) and not os.path.islink(path):
        for root, dirs, files in os.walk(path):
            dirs.sort()
            paths += [os.path.join(root, name) for name in sorted(dirs + files)]
    for item in paths:
        info = os.lstat(item)
        digest.update(f"{item} {info.st_mode}\n".encode())
        if os.path.isfile(item) and not os.path.islink(item):
            with open(item, "rb") as fh:
                digest.update(fh.read())
    return digest.hexdigest()[:16]


def netns_for_sandbox():
    """Whether the tools a sandbox needs are installed (``None``) or why not (a sentence)."""
    reason = netns_support.skip_reason()
    if reason:
        return reason
    for tool in ("unshare", "nsenter", "mount"):
        if shutil.which(tool) is None:
            return f"'{tool}' is not installed; apt-get install util-linux mount"
    return None
