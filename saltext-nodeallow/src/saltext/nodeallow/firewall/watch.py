# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The minion's firewall watcher: notice when someone else changes nodeallow's objects, and repair them.

Run by the minion engine ``nodeallow`` (engines/nodeallow.py; docs/firewall.md, "Self-repair").
It costs nothing while nothing changes: ``nft monitor`` (through the command runner, so
``nodeallow_netns`` applies) prints each ruleset transaction, ended by a ``# new generation``
line, and the watcher sleeps on its output. A transaction that touches our nft table without
rewriting its record (chain ``state``, which every apply of ours rewrites) is someone else's: a
deleted table, a flushed ruleset, a flushed set, a deleted element. So are transactions on the
``ip``/``ip6 filter`` tables (iptables-nft) when the backend is ipset or iptables. Such an event
wakes a repair (repair.py) after ``settle`` seconds: the firewall is compared with the
last-known-good store (in full when set elements were touched) and put back if it differs.

ipset changes and legacy iptables never show up in ``nft monitor``: for those backends the
watcher also polls the backend's cheap check (set headers' entry counts, ``iptables-save`` of our
chain) every ``poll`` seconds. With nftables a cheap check every ``backstop`` seconds covers a
monitor that died (it is restarted, followed by a full check).
"""

import logging
import queue
import re
import subprocess
import threading
import time

from saltext.nodeallow.firewall import command, repair

log = logging.getLogger(__name__)

# Seconds between the cheap checks of the ipset and iptables backends (their changes may not show
# in nft monitor), and between the backstop checks of nftables; the wait after an event (a
# transaction's burst, e.g. a formula's several iptables-restore runs, is repaired once).
DEFAULT_POLL = 3.0
DEFAULT_BACKSTOP = 60.0
DEFAULT_SETTLE = 0.2
_GENERATION = "# new generation"
# A monitor that ends sooner than this after its start is not restarted (polling takes over).
MONITOR_MIN_LIFE = 10.0
_XTABLES_RE = re.compile(r"^\S+ \S+ (ip|ip6) filter\b")


def options(config):
    """``(poll, backstop, settle)`` from the engine's config mapping, each a positive number of seconds."""
    config = config or {}
    unknown = sorted(set(config) - {"poll", "backstop", "settle"})
    if unknown:
        raise ValueError(f"unknown options {unknown} for the minion engine nodeallow; allowed: poll, backstop, settle")
    out = []
    for key, default in (("poll", DEFAULT_POLL), ("backstop", DEFAULT_BACKSTOP), ("settle", DEFAULT_SETTLE)):
        value = config.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"engine nodeallow option {key} must be a positive number of seconds, not {value!r}")
        out.append(float(value))
    return tuple(out)


def classify(lines, backend, table):
    """What one ``nft monitor`` transaction (its lines) means for us: ``None``, ``"cheap"`` or ``"full"``.

    ``None``: it does not touch our objects, or it is one of our own applies (it rewrites chain
    ``state`` of our table). ``"full"``: someone else touched our sets' elements (compare the
    elements); ``"cheap"``: someone else touched our table, chains, rules or sets, or (ipset and
    iptables backends) the iptables filter tables.
    """
    if backend is None:
        return None
    if backend == "nftables":
        mark = f" inet {table}"
        inner = mark + " "
        ours = f"add rule inet {table} state "
        touched = [line for line in lines if inner in line or line.endswith(mark)]
        if not touched or any(line.startswith(ours) for line in touched):
            return None
        return "full" if any(" element " in line for line in touched) else "cheap"
    return "cheap" if any(_XTABLES_RE.match(line) for line in lines) else None


