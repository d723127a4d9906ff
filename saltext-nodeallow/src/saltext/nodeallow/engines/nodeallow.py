# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Engine ``nodeallow``: on a master the reconcile loop, on a minion the firewall watcher.

Both run in a process of their own, never on a reactor thread. Master configuration (docs/salt.md)::

    engines:
      - nodeallow: {}

Minion configuration (docs/firewall.md, "Self-repair"): the same line in the minion config runs
the watcher (firewall/watch.py), which puts back nodeallow's firewall objects from the
last-known-good store when someone else deletes or changes them, and tells the master
(event ``nodeallow/minion/repaired``).

On the master it listens to the master's event bus. It ingests the salt-api hook events under the
nodeallow hook path itself (ingest.py), in batches: every hook event waiting on the bus when one
arrives (at most ``BATCH_MAX``, for at most ``BATCH_WINDOW`` seconds) is verified, the newest
sequence of each allowlist stored under one store lock, and one reconcile pass started for the
allowlists stored. A hook event forwarded by a peer of a master cluster (``__peer_id``) is left to
the master whose salt-api received it. It hands each other relevant event to the reconcile loop
(reconcile.py): the return of an apply job (recorded at once, and a follow-up started when the
minion is still behind), a minion's start or re-authentication (a job it missed is retried at
once, and sent again after ``start_grace`` while it has not answered: the minion may fire the
event before it listens for jobs again). Every ``reconcile_interval`` seconds it also runs a full
pass: returns found only in the job cache, jobs that got no answer, retries that are due, and a
slice of the subscriber index sweep so every accepted minion's pillar is recompiled within
``reindex_period``.
"""

import datetime
import logging
import math
import time

import salt.utils.event

from saltext.nodeallow import index as subscriber_index
from saltext.nodeallow import ingest, jobcache, reconcile, results, subscriptions
from saltext.nodeallow import settings as nodeallow_settings
from saltext.nodeallow import store as nodeallow_store
from saltext.nodeallow.firewall import watch

log = logging.getLogger(__name__)

__virtualname__ = "nodeallow"

# Functions whose returns can hold a nodeallow.managed run (or a delta, reconcile.DELTA_FUNCTION).
_STATE_FUNCTIONS = (
    "state.single",
    "state.apply",
    "state.highstate",
    "state.sls",
    "state.sls_id",
    reconcile.DELTA_FUNCTION,
)


# The tag of the event a minion sends the master after each repair (the master records it).
REPAIRED_TAG = "nodeallow/minion/repaired"
# Repairs a minion keeps resending with the next one (its event may be lost while the master is down).
REPAIRS_KEPT = 10
# A batch of hook events is what waits on the bus when the first arrives, at most this many bodies
# read for at most this many seconds, so a steady stream still gets stored and applied.
BATCH_MAX = 500
BATCH_WINDOW = 0.5
# How long the batch waits for the next event: the bus has handed over everything queued by then.
BATCH_POLL = 0.01


def __virtual__():
    """On a master (the reconcile loop) and on a minion (the firewall watcher)."""
    if __opts__.get("__role") not in ("master", "minion"):
        return False, "the nodeallow engine runs on a salt-master or a salt-minion"
    return __virtualname__


def start(**config):
    """Run the reconcile loop (master) or the firewall watcher (minion) until the daemon stops.

    Salt restarts the engine's process if it dies. ``config`` is the engine's mapping in the
    configuration: the watcher's ``poll``, ``backstop`` and ``settle`` seconds (firewall/watch.py).
    """
    if __opts__.get("__role") == "minion":
        _watch(config)
        return
    if config:
        raise ValueError(f"the master engine nodeallow takes no options (got {sorted(config)}); see docs/salt.md")
    settings = nodeallow_settings.from_opts(__opts__)
    store = nodeallow_store.Store(__opts__)
    with salt.utils.event.get_master_event(__opts__, __opts__["sock_dir"], listen=True) as bus:
        loop = Loop(__opts__, settings, store, bus)
        loop.startup()
        while True:
            loop.step()


def _watch(config):
    """The minion's side: watch the firewall, repair it, and send each repair to the master."""
    poll, backstop, settle = watch.options(config)
    recent = []

    def report(repaired):
        recent.append(repaired)
        del recent[:-REPAIRS_KEPT]
        # Queued on the minion's bus and sent on by the minion; a repair while the master is away
        # is lost with its event, so the last few ride along with every later one.
        sent = __salt__["event.send"](REPAIRED_TAG, {"repair": repaired, "recent": list(recent)})
        if not sent:
            log.warning("nodeallow watcher: could not send %s to the master", REPAIRED_TAG)

    watch.Watcher(__opts__, report, poll=poll, backstop=backstop, settle=settle).run()


