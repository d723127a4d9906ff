# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Daemons started in their own process groups, logged to files, and stopped with everything they forked."""

import contextlib
import ctypes
import os
import random
import signal
import socket
import subprocess
import time

# prctl(PR_SET_PDEATHSIG, SIGTERM): a daemon whose harness dies (even by
# SIGKILL) is told to stop, instead of living on as an orphan.
_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)


class ProcessError(RuntimeError):
    """A daemon could not be started, died, or did not become ready."""


def free_port():
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_loopback_ports(count_hosts, count_ports):
    """Return ``(hosts, ports)``: loopback addresses ``127.x.y.2``, ``.3``, ... and TCP ports free on all of them.

    Linux routes all of 127/8 to ``lo``, so several daemons can listen on the same ports, each on its own
    address (Salt's multi-master minions take one ``master_port`` for all their masters). A random
    ``127.x.y`` keeps test sessions on one machine apart.
    """
    prefix = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}"
    hosts = [f"{prefix}.{2 + i}" for i in range(count_hosts)]
    ports = []
    while len(ports) < count_ports:
        with contextlib.ExitStack() as stack:
            first = stack.enter_context(socket.socket())
            first.bind((hosts[0], 0))
            port = first.getsockname()[1]
            try:
                for host in hosts[1:]:
                    stack.enter_context(socket.socket()).bind((host, port))
            except OSError:
                continue
        if port not in ports:
            ports.append(port)
    return hosts, ports


def _die_with_parent():
    """In the child before exec: ask the kernel to SIGTERM us when the harness thread that forked us dies."""
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Process:
    """One daemon: started in a new session (its own process group), output appended to ``log_path``."""

    def __init__(self, name, argv, *, log_path, env=None, cwd=None):
        """Describe the daemon; nothing runs until :meth:`start`."""
        self.name = name
        self.argv = [str(arg) for arg in argv]
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self._popen = None

    @property
    def pid(self):
        """The daemon's process id (also its process group id), or None when not started."""
        return self._popen.pid if self._popen else None

    def start(self):
        """Start the daemon; raise :class:`ProcessError` naming the program when it cannot be executed."""
        if self.running():
            raise ProcessError(f"{self.name} is already running (pid {self.pid})")
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== starting {self.name}: {' '.join(self.argv)}\n".encode())
            log.flush()
            try:
                self._popen = subprocess.Popen(  # pylint: disable=subprocess-popen-preexec-fn
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    cwd=self.cwd,
                    # Own session: Ctrl-C in the terminal reaches only the
                    # harness, which then stops the daemons in order.
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            except OSError as exc:
                raise ProcessError(f"cannot start {self.name} ({self.argv[0]}): {exc}") from exc
        return self

    def running(self):
        """Whether the daemon was started and has not exited."""
        return self._popen is not None and self._popen.poll() is None

    def check_alive(self):
        """Raise :class:`ProcessError` with the end of the daemon's log when it has exited."""
        if self._popen is None:
            raise ProcessError(f"{self.name} was never started")
        code = self._popen.poll()
        if code is not None:
            raise ProcessError(
                f"{self.name} exited with status {code}; last lines of {self.log_path}:\n{self.tail()}"
            )

    def pause(self):
        """Stop (SIGSTOP) the daemon's whole process group: its sockets stay open, nothing answers."""
        if self._popen is not None and self._popen.poll() is None:
            _signal(self._popen.pid, signal.SIGSTOP, group=True)

    def resume(self):
        """Continue (SIGCONT) a paused daemon's process group."""
        if self._popen is not None:
            _signal(self._popen.pid, signal.SIGCONT, group=True)

    def send_signal(self, sig):
        """Send ``sig`` to the daemon's leader only (e.g. localcluster's SIGUSR1), when it runs."""
        if self._popen is not None and self._popen.poll() is None:
            _signal(self._popen.pid, sig, group=False)

    def terminate(self):
        """Send SIGTERM to the daemon without waiting (see :func:`stop_all`)."""
        if self._popen is not None and self._popen.poll() is None:
            # Only the leader: salt-master and localcluster stop their own
            # children in order (etcd after kube-apiserver, temp dirs removed).
            _signal(self._popen.pid, signal.SIGTERM, group=False)

    def kill(self):
        """SIGKILL the daemon's whole process group at once (a crash or a host going down) and reap it."""
        if self._popen is None:
            return
        pgid = self._popen.pid
        _signal(pgid, signal.SIGKILL, group=True)
        self._popen.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._popen = None

    def stop(self, timeout=30.0):
        """SIGTERM the daemon, wait up to ``timeout`` s, then SIGKILL whatever is left of its process group."""
        if self._popen is None:
            return
        pgid = self._popen.pid
        if self._popen.poll() is None:
            self.terminate()
            try:
                self._popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        # Anything of the group still alive (a hung worker, a leader that
        # ignored SIGTERM) is killed outright.
        _signal(pgid, signal.SIGKILL, group=True)
        if self._popen.poll() is None:
            self._popen.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._popen = None

    def tail(self, lines=40):
        """Return the last ``lines`` lines of the daemon's log."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - 64 * 1024))
                text = log.read().decode("utf-8", "replace")
        except OSError as exc:
            return f"(cannot read {self.log_path}: {exc})"
        return "\n".join(text.splitlines()[-lines:])


def stop_all(processes, timeout=30.0):
    """Stop several daemons side by side: SIGTERM to all, then each gets what is left of ``timeout``."""
    for proc in processes:
        proc.terminate()
    deadline = time.monotonic() + timeout
    for proc in processes:
        proc.stop(timeout=max(0.0, deadline - time.monotonic()))


def _signal(pid, sig, *, group):
    """Send ``sig`` to process ``pid`` (or its group), ignoring ones that are already gone."""
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _group_alive(pgid):
    """Whether any process of group ``pgid`` still exists."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_until(predicate, *, timeout, what, interval=0.1, processes=()):
    """Call ``predicate`` until it returns a true value, and return that value.

    Raises :class:`ProcessError` when ``timeout`` seconds pass first (saying ``what`` was awaited and the
    predicate's last exception), or at once when one of ``processes`` exits meanwhile.
    """
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        for proc in processes:
            proc.check_alive()
        try:
            value = predicate()
        except Exception as exc:  # pylint: disable=broad-except
            last_error = exc
            value = None
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = f"; last error: {last_error}" if last_error else ""
            raise ProcessError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)
