# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Run firewall commands (nft, ipset, iptables-restore, ...) as argument lists, optionally in a netns."""

import re
import subprocess

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


class Runner:
    """Runs commands on the host, or inside network namespace ``netns`` (tests and demo only)."""

    def __init__(self, netns=None, timeout=300):
        """Prefix every command with ``ip netns exec <netns>`` when ``netns`` is set."""
        if netns is not None and (not isinstance(netns, str) or not _NETNS_RE.fullmatch(netns)):
            raise ValueError(f"nodeallow_netns must be a plain namespace name, not {netns!r}")
        self.netns = netns
        self.timeout = timeout

    def argv(self, args):
        """The full argument list that runs ``args`` (netns prefix included)."""
        if isinstance(args, str):
            raise TypeError("pass the command as a list of arguments, not a string")
        args = [str(arg) for arg in args]
        if self.netns:
            return ["ip", "netns", "exec", self.netns, *args]
        return args

    def run(self, args, *, stdin=None, check=True):
        """Run ``args`` with ``stdin`` text; return the CompletedProcess, raising CommandError on failure."""
        argv = self.argv(args)
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
