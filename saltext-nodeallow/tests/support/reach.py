# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Who gets through: client namespaces linked to a host namespace, and probers that TCP-connect every 200 ms.

The host-firewall tests ask the kernel, not our code: an allowlisted and an outside client namespace are
each linked to the minion's namespace by a veth pair of its own (an interface and subnet each, IPv4 and
IPv6), a listener accepts on the host's port, and one prober process per client connects from both its
addresses every :data:`INTERVAL` seconds while a host firewall is reloaded. :func:`settle` and
:func:`assert_only_in_windows` turn the samples into the issue's checks.
"""

import contextlib
import dataclasses
import json
import subprocess
import sys
import threading
import time

from tests.support import firewall as fw
from tests.support import netns as netns_support

INTERVAL = 0.2
# A dropped SYN is waited for this long (a rejected one is refused at once; an accepted one answers
# within a millisecond on a veth, so this only has to cover a busy machine's scheduling).
CONNECT_TIMEOUT = 0.3
# Label -> (host side interface, client IPv4 subnet prefix, IPv6 prefix).
LINKS = {
    "allowlisted": ("na-allowed", "10.202.1", "fd00:202:1::"),
    "outside": ("na-outside", "10.202.2", "fd00:202:2::"),
}

# Connects from each source to its destination at once, every interval; prints {"t": monotonic, "ok": {src: bool}}.
PROBER = """
import json, select, socket, sys, time
interval, timeout, port = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
pairs = [arg.split(",") for arg in sys.argv[4:]]
while True:
    start = time.monotonic()
    socks = {}
    for src, dst in pairs:
        s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind((src, 0))
        s.connect_ex((dst, port))
        socks[s] = src
    ok = {src: False for src, _ in pairs}
    pending = set(socks)
    while pending and time.monotonic() < start + timeout:
        _, ready, _ = select.select([], list(pending), [], max(0, start + timeout - time.monotonic()))
        for s in ready:
            ok[socks[s]] = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
            pending.discard(s)
    for s in socks:
        s.close()
    print(json.dumps({"t": start, "ok": ok}), flush=True)
    time.sleep(max(0, start + interval - time.monotonic()))
"""


@dataclasses.dataclass(frozen=True)
class Client:
    """A client namespace and its addresses, with the host's addresses on the same link."""

    ns: object
    addresses: tuple  # (IPv4, IPv6) of the client
    host: tuple  # (IPv4, IPv6) of the host on this link

    def cidrs(self):
        """The client's addresses as host routes, for an allowlist."""
        return [f"{self.addresses[0]}/32", f"{self.addresses[1]}/128"]


