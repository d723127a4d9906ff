# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Who gets through: real TCP connects to a port of a minion's namespace from peer namespaces, once or every ~200 ms.

The one place the firewall tests ask the kernel, not our code, what a source gets. :class:`Link` joins the
namespace a minion's firewall lives in to a fresh peer namespace by a veth pair, gives both ends addresses,
and runs a listener on the given ports in the minion's namespace. :meth:`Link.connects` tries one
connection; :class:`Sampling` (``Link.sampling``) tries every source every :data:`INTERVAL` seconds in a
background prober (one process per namespace, all sources of a round in parallel), so a test sees what the
kernel did during a retirement, an apply, a repair or a host firewall's reload. A dropped SYN shows as no
answer within the sampling's timeout. Deleting the peer namespace removes the veth. Times are
CLOCK_MONOTONIC (``time.monotonic()``), system-wide on Linux.
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
# A dropped SYN is waited for this long by default; an accepted one answers within a millisecond on a veth.
TIMEOUT = 0.15

# Connects from each "src,dst" pair every interval (in parallel, non-blocking), prints one JSON line a round:
# {"t": monotonic start of the round, "ok": {src: connected}}.
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
    Several links may join one target (a peer each, on subnets of their own); ``listen=False`` leaves
    the listener to another link of the same target (it listens on every address).
    """

    def __init__(self, target, host, peer, ports, listen=True):
        """Remember the namespaces, addresses and ports; :meth:`__enter__` builds it."""
        self.target = target
        self.host = tuple(host)
        self.peer_addresses = tuple(peer)
        self.ports = tuple(ports)
        self.listen = listen
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
            if self.listen:
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

    def sampling(self, pairs, port, timeout=TIMEOUT):
        """A :class:`Sampling` of ``pairs`` (``[(source, destination)]``) to ``port`` while entered."""
        by_ns = {}
        for source, destination in pairs:
            ns = self.target if source.startswith("127.") or source == "::1" else self.peer
            by_ns.setdefault(ns.name, []).append((source, destination))
        return Sampling(by_ns, port, timeout)


class Sampling:
    """Background probers (one per namespace) connecting every :data:`INTERVAL` seconds, while entered.

    ``by_ns`` is ``{namespace name: [(source, destination)]}``; each prober's round is kept as
    ``(monotonic start, namespace name, {source: connected})``.
    """

    def __init__(self, by_ns, port, timeout=TIMEOUT):
        """Probe ``port`` from the sources of ``by_ns``, a dropped SYN waited for ``timeout`` seconds."""
        self.by_ns = {name: [f"{src},{dst}" for src, dst in pairs] for name, pairs in by_ns.items()}
        self.port = port
        self.timeout = timeout
        self._rounds = []
        self._procs = []
        self._threads = []
        self._lock = threading.Lock()

    def __enter__(self):
        """Start the probers and wait for each one's first round."""
        for name, pairs in self.by_ns.items():
            proc = subprocess.Popen(  # pylint: disable=consider-using-with
                ["ip", "netns", "exec", name, sys.executable, "-c", PROBER, str(self.port), str(INTERVAL),
                 str(self.timeout), *pairs],
                stdout=subprocess.PIPE,
                text=True,
            )
            self._procs.append(proc)
            thread = threading.Thread(target=self._read, args=(name, proc), daemon=True)
            thread.start()
            self._threads.append(thread)
        deadline = time.monotonic() + 10
        while len({name for _, name, _ in self.rounds()}) < len(self.by_ns):
            if time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise AssertionError(f"the probers gave no first round within 10 s: {self.rounds()}")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc_info):
        """Stop the probers."""
        for proc in self._procs:
            proc.kill()
            proc.wait()
        for thread in self._threads:
            thread.join(timeout=5)

    def _read(self, name, proc):
        """Collect the rounds one prober prints."""
        for line in proc.stdout:
            round_ = json.loads(line)
            with self._lock:
                self._rounds.append((round_["t"], name, round_["ok"]))

    @property
    def samples(self):
        """``[(time, source, connected)]``, every source of every round so far."""
        return [(t, src, ok) for t, _, verdicts in self.rounds() for src, ok in verdicts.items()]

    def rounds(self, start=None, ns=None):
        """``[(time, namespace name, {source: connected})]`` from ``start`` on (of namespace ``ns`` only if given)."""
        with self._lock:
            return [r for r in self._rounds if (start is None or r[0] >= start) and (ns is None or r[1] == ns)]

    def since(self, moment):
        """``[(time, {source: connected})]`` of the rounds started at or after ``moment``."""
        return [(t, verdicts) for t, _, verdicts in self.rounds(moment)]

    def wait(self, predicate, timeout, what):
        """Wait until a round started from now on satisfies ``predicate`` (``{source: connected}``); return its time.

        With several namespaces, the newest round of each is taken together.
        """
        start = time.monotonic()
        deadline = start + timeout
        while time.monotonic() < deadline:
            newest = {}
            for t, name, verdicts in self.rounds(start):
                newest[name] = (t, verdicts)
            if len(newest) == len(self.by_ns):
                merged = {src: ok for _, verdicts in newest.values() for src, ok in verdicts.items()}
                if predicate(merged):
                    return min(t for t, _ in newest.values())
            time.sleep(0.05)
        raise AssertionError(f"{what} not seen within {timeout}s; last rounds: {self.rounds()[-5:]}")

    def now(self):
        """A point in time comparable with the samples' (CLOCK_MONOTONIC)."""
        return time.monotonic()

    def series(self, source, start=None, end=None):
        """``[(time, connected)]`` of ``source`` between ``start`` and ``end`` (monotonic seconds; open ends)."""
        return [
            (t, verdicts[source])
            for t, _, verdicts in self.rounds(start)
            if source in verdicts and (end is None or t <= end)
        ]

    def through(self, source, start=None, end=None):
        """The times ``source`` got through between ``start`` and ``end``."""
        return [t for t, ok in self.series(source, start, end) if ok]

    def refused(self, source, start=None, end=None):
        """The times ``source`` did not get through between ``start`` and ``end``."""
        return [t for t, ok in self.series(source, start, end) if not ok]
