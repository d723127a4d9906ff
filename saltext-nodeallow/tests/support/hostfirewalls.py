# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Real host firewalls in a test network namespace: firewalld, ufw and an /etc/nftables.conf.

firewalld and ufw run in a :class:`tests.support.sandbox.Sandbox` (their files are private copies),
firewalld with a D-Bus system bus of its own; the nftables.conf is a file in a temporary directory
loaded with ``nft -f`` inside the namespace. Each driver has ``start()``, ``reload()`` (what the
admin or the distribution runs) and ``timings`` (seconds per step, for CI's budget).
"""

import os
import pathlib
import re
import shlex
import time

from tests.support.sandbox import SandboxError

# The D-Bus system bus of a sandbox: the usual default policy of Debian's system.conf (connect,
# no owning names, no method calls) plus FirewallD's own policy file, which lets root own and call it.
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <include>{firewalld_policy}</include>
</busconfig>
"""
FIREWALLD_POLICY = "/usr/share/dbus-1/system.d/FirewallD.conf"
# Settings forced in the sandbox's copy of firewalld.conf: the backend under test, and no kernel
# module unloading at exit (modules are the one thing a network namespace does not isolate).
FIREWALLD_SETTINGS = {"FirewallBackend": "nftables", "CleanupModulesOnExit": "no", "DefaultZone": "public"}
# Settings forced in the sandbox's copy of /etc/default/ufw: no sysctl file and no modules loaded
# (neither is namespaced for every key), and the documented default policies.
UFW_DEFAULTS = {"IPT_SYSCTL": '""', "IPT_MODULES": '""', "DEFAULT_INPUT_POLICY": '"DROP"', "IPV6": "yes"}


DOC = pathlib.Path(__file__).resolve().parents[3] / "docs" / "firewall.md"
DOC_SECTION = "## Beside your host firewall"
# The host firewall as the admin has it before following the docs (ufw: default deny, enabled).
UFW_SETUP = "ufw default deny incoming\nufw enable\n"


def doc_block(language, containing):
    """The first ``language`` block of docs/firewall.md's "Beside your host firewall" containing ``containing``."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index(DOC_SECTION)
    end = text.find("\n## ", start + len(DOC_SECTION))
    section = text[start : end if end >= 0 else len(text)]
    for block in re.findall(rf"```{re.escape(language)}\n(.*?)```", section, re.S):
        if containing in block:
            return block
    raise AssertionError(f'docs/firewall.md "{DOC_SECTION[3:]}" has no ```{language} block with {containing!r}')


def without_port(text, port):
    """``text`` without the lines that open ``port`` (the host firewall before the admin opened it)."""
    kept = [line for line in text.splitlines(keepends=True) if not re.search(rf"\b{port}\b", line)]
    if len(kept) == len(text.splitlines()):
        raise AssertionError(f"no line of the block opens port {port}")
    return "".join(kept)


def missing():
    """Why the real host firewalls cannot run here (a sentence), or ``None``."""
    for tool, package in (("firewalld", "firewalld"), ("firewall-cmd", "firewalld"), ("ufw", "ufw"),
                          ("dbus-daemon", "dbus-daemon")):
        if not any(os.access(os.path.join(d, tool), os.X_OK) for d in ("/usr/sbin", "/usr/bin", "/sbin")):
            return f"'{tool}' is not installed; run hack/install-system-packages.sh (Debian package {package})"
    if not os.path.exists(FIREWALLD_POLICY):
        return f"{FIREWALLD_POLICY} is missing; reinstall the firewalld package"
    return None


def commands(text):
    """The argument lists of a shell snippet of plain commands (one per line, ``#`` comments skipped)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            if re.search(r"[|&;<>`$]", line):
                raise ValueError(f"{line!r} is not a plain command (the tests run commands without a shell)")
            out.append(shlex.split(line))
    return out


def _set_keys(path, settings):
    """Set ``KEY=value`` lines of a shell-style config file (replacing or appending them)."""
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    for key, value in settings.items():
        pattern = re.compile(rf"^\s*#?\s*{re.escape(key)}=")
        hits = [i for i, line in enumerate(lines) if pattern.match(line)]
        for i in hits:
            lines[i] = f"{key}={value}"
        if not hits:
            lines.append(f"{key}={value}")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def _wait(check, what, timeout):
    """Poll ``check()`` until true; raise naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SandboxError(f"{what} within {timeout}s")
        time.sleep(0.05)


class Firewalld:
    """firewalld (nftables backend, default zone public) with a private D-Bus system bus in ``sandbox``."""

    def __init__(self, sandbox):
        """Prepare (not start) firewalld in a started :class:`tests.support.sandbox.Sandbox`."""
        self.sandbox = sandbox
        self.socket = sandbox.path("system_bus_socket")
        self.env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={self.socket}",
            "LANG": "C.UTF-8",
        }
        self.timings = {}
        self.daemon = None

    def start(self):
        """Start the bus and firewalld; return once ``firewall-cmd --state`` says running."""
        conf = self.sandbox.path("bus.conf")
        with open(conf, "w", encoding="utf-8") as fh:
            fh.write(BUS_CONFIG.format(socket=self.socket, firewalld_policy=FIREWALLD_POLICY))
        _set_keys(self.sandbox.path("copy_etc_firewalld", "firewalld.conf"), FIREWALLD_SETTINGS)
        began = time.monotonic()
        bus = self.sandbox.popen(["dbus-daemon", f"--config-file={conf}", "--nofork", "--nopidfile"],
                                 env=self.env, log_name="dbus.log")
        _wait(lambda: os.path.exists(self.socket) or bus.poll() is not None, "the D-Bus socket did not appear", 30)
        if bus.poll() is not None:
            raise SandboxError(f"dbus-daemon exited: {self.sandbox.log('dbus.log')}")
        self.timings["dbus"] = time.monotonic() - began
        began = time.monotonic()
        self.daemon = self.sandbox.popen(
            ["firewalld", "--nofork", "--nopid", "--log-target", "console"], env=self.env, log_name="firewalld.log"
        )

        def running():
            if self.daemon.poll() is not None:
                raise SandboxError(f"firewalld exited with {self.daemon.returncode}: {self.log()}")
            return self.cmd("--state", check=False).stdout.strip() == "running"

        _wait(running, f"firewalld did not report running (log: {self.sandbox.path('firewalld.log')})", 120)
        self.timings["firewalld start"] = time.monotonic() - began

    def log(self):
        """firewalld's output so far."""
        return self.sandbox.log("firewalld.log")

    def cmd(self, *args, check=True):
        """Run ``firewall-cmd <args>`` against this firewalld; return the CompletedProcess."""
        return self.sandbox.run(["firewall-cmd", *args], env=self.env, check=check, timeout=120)

    def run(self, argv):
        """Run one admin command (``firewall-cmd ...``) as the docs show it."""
        if argv[0] != "firewall-cmd":
            raise ValueError(f"expected a firewall-cmd command, not {argv}")
        if argv[1:] == ["--reload"]:
            return self.reload()
        return self.cmd(*argv[1:])

    def reload(self):
        """``firewall-cmd --reload``: firewalld rebuilds its ruleset from the permanent configuration."""
        began = time.monotonic()
        proc = self.cmd("--reload")
        self.timings.setdefault("reload", []).append(time.monotonic() - began)
        return proc


class Ufw:
    """ufw (iptables-nft on Debian 12) with its files private to ``sandbox``."""

    def __init__(self, sandbox):
        """Prepare ufw in a started :class:`tests.support.sandbox.Sandbox`."""
        self.sandbox = sandbox
        self.env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
        self.timings = {}

    def start(self):
        """Write the sandbox's /etc/default/ufw (no sysctl, no modules); nothing runs yet."""
        _set_keys(self.sandbox.path("copy_etc_default", "ufw"), UFW_DEFAULTS)

    def run(self, argv):
        """Run one admin command (``ufw ...``) as the docs show it; ``ufw enable`` is answered ``y``."""
        if argv[0] != "ufw":
            raise ValueError(f"expected a ufw command, not {argv}")
        began = time.monotonic()
        proc = self.sandbox.run(argv, env=self.env, input_text="y\n", timeout=120)
        self.timings.setdefault(" ".join(argv[1:2]), []).append(time.monotonic() - began)
        return proc

    def reload(self):
        """``ufw reload``: ufw rebuilds its chains from its rules files."""
        self.run(["ufw", "reload"])


class NftablesConf:
    """An /etc/nftables.conf (``flush ruleset`` first) kept in ``directory``, loaded with ``nft -f`` in ``ns``."""

    def __init__(self, ns, directory, text):
        """Remember the file's text; :meth:`start` writes and loads it."""
        self.ns = ns
        self.path = os.path.join(directory, "nftables.conf")
        self.text = text
        self.timings = {}

    def start(self):
        """Write the file and load it (as ``systemctl start nftables`` does)."""
        with open(self.path, "w", encoding="utf-8") as fh:
            fh.write(self.text)
        self.reload()

    def reload(self):
        """``nft -f /etc/nftables.conf`` (``systemctl restart nftables``): flushes the whole ruleset first."""
        began = time.monotonic()
        self.ns.run(["nft", "-f", self.path])
        self.timings.setdefault("reload", []).append(time.monotonic() - began)
