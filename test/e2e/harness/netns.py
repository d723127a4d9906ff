# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Named network namespaces that hold each minion's firewall, removed again when the system stops."""

import os
import re
import subprocess

PREFIX = "nodeallow-e2e-"
# <prefix><pid of the harness>-<minion id>: leftovers of a killed run are told
# apart from namespaces a concurrent run still uses.
_NAME_RE = re.compile(re.escape(PREFIX) + r"(?P<pid>\d+)-[a-z0-9-]+$")


class NetnsError(RuntimeError):
    """A namespace could not be created or removed."""


def skip_reason():
    """Return why namespaces cannot be used here (not root, no iproute2/nft), or None."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    for tool in ("ip", "nft"):
        if not any(os.access(os.path.join(d, tool), os.X_OK) for d in ("/usr/sbin", "/sbin", "/usr/bin", "/bin")):
            return f"'{tool}' is not installed (apt-get install iproute2 nftables)"
    return None


def name_for(minion_id):
    """The namespace name of ``minion_id`` in this harness process."""
    return f"{PREFIX}{os.getpid()}-{minion_id}"


def _ip(*args):
    """Run ``ip <args>`` and return its output; raise NetnsError naming the command on failure."""
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0:
        raise NetnsError(f"`ip {' '.join(args)}` failed: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def list_names():
    """Names of all network namespaces."""
    return [line.split()[0] for line in _ip("netns", "list").splitlines() if line.strip()]


def create(name):
    """Create namespace ``name`` with its loopback up."""
    _ip("netns", "add", name)
    _ip("-n", name, "link", "set", "lo", "up")


def delete(name):
    """Delete namespace ``name`` if it exists."""
    if name in list_names():
        _ip("netns", "delete", name)


def remove_stale():
    """Delete namespaces of harness processes that no longer exist (a run killed with SIGKILL)."""
    for name in list_names():
        match = _NAME_RE.match(name)
        if match and not os.path.exists(f"/proc/{match.group('pid')}"):
            delete(name)
