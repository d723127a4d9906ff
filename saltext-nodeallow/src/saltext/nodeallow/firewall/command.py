# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Run firewall commands (nft, ipset, iptables-restore, ...) as argument lists, optionally in a netns."""

import contextlib
import re
import subprocess
import threading

_NETNS_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


class CommandError(RuntimeError):
    """A firewall command failed; the message names the command, its exit status and stderr."""

    def __init__(self, argv, returncode, stderr):
        """Describe the failure of ``argv`` (exit ``returncode``, error output ``stderr``)."""
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = (stderr or "").strip()
        super().__init__(
            f"command {' '.join(self.argv)!s} failed (exit {returncode}): {self.stderr or '(no error output)'}"
        )


class Executor:
    """Runs commands on the host, or inside network namespace ``netns`` (tests and demo only)."""

    def __init__(self, netns=None, timeout=300):
        """Prefix every command with ``ip netns exec <netns>`` when ``netns`` is set."""
        if netns is not None and (not isinstance(netns, str) or not _NETNS_RE.fullmatch(netns)):
            raise ValueError(f"nodeallow_netns must be a plain namespace name, not {netns!r}")
        self.netns = netns
        self.timeout = timeout
        # {argv: Popen, CompletedProcess or the FileNotFoundError of starting it} inside started().
        self._started = {}
        # {argv: Popen waiting for its input} inside ready(), filled by the thread _readying.
        self._ready = {}
        self._readying = None

    def argv(self, args):
        """The full argument list that runs ``args`` (netns prefix included)."""
        if isinstance(args, str):
            raise TypeError("pass the command as a list of arguments, not a string")
        args = [str(arg) for arg in args]
        if self.netns:
            return ["ip", "netns", "exec", self.netns, *args]
        return args

    @contextlib.contextmanager
    def started(self, reads):
        """Start the read-only commands ``reads`` side by side; :meth:`run` of one of them inside the block takes
        its output (the same output when run again), so a run that reads nft, iptables and ipset waits for the
        slowest of them, not for each in turn.

        Any other command run inside the block may change what they read: it ends the block's reuse first
        (what is left is stopped, and later reads run afresh). On leaving, unused commands are stopped.
        They are started in the caller's thread before it goes on (each spawn is about half a millisecond):
        started by a thread, they waited for the interpreter lock while the caller validated the pillar, and
        most began only after it.
        """
        self._started = {}
        try:
            for argv in dict.fromkeys(tuple(self.argv(args)) for args in reads):
                try:
                    self._started[argv] = subprocess.Popen(  # pylint: disable=consider-using-with
                        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                    )
                except FileNotFoundError as exc:
                    self._started[argv] = exc
            yield self
        finally:
            self._stop_started()

    def _stop_started(self):
        """Stop and reap the commands of :meth:`started` that nothing took."""
        started, self._started = self._started, {}
        for proc in started.values():
            if isinstance(proc, subprocess.Popen):
                if proc.poll() is None:
                    proc.kill()
                proc.communicate()

    def _take_started(self, argv):
        """The CompletedProcess of started command ``argv``, or ``None`` when it was not started."""
        proc = self._started.get(tuple(argv))
        if proc is None:
            return None
        if isinstance(proc, FileNotFoundError):
            raise CommandError(argv, 127, f"{argv[0]} is not installed: {proc}")
        if isinstance(proc, subprocess.Popen):
            try:
                stdout, stderr = proc.communicate(timeout=self.timeout)
            except subprocess.TimeoutExpired as exc:
                proc.kill()
                proc.communicate()
                del self._started[tuple(argv)]
                raise CommandError(argv, -1, f"no answer within {self.timeout}s") from exc
            proc = subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)
            self._started[tuple(argv)] = proc
        return proc

    @contextlib.contextmanager
    def ready(self, writers):
        """Start the commands ``writers`` now, waiting for their input: inside the block :meth:`run_side_by_side`
        of one of them gives it its input instead of starting it, so its start-up (a process, ~3-5 ms) overlaps
        what the block runs first. One given no input is killed on leaving, before it has read anything."""
        self._ready = {}
        argvs = list(dict.fromkeys(tuple(self.argv(args)) for args in writers))
        spawner = threading.Thread(target=self._spawn_ready, args=(argvs, self._ready), name="nodeallow-ready")
        spawner.start()
        self._readying = spawner
        try:
            yield self
        finally:
            spawner.join()
            ready, self._ready = self._ready, {}
            for proc in ready.values():
                proc.kill()
                proc.communicate()

    @staticmethod
    def _spawn_ready(argvs, ready):
        """Start each of ``argvs`` into ``ready``, waiting for its input (one that cannot start is left out:
        it is then run as usual, and fails there)."""
        for argv in argvs:
            try:
                ready[argv] = subprocess.Popen(  # pylint: disable=consider-using-with
                    argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                )
            except OSError:
                pass

    def _feed(self, args, stdin):
        """Give the :meth:`ready` command ``args`` its input and wait for it, like :meth:`run`; ``None`` when
        it is not ready."""
        argv = self.argv(args)
        if self._readying is not None:
            self._readying.join()
        proc = self._ready.pop(tuple(argv), None)
        if proc is None:
            return None
        try:
            stdout, stderr = proc.communicate(stdin, timeout=self.timeout)
        except subprocess.TimeoutExpired as exc:
            proc.kill()
            proc.communicate()
            raise CommandError(argv, -1, f"no answer within {self.timeout}s") from exc
        if proc.returncode != 0:
            raise CommandError(argv, proc.returncode, stderr or stdout)
        return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)

    def run_side_by_side(self, commands):
        """Run ``[(args, stdin text)]`` at the same time (commands that do not touch each other's objects) and
        wait for all of them; raise the error (CommandError) of the first that failed, in the order given."""
        if self._started:
            self._stop_started()
        results = [None] * len(commands)

        def one(index, args, stdin):
            try:
                if self._feed(args, stdin) is None:
                    self.run(args, stdin=stdin)
            except Exception as exc:  # pylint: disable=broad-except  # raised in the caller's thread
                results[index] = exc

        threads = [
            threading.Thread(target=one, args=(index, args, stdin), name="nodeallow-command", daemon=True)
            for index, (args, stdin) in enumerate(commands)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for failure in results:
            if failure is not None:
                raise failure

    def run(self, args, *, stdin=None, check=True):
        """Run ``args`` with ``stdin`` text; return the CompletedProcess, raising CommandError on failure."""
        argv = self.argv(args)
        proc = self._take_started(argv) if stdin is None else None
        if proc is not None:
            if check and proc.returncode != 0:
                raise CommandError(argv, proc.returncode, proc.stderr or proc.stdout)
            return proc
        if self._started:
            self._stop_started()
        try:
            proc = subprocess.run(
                argv,
                input=stdin if stdin is not None else "",
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise CommandError(argv, 127, f"{argv[0]} is not installed: {exc}") from exc
        except subprocess.TimeoutExpired as exc:
            raise CommandError(argv, -1, f"no answer within {self.timeout}s") from exc
        if check and proc.returncode != 0:
            raise CommandError(argv, proc.returncode, proc.stderr or proc.stdout)
        return proc