class Monitor:
    """``nft monitor`` as a child process whose transactions arrive on a queue (read by a thread)."""

    def __init__(self, executor):
        """Start ``nft monitor`` through ``executor`` (so ``nodeallow_netns`` applies)."""
        self.queue = queue.Queue()
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with  # lives as long as the watcher
            executor.argv(["nft", "monitor"]),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.thread = threading.Thread(target=self._read, name="nodeallow-nft-monitor", daemon=True)
        self.thread.start()

    def _read(self):
        """Put each transaction (list of lines) on the queue; ``None`` when the monitor ends."""
        lines = []
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if line.startswith(_GENERATION):
                self.queue.put(lines)
                lines = []
            elif line:
                lines.append(line)
        self.queue.put(None)

    def alive(self):
        """Whether the monitor still runs."""
        return self.proc.poll() is None

    def stop(self):
        """End the monitor process."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Watcher:
    """Wakes on foreign changes (and polls where events are missing) and repairs from the store.

    ``report(repaired)`` is called after each repair that changed something, with
    ``{"time", "trigger", "changes", "summary", "seconds"}``.
    """

    def __init__(self, opts, report=None, *, poll=DEFAULT_POLL, backstop=DEFAULT_BACKSTOP, settle=DEFAULT_SETTLE):
        """Watch the firewall of the minion with ``opts`` (``cachedir``, ``nodeallow_netns``)."""
        self.opts = opts
        self.report = report or (lambda repaired: None)
        self.poll = poll
        self.backstop = backstop
        self.settle = settle
        self.executor = command.Executor(opts.get("nodeallow_netns"))
        self.monitor = None
        self.backend, self.table = None, None
        self.stopped = threading.Event()

    def _start_monitor(self):
        """Start ``nft monitor``; ``None`` when nft is not installed (then only polling works)."""
        try:
            return Monitor(self.executor)
        except OSError as exc:
            log.warning("nodeallow watcher: cannot run nft monitor (%s); polling every %ss instead", exc, self.poll)
            return None

    def interval(self):
        """Seconds until the next cheap check when no event comes."""
        if self.backend == "nftables" and self.monitor is not None and self.monitor.alive():
            return self.backstop
        return self.poll

    def check(self, full, trigger):
        """Repair if the firewall differs from the store; report what was done. Never raises."""
        started = time.monotonic()
        try:
            changes, want = repair.repair(self.opts, full=full)
            self.backend, self.table = (want.backend, want.nft_table) if want else (None, None)
        except Exception as exc:  # pylint: disable=broad-except  # the watcher must outlive any failure
            log.error("nodeallow watcher: the repair after %s failed: %s", trigger, exc)
            return None
        if changes:
            repaired = {
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "trigger": trigger,
                "backend": self.backend,
                "summary": repair.summary(changes),
                "seconds": round(time.monotonic() - started, 3),
            }
            log.warning(
                "nodeallow watcher: repaired the firewall after %s: %s", trigger, "; ".join(repaired["summary"])
            )
            self.report(repaired)
        return changes

    def _refresh(self):
        """Take backend and table from the store when a state run changed it since the last check.

        Cheap: the store is read again only when its file changed (repair.settings caches it).
        """
        try:
            want = repair.settings(self.opts)
        except Exception as exc:  # pylint: disable=broad-except  # a corrupt store is reported by the check
            log.debug("nodeallow watcher: cannot read the last-known-good store: %s", exc)
            return
        self.backend, self.table = (want.backend, want.nft_table) if want else (None, None)

    def run(self):
        """Watch until :meth:`stop`: a full check first, then events and periodic checks."""
        if self.opts.get("nodeallow_ruleset_file"):
            log.info("nodeallow watcher: nodeallow_ruleset_file is set, there is no kernel firewall to watch")
            return
        self.monitor = self._start_monitor()
        started = time.monotonic()
        self.check(True, "start")
        next_check = time.monotonic() + self.interval()
        pending, pending_at, trigger = None, 0.0, ""
        try:
            while not self.stopped.is_set():
                now = time.monotonic()
                if pending is not None and now >= pending_at:
                    self.check(pending == "full", trigger)
                    pending, trigger = None, ""
                    next_check = time.monotonic() + self.interval()
                    continue
                if now >= next_check:
                    self.check(False, "periodic check")
                    next_check = time.monotonic() + self.interval()
                    continue
                wait = (pending_at if pending is not None else next_check) - now
                transaction = self._next(wait)
                if transaction is False:
                    continue
                if transaction is None:
                    self.monitor.stop()
                    if time.monotonic() - started < MONITOR_MIN_LIFE:
                        # It cannot run here (no nft, no permission): restarting it would only
                        # repeat full checks; the periodic checks take over.
                        log.warning(
                            "nodeallow watcher: nft monitor ended at once; checking every %ss instead", self.poll
                        )
                        self.monitor = None
                    else:
                        log.warning("nodeallow watcher: nft monitor ended; restarting it")
                        self.stopped.wait(1.0)
                        self.monitor = self._start_monitor()
                        started = time.monotonic()
                    pending, pending_at, trigger = "full", time.monotonic(), "nft monitor restart"
                    next_check = time.monotonic() + self.interval()
                    continue
                self._refresh()
                kind = classify(transaction, self.backend, self.table)
                if kind is not None:
                    if pending is None:
                        pending_at = time.monotonic() + self.settle
                        trigger = _describe(transaction)
                    pending = "full" if "full" in (pending, kind) else "cheap"
        finally:
            if self.monitor is not None:
                self.monitor.stop()

    def _next(self, wait):
        """The next transaction, ``None`` when the monitor ended, ``False`` when ``wait`` passed without one."""
        if self.monitor is None:
            self.stopped.wait(max(wait, 0))
            return False
        try:
            return self.monitor.queue.get(timeout=max(wait, 0.001))
        except queue.Empty:
            return False

    def stop(self):
        """Make :meth:`run` return soon (it wakes from its wait)."""
        self.stopped.set()
        if self.monitor is not None:
            self.monitor.queue.put(False)


def _describe(transaction):
    """The first line of a transaction, e.g. ``delete table inet nodeallow``, as the repair's trigger."""
    first = transaction[0] if transaction else "an empty transaction"
    more = f" (+{len(transaction) - 1} more)" if len(transaction) > 1 else ""
    return f"nft monitor: {first[:120]}{more}"