@contextlib.contextmanager
def clients(host_ns, ports=(5432,)):
    """``{"allowlisted": Client, "outside": Client}`` linked to ``host_ns``, and a listener there on ``ports``."""
    with contextlib.ExitStack() as stack:
        out = {}
        for label, (device, net4, net6) in LINKS.items():
            client = stack.enter_context(netns_support.netns())
            host_ns.run(["ip", "link", "add", device, "type", "veth", "peer", "name", "na-host", "netns", client.name])
            for ns, dev, suffix in ((host_ns, device, "1"), (client, "na-host", "2")):
                ns.run(["ip", "addr", "add", f"{net4}.{suffix}/24", "dev", dev])
                ns.run(["ip", "-6", "addr", "add", f"{net6}{suffix}/64", "dev", dev, "nodad"])
                ns.run(["ip", "link", "set", dev, "up"])
            out[label] = Client(client, (f"{net4}.2", f"{net6}2"), (f"{net4}.1", f"{net6}1"))
        # pylint: disable-next=consider-using-with  # stopped below
        listener = subprocess.Popen(
            ["ip", "netns", "exec", host_ns.name, sys.executable, "-c", fw.LISTENER, *map(str, ports)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert listener.stdout.readline().strip() == "ready"
            yield out
        finally:
            listener.kill()
            listener.wait()


def connects(client, family, port=5432):
    """Whether one TCP connection from ``client``'s address of ``family`` (4 or 6) to the host gets through."""
    index = 0 if family == 4 else 1
    return fw.tcp_connects(client.ns, client.addresses[index], client.host[index], port)


class Sampler:
    """While entered, every client connects from both addresses every :data:`INTERVAL`; see :meth:`series`."""

    def __init__(self, clients_by_label, port=5432):
        """Probe ``port`` from each of ``clients_by_label`` (``{label: Client}``)."""
        self.clients = clients_by_label
        self.port = port
        # [(monotonic time, label, {"ipv4": bool, "ipv6": bool})]
        self.samples = []
        self._procs = []
        self._threads = []

    def __enter__(self):
        """Start one prober per client."""
        for label, client in self.clients.items():
            pairs = [f"{src},{dst}" for src, dst in zip(client.addresses, client.host, strict=True)]
            # pylint: disable-next=consider-using-with  # stopped in __exit__
            proc = subprocess.Popen(
                ["ip", "netns", "exec", client.ns.name, sys.executable, "-c", PROBER,
                 str(INTERVAL), str(CONNECT_TIMEOUT), str(self.port), *pairs],
                stdout=subprocess.PIPE,
                text=True,
            )
            thread = threading.Thread(target=self._read, args=(label, client, proc), daemon=True)
            thread.start()
            self._procs.append(proc)
            self._threads.append(thread)
        return self

    def __exit__(self, *exc_info):
        """Stop the probers."""
        for proc in self._procs:
            proc.kill()
            proc.wait()
        for thread in self._threads:
            thread.join(timeout=5)

    def _read(self, label, client, proc):
        """Collect one prober's lines."""
        v4, v6 = client.addresses
        for line in proc.stdout:
            data = json.loads(line)
            self.samples.append((data["t"], label, {"ipv4": data["ok"][v4], "ipv6": data["ok"][v6]}))

    def series(self, label, since=0.0):
        """``[(time, {"ipv4": bool, "ipv6": bool})]`` of ``label`` from ``since`` on."""
        return [(t, ok) for t, name, ok in list(self.samples) if name == label and t >= since]


def right(label, ok):
    """Whether a sample is what a holding firewall gives: allowlisted through, outside refused (both families)."""
    return all(ok.values()) if label == "allowlisted" else not any(ok.values())


def settle(sampler, since, bound, stable=1.0):
    """Wait until every label was right for ``stable`` seconds; return when that stretch began, relative to ``since``.

    Fails when the firewall did not hold again within ``bound`` seconds of ``since``.
    """
    deadline = time.monotonic() + bound + stable + 2 * CONNECT_TIMEOUT + 1
    while True:
        began = max(_last_wrong(sampler, label, since) for label in sampler.clients)
        newest = min((s[-1][0] if s else since) for s in (sampler.series(lbl, since) for lbl in sampler.clients))
        if newest - began >= stable:
            return began - since
        if time.monotonic() > deadline:
            raise AssertionError(
                f"the firewall did not hold again within {bound}s: "
                + "; ".join(f"{lbl}: {sampler.series(lbl, since)[-5:]}" for lbl in sampler.clients)
            )
        time.sleep(INTERVAL)


def _last_wrong(sampler, label, since):
    """The time just after ``label``'s last wrong sample from ``since`` on (``since`` when none was wrong)."""
    wrong = [t for t, ok in sampler.series(label, since) if not right(label, ok)]
    return wrong[-1] + INTERVAL if wrong else since


def assert_only_in_windows(sampler, events, bound):
    """Check every sample against the reload ``events`` (``[(name, start, end, deletes_ours)]``).

    The allowlisted client is refused only between an event's start and ``bound`` seconds after its end;
    the outside client gets through only there too, and only for events that delete nodeallow's objects.
    """
    for label in sampler.clients:
        for moment, ok in sampler.series(label):
            if right(label, ok):
                continue
            excused = [
                name for name, start, end, deletes in events
                if start <= moment <= end + bound and (label == "allowlisted" or deletes)
            ]
            assert excused, (
                f"the {label} client was {'refused' if label == 'allowlisted' else 'let through'} ({ok}) at "
                f"{moment:.2f}, outside every reload window: {[(n, round(s, 2), round(e, 2)) for n, s, e, _ in events]}"
            )
