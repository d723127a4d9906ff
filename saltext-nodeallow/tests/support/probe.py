# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Real TCP connects to a port of a minion's namespace from a second namespace, once or every ~200 ms.

:class:`Link` joins the namespace a minion's firewall lives in to a fresh peer namespace by a veth
pair, gives both ends addresses, and runs a listener on the given ports in the minion's namespace.
:meth:`Link.connects` tries one connection; :meth:`Link.sampling` tries every source every
:data:`INTERVAL` seconds in a background prober (one process per namespace, all sources of a round
in parallel), so a test sees what the kernel did during a retirement, an apply or a reload. A
dropped SYN shows as no answer within :data:`TIMEOUT`. Deleting the peer namespace removes the veth.
"""

import json
import secrets
import subprocess
import sys
import threading
import time

from tests.support import firewall as fw
from tests.support import netns as netns_support

INTERVAL = 0.2
TIMEOUT = 0.15

# Connects from each "src,dst" pair every interval (in parallel, non-blocking), prints one JSON line a round:
# {"t": monotonic start of the round, "ok": {src: connected}}. CLOCK_MONOTONIC is system-wide on Linux.
PROBER = r"""
import errno, json, select, socket, sys, time
port, interval, timeout = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
pairs = [p.split(",") for p in sys.argv[4:]]
while True:
    started = time.monotonic()
    pending, ok = {}, {}
    for src, dst in pairs:
        s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind((src, 0))
        code = s.connect_ex((dst, port))
        if code in (0, errno.EINPROGRESS):
            pending[s] = src
        else:
            ok[src] = False
            s.close()
    deadline = started + timeout
    while pending and time.monotonic() < deadline:
        _, ready, _ = select.select([], list(pending), [], max(0.0, deadline - time.monotonic()))
        for s in ready:
            ok[pending.pop(s)] = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
            s.close()
    for s, src in pending.items():
        ok[src] = False
        s.close()
    print(json.dumps({"t": started, "ok": ok}), flush=True)
    time.sleep(max(0.0, started + interval - time.monotonic()))
