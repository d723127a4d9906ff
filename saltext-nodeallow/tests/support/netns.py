# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Throwaway network namespaces for firewall tests, so the host's own ruleset is never touched.

The one namespace helper of the Python tests: the extension's tests take one per test (:func:`netns`), the
end-to-end harness (test/e2e) one per minion (:func:`name_for`, :func:`create`, :func:`delete`).
"""

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile

PREFIX = "nodeallow-test-"
# Names carry the creating process id, so leftovers of a killed run can be
# told apart from namespaces a concurrent test run is still using.
_NAME_RE = re.compile(re.escape(PREFIX) + r"(?P<pid>\d+)-[a-z0-9-]+$")
# The tools every namespace test runs inside its namespace.
_TOOLS = {"ip": "iproute2", "nft": "nftables"}


class NetnsError(RuntimeError):
    """A command for or inside a test network namespace failed."""


def skip_reason():
    """Return why namespace tests cannot run here, or ``None`` when they can."""
    if os.geteuid() != 0:
        return "network namespace tests need root (ip netns add); run them as root or in CI"
    for tool, package in _TOOLS.items():
        if shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is None:
            return f"'{tool}' is not installed; apt-get install {package}"
    return None


def name_for(label):
    """The namespace name for ``label`` (a minion id, or a random token) in this process."""
    return f"{PREFIX}{os.getpid()}-{label}"


def create(name):
    """Create namespace ``name`` with its loopback up (tests connect to their own addresses)."""
    _run(["ip", "netns", "add", name])
    try:
        _run(["ip", "-n", name, "link", "set", "lo", "up"])
    except NetnsError:
        delete(name)
        raise


def _run(args, *, input_text=None, check=True, timeout=30):
    """Run ``args`` (an argument list, never a shell string) and return the CompletedProcess."""
    if isinstance(args, str):
        raise TypeError("pass the command as a list of arguments, not a string")
    try:
        proc = subprocess.run(
            [str(arg) for arg in args],
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise NetnsError(f"{args[0]!r} is not installed: {exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise NetnsError(f"{list(args)} did not finish within {timeout}s") from exc
    if check and proc.returncode != 0:
        raise NetnsError(
            f"{list(args)} exited with {proc.returncode}: "
            f"{(proc.stderr or proc.stdout).strip() or '(no output)'}"
        )
    return proc


def list_namespaces():
    """Return the names of all named network namespaces (``ip netns list``)."""
    out = _run(["ip", "netns", "list"]).stdout
    # Lines look like "name" or "name (id: 3)".
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def remove_stale():
    """Delete test namespaces whose creating process no longer exists (left by a killed run)."""
    for name in list_namespaces():
        match = _NAME_RE.match(name)
        if match and not _pid_alive(int(match.group("pid"))):
            _run(["ip", "netns", "delete", name], check=False)


def _pid_alive(pid):
    """Whether a process with this id exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Netns:
    """One named network namespace and helpers to run firewall tools inside it."""

    def __init__(self, name):
        """Wrap the existing namespace ``name`` (use :func:`netns` to create one)."""
        self.name = name

    def run(self, args, *, input_text=None, check=True, timeout=30):
        """Run the argument list ``args`` inside the namespace and return the CompletedProcess."""
        if isinstance(args, str):
            raise TypeError("pass the command as a list of arguments, not a string")
        return _run(
            ["ip", "netns", "exec", self.name, *args],
            input_text=input_text,
            check=check,
            timeout=timeout,
        )

    def nft_apply(self, ruleset_text):
        """Load ``ruleset_text`` with ``nft -f <file>`` (one atomic transaction) in the namespace."""
        with tempfile.NamedTemporaryFile("w", prefix="nodeallow-nft-", suffix=".nft") as fh:
            fh.write(ruleset_text)
            fh.flush()
            self.run(["nft", "-f", fh.name])

    def nft_ruleset(self):
        """Return ``nft -j list ruleset`` of the namespace, parsed from JSON."""
        return json.loads(self.run(["nft", "-j", "list", "ruleset"]).stdout)

    def nft_set_elements(self, family, table, set_name):
        """Return the elements of one nft set as a list of strings (prefixes as ``addr/len``)."""
        for item in self.nft_ruleset()["nftables"]:
            nft_set = item.get("set")
            if nft_set and (nft_set["family"], nft_set["table"], nft_set["name"]) == (
                family,
                table,
                set_name,
            ):
                return [_element_text(elem) for elem in nft_set.get("elem", [])]
        raise NetnsError(f"no set {family} {table} {set_name} in namespace {self.name}")

    def ipset_save(self):
        """Return ``ipset save`` output of the namespace (empty when no sets exist)."""
        return self.run(["ipset", "save"]).stdout

    def iptables_save(self):
        """Return ``iptables-save`` output of the namespace."""
        return self.run(["iptables-save"]).stdout

    def ip6tables_save(self):
        """Return ``ip6tables-save`` output of the namespace."""
        return self.run(["ip6tables-save"]).stdout


def _element_text(elem):
    """Render one element of nft's JSON set listing as text (``10.0.0.1`` or ``10.0.0.0/24``)."""
    if isinstance(elem, dict) and "prefix" in elem:
        return f"{elem['prefix']['addr']}/{elem['prefix']['len']}"
    if isinstance(elem, dict) and "elem" in elem:
        # Elements with options (timeout, counter, ...) wrap the value.
        return _element_text(elem["elem"]["val"])
    return str(elem)


@contextlib.contextmanager
def netns():
    """Create a uniquely named network namespace, yield it as :class:`Netns`, always delete it."""
    reason = skip_reason()
    if reason:
        raise NetnsError(reason)
    name = name_for(secrets.token_hex(4))
    create(name)
    try:
        yield Netns(name)
    finally:
        delete(name)


def delete(name):
    """Delete namespace ``name`` if it still exists; raise when it cannot be removed."""
    if name not in list_namespaces():
        return
    _run(["ip", "netns", "delete", name])


# Minion options that point the minion's firewall away from this host's own ruleset.
_CONFINED_BY = ("nodeallow_netns", "nodeallow_ruleset_file")


def confined(stack, overrides):
    """Minion ``overrides`` whose firewall is never this host's: a namespace of its own (left on ``stack``), or a file.

    A test minion that gets subscribed applies nodeallow's firewall; without ``nodeallow_netns`` (or
    ``nodeallow_ruleset_file``) that would be the host's ruleset, which no test may touch.
    """
    overrides = dict(overrides or {})
    if any(key in overrides for key in _CONFINED_BY):
        return overrides
    if skip_reason():
        # No namespaces here (not root): the minion's nftables ruleset goes to a file instead.
        folder = tempfile.mkdtemp(prefix="nodeallow-ruleset-")
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
        overrides["nodeallow_ruleset_file"] = os.path.join(folder, "nodeallow.nft")
    else:
        overrides["nodeallow_netns"] = stack.enter_context(netns()).name
    return overrides


def host_firewall_mentions():
    """Lines of this host's own nft ruleset and ipsets that name nodeallow (read only; ``[]`` without root).

    Tests compare it before and after a session: none may leave anything of nodeallow on the host.
    """
    lines = []
    for argv in (["nft", "list", "ruleset"], ["ipset", "list", "-n"]):
        if shutil.which(argv[0]) is None:
            continue
        listed = subprocess.run(argv, capture_output=True, text=True, check=False)
        lines += [line.strip() for line in listed.stdout.splitlines() if "nodeallow" in line.lower()]
    return sorted(lines)