class Loop:
    """One engine's state: the reconciler, the bus and the index sweep's position."""

    def __init__(self, opts, settings, store, bus):
        """Wire the reconciler to the bus (events) and the local client (jobs)."""
        self.opts = opts
        self.settings = settings
        self.store = store
        self.bus = bus
        fire = lambda tag, data: bus.fire_event(data, tag)  # noqa: E731
        self.reconciler = reconcile.Reconciler(
            store,
            settings,
            fire,
            reconcile.local_client_publisher(opts),
            master_id=opts.get("id"),
        )
        self.ingest = ingest.Ingest(store, settings, fire)
        self.hook_prefix = f"salt/netapi/hook/{settings.hook_path}/"
        self.lookup = jobcache.lookup_function(opts)
        self.next_pass = 0.0
        self.next_sweep = 0.0
        self.sweep_position = 0

    def startup(self):
        """Catch up after a (re)start: returns the job cache has, forget jobs whose returns are lost, a full pass."""
        started = time.time()
        self._guarded("collect returns from the job cache", self.reconciler.collect, self.lookup)
        forgotten = self._guarded("forget jobs started before this engine", self.reconciler.forget_jobs, started)
        if forgotten:
            log.info("nodeallow: re-applying on %s: their jobs began before this engine started", ", ".join(forgotten))
        self._pass()

    def step(self):
        """Handle the next event (waiting at most until the next pass is due), then the pass if it is due."""
        wait = max(0.05, min(1.0, self.next_pass - time.time()))
        event = self.bus.get_event(wait=wait, full=True, auto_reconnect=True)
        hooks = []
        if event and self._hook(event, hooks):
            # Whatever else is queued on the bus joins the batch, so a burst is stored once per allowlist.
            until = time.time() + BATCH_WINDOW
            while len(hooks) < BATCH_MAX and time.time() < until:
                event = self.bus.get_event(wait=BATCH_POLL, full=True, auto_reconnect=True)
                if not event:
                    break
                if not self._hook(event, hooks):
                    self._event(event)
            self._guarded("ingest hook events", self._ingest, hooks)
        elif event:
            self._event(event)
        if time.time() >= self.next_pass:
            self._pass()

    def _hook(self, event, hooks):
        """Add ``event`` to ``hooks`` when it is a hook event this master ingests; whether it was one."""
        tag = event.get("tag") or ""
        if not tag.startswith(self.hook_prefix):
            return False
        data = event.get("data") or {}
        # A master cluster forwards every event to every peer: the master whose salt-api got the POST ingests it.
        if "__peer_id" not in data:
            hooks.append((tag, data.get("body", ""), data.get("headers") or {}))
        return True

    def _ingest(self, hooks):
        """Ingest a batch of hook events, then start the applies their allowlists need now."""
        if not hooks:
            return
        summaries = self.ingest.batch(hooks)
        # A replay heals too: a resync from the controller re-applies wherever a minion is behind.
        concerned = {
            (summary["cluster"], summary["allowlist"])
            for summary in summaries
            if summary["result"] in (ingest.STORED, ingest.RETIRED, ingest.REPLAY)
        }
        if concerned:
            self.reconciler.run(only_allowlists=concerned)
            self._plan_deadline()

    def _event(self, event):
        """Hand one bus event that is not a hook to the reconcile loop."""
        tag = event.get("tag") or ""
        handled = self._guarded(f"handle event {tag}", self.handle, tag, event.get("data") or {})
        if handled is not None:
            self._plan_deadline()

    def _plan_deadline(self):
        """Bring the next pass forward to the next deadline the last run created."""
        # A job the event started, or a start window it opened, may fall due (start_grace)
        # before the pass planned so far; what was due at once the event's own run did.
        deadline = self._guarded("find the next deadline", self.reconciler.next_deadline)
        if deadline is not None and deadline > time.time():
            self.next_pass = min(self.next_pass, deadline)

    def handle(self, tag, data):
        """Route one bus event to the reconciler: the jobs it started (``{minion: jid}``), ``None`` if not ours."""
        parts = tag.split("/")
        if len(parts) == 5 and parts[:2] == ["salt", "job"] and parts[3] == "ret":
            return self._job_return(parts[2], parts[4], data)
        if len(parts) == 4 and parts[:2] == ["salt", "minion"] and parts[3] == "start":
            return self._alive(parts[2], data)
        if tag == "salt/auth" and data.get("act") == "accept" and data.get("result") is True:
            return self._alive(data.get("id"), data)
        if tag == REPAIRED_TAG:
            self._repaired(data)
        return None

    def _repaired(self, data):
        """Record a minion's firewall repair (event ``nodeallow/minion/repaired``) for ``nodeallow.status``."""
        minion_id = data.get("id")
        payload = data.get("data") if isinstance(data.get("data"), dict) else {}
        if isinstance(minion_id, str) and isinstance(payload.get("repair"), dict):
            repairs = [r for r in payload.get("recent") or [] if isinstance(r, dict)] + [payload["repair"]]
            self.store.record_repairs(minion_id, repairs)
            log.warning("nodeallow: minion %s repaired its firewall: %s", minion_id, payload["repair"].get("summary"))

    def _job_return(self, jid, minion_id, data):
        """Record a state run's return when it is one of our jobs or holds a ``nodeallow.managed`` run."""
        if data.get("fun") not in _STATE_FUNCTIONS:
            return None
        ret = data.get("return")
        ours = self.reconciler.jobs_in_flight().get(minion_id) == jid
        if ours or results.managed_entry(ret) is not None:
            return self.reconciler.record_return(jid, minion_id, ret)
        return None

    def _alive(self, minion_id, data):
        """A subscriber (re)connected (event ``data``): retry at once what it may have missed."""
        if isinstance(minion_id, str) and minion_id in self.store.get_index():
            log.info("nodeallow: minion %s (re)connected; re-applying if it is behind", minion_id)
            return self.reconciler.alive(minion_id, since=_stamp(data))
        return None

    def _pass(self):
        """The periodic pass: every ``reconcile_interval``, and as soon as a job runs out or a retry falls due."""
        now = time.time()
        if now >= self.next_sweep:
            self.next_sweep = now + self.settings.reconcile_interval
            self._guarded("sweep the subscriber index", self._sweep)
        self._guarded("collect returns from the job cache", self.reconciler.collect, self.lookup)
        self._guarded("run a reconcile pass", self.reconciler.run)
        deadline = self._guarded("find the next deadline", self.reconciler.next_deadline)
        self.next_pass = min(now + self.settings.reconcile_interval, max(deadline or now + 1e9, now + 1.0))

    def _sweep(self):
        """Recompile the next slice of accepted minions' pillars: the index is never older than ``reindex_period``."""
        accepted = subscriptions.accepted_minions(self.opts)
        removed = subscriber_index.prune(self.store, accepted)
        gone = set(self.store.get_minions()) - set(self.store.get_index())
        if removed or gone:
            self.reconciler.forget_minions(sorted(set(removed) | gone))
        if not accepted:
            return
        batch = math.ceil(len(accepted) * self.settings.reconcile_interval / self.settings.reindex_period)
        if self.sweep_position >= len(accepted):
            self.sweep_position = 0
        chosen = accepted[self.sweep_position : self.sweep_position + batch]
        self.sweep_position += batch
        changed = subscriber_index.refresh(self.opts, self.store, chosen)
        if changed:
            self.reconciler.run(only_minions=set(changed))

    @staticmethod
    def _guarded(what, func, *args):
        """Call ``func``; log and survive anything it raises, so one bad event never stops the loop."""
        try:
            return func(*args)
        except Exception:  # pylint: disable=broad-except  # the loop must outlive any single failure
            log.exception("nodeallow engine: failed to %s", what)
            return None


def _stamp(data):
    """When an event was fired (its ``_stamp``, UTC without a zone, as Salt writes it), or ``None``."""
    try:
        fired = datetime.datetime.fromisoformat(data["_stamp"])
    except (KeyError, TypeError, ValueError):
        return None
    return fired.replace(tzinfo=datetime.timezone.utc).timestamp()
