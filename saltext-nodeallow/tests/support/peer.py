# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""A client namespace linked to a minion's namespace, and a prober that samples TCP verdicts every 200 ms.

The self-repair tests ask the kernel, not our code, whether a source gets through: the prober runs in the
client namespace and connects from each source address to the minion's listener in parallel, every
:data:`INTERVAL` seconds, printing one JSON line per sample.
"""

import contextlib
import json
import subprocess
import sys
import threading
import time

from tests.support import firewall as fw
from tests.support import netns as netns_support

HOST4 = "10.201.0.1"
INTERVAL = 0.2
# A dropped SYN is waited for this long; an accepted one answers within a millisecond on a veth.
CONNECT_TIMEOUT = 0.15

# Samples every interval: connects from each source at once, prints {"t": time, "<source>": bool}.
PROBER = """
import json, select, socket, sys, time
interval, timeout, dst, port = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
sources = sys.argv[5:]
while True:
    start = time.time()
    socks = {}
    for src in sources:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind((src, 0))
        s.connect_ex((dst, port))
        socks[s] = src
    result = {src: False for src in sources}
    deadline = start + timeout
    pending = set(socks)
    while pending and time.time() < deadline:
        _, ready, _ = select.select([], list(pending), [], max(0, deadline - time.time()))
        for s in ready:
            result[socks[s]] = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
            pending.discard(s)
    for s in socks:
        s.close()
    print(json.dumps({"t": start, **result}), flush=True)
    time.sleep(max(0, start + interval - time.time()))
"""


@contextlib.contextmanager
def linked(host_ns, sources, ports=(5432,)):
    """A client namespace with ``sources`` (IPv4), veth-linked to ``host_ns`` (HOST4), a listener on ``ports``."""
    with netns_support.netns() as client:
        host_ns.run(["ip", "link", "add", "na-host", "type", "veth", "peer", "name", "na-peer", "netns", client.name])
        host_ns.run(["ip", "addr", "add", f"{HOST4}/24", "dev", "na-host"])
        for source in sources:
            client.run(["ip", "addr", "add", f"{source}/24", "dev", "na-peer"])
        for ns_, dev in ((host_ns, "na-host"), (client, "na-peer")):
            ns_.run(["ip", "link", "set", dev, "up"])
        listener = subprocess.Popen(  # pylint: disable=consider-using-with
            ["ip", "netns", "exec", host_ns.name, sys.executable, "-c", fw.LISTENER, *map(str, ports)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert listener.stdout.readline().strip() == "ready"
            yield client
        finally:
            listener.kill()
            listener.wait()


class Prober:
    """Samples, while entered, whether each source gets through to HOST4:port; ``samples`` holds the results."""

    def __init__(self, client, sources, port=5432):
        """Probe from ``sources`` (addresses of ``client``) to ``port``."""
        self.argv = [
            "ip",
            "netns",
            "exec",
            client.name,
            sys.executable,
            "-c",
            PROBER,
            str(INTERVAL),
            str(CONNECT_TIMEOUT),
            HOST4,
            str(port),
            *sources,
        ]
        # [(wall-clock time, {source: bool})]
        self.samples = []
        self._proc = None
        self._thread = None

    def __enter__(self):
        """Start probing."""
        self._proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, text=True)  # pylint: disable=consider-using-with
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return self

    def _read(self):
        """Collect the prober's lines."""
        for line in self._proc.stdout:
            data = json.loads(line)
            self.samples.append((data.pop("t"), data))

    def __exit__(self, *exc_info):
        """Stop probing."""
        self._proc.kill()
        self._proc.wait()
        self._thread.join(timeout=5)

    def wait(self, predicate, timeout, what):
        """Wait until a sample taken from now on satisfies ``predicate`` (``{source: bool}``); return its time."""
        start = time.time()
        deadline = start + timeout
        while time.time() < deadline:
            if self.samples and self.samples[-1][0] >= start and predicate(self.samples[-1][1]):
                return self.samples[-1][0]
            time.sleep(0.05)
        raise AssertionError(f"{what} not seen within {timeout}s; last samples: {self.samples[-5:]}")

    def since(self, moment):
        """The samples taken at or after ``moment``."""
        return [(t, v) for t, v in self.samples if t >= moment]