"""


class Link:
    """A peer namespace joined to ``target`` (a :class:`tests.support.netns.Netns`) by veth; a listener on ``ports``.

    ``host`` are the addresses of the target's end, ``peer`` those of the peer's end (the sources
    a test connects from); each IPv4 one as a /24, each IPv6 one as a /64, all on the same link.
    """

    def __init__(self, target, host, peer, ports):
        """Remember the namespaces, addresses and ports; :meth:`__enter__` builds it."""
        self.target = target
        self.host = tuple(host)
        self.peer_addresses = tuple(peer)
        self.ports = tuple(ports)
        self.peer = None
        self._peer_cm = None
        self._listener = None

    def __enter__(self):
        """Create the peer namespace, the veth pair and the listener."""
        self._peer_cm = netns_support.netns()
        self.peer = self._peer_cm.__enter__()  # pylint: disable=unnecessary-dunder-call
        try:
            dev = f"na-p{secrets.token_hex(3)}"
            self.target.run(
                ["ip", "link", "add", dev, "type", "veth", "peer", "name", "na-peer", "netns", self.peer.name]
            )
            for ns, name, addresses in ((self.target, dev, self.host), (self.peer, "na-peer", self.peer_addresses)):
                for address in addresses:
                    if ":" in address:
                        ns.run(["ip", "-6", "addr", "add", f"{address}/64", "dev", name, "nodad"])
                    else:
                        ns.run(["ip", "addr", "add", f"{address}/24", "dev", name])
                ns.run(["ip", "link", "set", name, "up"])
            self._listener = subprocess.Popen(  # pylint: disable=consider-using-with
                ["ip", "netns", "exec", self.target.name, sys.executable, "-c", fw.LISTENER, *map(str, self.ports)],
                stdout=subprocess.PIPE,
                text=True,
            )
            if self._listener.stdout.readline().strip() != "ready":
                raise netns_support.NetnsError(f"the listener in {self.target.name} did not start")
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_ready(self, timeout=10.0):
        """Wait until every peer address reaches the listener (a fresh link takes a moment, IPv6 neighbours more)."""
        deadline = time.monotonic() + timeout
        for source in self.peer_addresses:
            destination = next(h for h in self.host if (":" in h) == (":" in source))
            while not self.connects(source, destination, self.ports[0], timeout=0.5):
                if time.monotonic() > deadline:
                    raise netns_support.NetnsError(f"{source} cannot reach {destination} over the new veth")
                time.sleep(0.1)

    def __exit__(self, *exc_info):
        """Stop the listener and delete the peer namespace (and with it the veth pair)."""
        if self._listener is not None:
            self._listener.kill()
            self._listener.wait()
            self._listener = None
        if self._peer_cm is not None:
            self._peer_cm.__exit__(*exc_info)
            self._peer_cm = None

    def connects(self, source, destination, port, timeout=1.0):
        """Whether one TCP connection from ``source`` to ``destination:port`` is established now.

        Loopback sources connect from inside the target namespace, the others from the peer.
        """
        ns = self.target if source.startswith("127.") or source == "::1" else self.peer
        return fw.tcp_connects(ns, source, destination, port, timeout)

    def sampling(self, pairs, port):
        """A :class:`Sampling` of ``pairs`` (``[(source, destination)]``) to ``port`` while entered."""
        return Sampling(self, pairs, port)


class Sampling:
    """Background probers (one per namespace) connecting every :data:`INTERVAL` seconds; ``rounds`` collects them."""

    def __init__(self, link, pairs, port):
        """Split ``pairs`` between the target (loopback sources) and the peer namespace."""
        self.link = link
        self.port = port
        self.by_ns = {}
        for source, destination in pairs:
            ns = link.target if source.startswith("127.") or source == "::1" else link.peer
            self.by_ns.setdefault(ns.name, []).append(f"{source},{destination}")
        # [(monotonic time, source, connected)]
        self.samples = []
        self._procs = []
        self._threads = []
        self._lock = threading.Lock()

    def __enter__(self):
        """Start the probers and wait for each one's first round."""
        for name, pairs in self.by_ns.items():
            proc = subprocess.Popen(  # pylint: disable=consider-using-with
                ["ip", "netns", "exec", name, sys.executable, "-c", PROBER, str(self.port), str(INTERVAL),
                 str(TIMEOUT), *pairs],
                stdout=subprocess.PIPE,
                text=True,
            )
            self._procs.append(proc)
            thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
            thread.start()
            self._threads.append(thread)
        deadline = time.monotonic() + 10
        while len({s for _, s, _ in self.samples}) < sum(map(len, self.by_ns.values())):
            if time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise AssertionError(f"the probers gave no first round within 10 s: {self.samples}")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc_info):
        """Stop the probers."""
        for proc in self._procs:
            proc.kill()
            proc.wait()
        for thread in self._threads:
            thread.join(timeout=5)

    def _read(self, proc):
        """Collect the rounds one prober prints."""
        for line in proc.stdout:
            round_ = json.loads(line)
            with self._lock:
                self.samples.extend((round_["t"], src, ok) for src, ok in round_["ok"].items())

    def now(self):
        """A point in time comparable with the samples' (CLOCK_MONOTONIC)."""
        return time.monotonic()

    def series(self, source, start=None, end=None):
        """``[(time, connected)]`` of ``source`` between ``start`` and ``end`` (monotonic seconds; open ends)."""
        with self._lock:
            return [
                (t, ok)
                for t, src, ok in self.samples
                if src == source and (start is None or t >= start) and (end is None or t <= end)
            ]

    def through(self, source, start=None, end=None):
        """The times ``source`` got through between ``start`` and ``end``."""
        return [t for t, ok in self.series(source, start, end) if ok]

    def refused(self, source, start=None, end=None):
        """The times ``source`` did not get through between ``start`` and ``end``."""
        return [t for t, ok in self.series(source, start, end) if not ok]
