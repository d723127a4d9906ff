# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The master's reconcile loop: apply ``nodeallow.managed`` wherever a subscriber's firewall is behind the store.

The Salt-side counterpart of the controller's reconcile: for each subscriber (from the index) the
master knows the stored sequence of every allowlist it subscribes to and the sequence it last
applied with success (store.py's applies, monotonic by job id). :func:`decide` is the one place
that says who gets an apply now; :class:`Reconciler` acts on it (asynchronous jobs, never waiting
for a minion) and records what comes back. It is driven by ingest (right after a store or a
replay), by the engine (job returns, minion start and auth events, a pass every
``reconcile_interval``) and by ``salt-run nodeallow.reconcile``.

Per minion at most one job is in flight: a second one would only queue behind the first on the
minion (``queue=True``), and its return triggers the follow-up at once. A job without an answer
within ``apply_timeout`` counts as failed; failures back off (``retry_base`` doubling up to
``retry_max``) so a dead minion is not hammered, and any sign of life from it (start, auth, a job
return) clears the backoff.

A start or auth event is not proof that the minion listens for jobs: Salt fires it through the
minion's request channel, and after a master restart its publish socket may reconnect up to
``recon_max`` (10 s) later; a job published meanwhile is lost. So for ``start_window`` seconds after
such an event, a job in flight without a return after ``start_grace`` seconds is sent again, neither
failed nor backed off, until a job sent to the minion returns: at most ``start_window`` /
``start_grace`` extra jobs per event, and none for a minion that shows no sign of life.

Deltas: a subscriber that applied one of the allowlist's recent sequences with success, whose rules
and settings are those of its last full apply (the ext_pillar's fingerprint, index.py) and that did
not ask for the full apply since, gets ``nodeallow.apply_delta`` with what changed (deltas.py): one
job for all the subscribers that hold the same bases, whatever the list's size. Anything else, or a
minion that answers that it has no usable base, gets ``state.single nodeallow.managed`` as before.
"""

import dataclasses
import logging
import time

from saltext.nodeallow import deltas as delta_history
from saltext.nodeallow import index as subscriber_index
from saltext.nodeallow import results
from saltext.nodeallow import store as nodeallow_store

log = logging.getLogger(__name__)

# What the apply job runs on a minion: the state reads everything from pillar.
STATE_FUNCTION = "state.single"
STATE_ARGS = ["nodeallow.managed"]
STATE_KWARGS = {"name": "nodeallow", "queue": True}
# What a delta job runs on a minion (modules/nodeallow.py): the changes travel as its argument.
DELTA_FUNCTION = "nodeallow.apply_delta"


@dataclasses.dataclass(frozen=True)
class Decision:
    """What one reconcile pass does: whom to apply to now, and whose job in flight ran out of time."""

    # {minion_id: {"<cluster>/<allowlist>": stored sequence}}: every allowlist the minion keeps,
    # for the minions that are behind and neither busy nor backing off.
    start: dict
    # Minion ids whose job in flight got no answer within apply_timeout.
    expired: list
    # Minion ids (also in start) whose job in flight, started within start_window of their start or
    # auth event, got no answer within start_grace: it is sent again, not failed.
    resend: list
    # {minion_id: {"<cluster>/<allowlist>": base sequence}} of the minions (also in start) that get
    # deltas from those bases instead of the full apply; only the allowlists they are behind on.
    delta: dict = dataclasses.field(default_factory=dict)


def wanted(sequences, index):
    """``{minion_id: {name: stored sequence}}``: what each subscriber should have, for allowlists the master stores.

    An allowlist nobody published yet has nothing to apply: the minion's state holds it apart.
    """
    result = {}
    for minion_id, names in index.items():
        keep = {name: sequences[name] for name in names if name in sequences}
        if keep:
            result[minion_id] = keep
    return result


def behind(minion_id, want, applies):
    """The names of ``want`` (``{name: stored sequence}``) that ``minion_id`` has not applied with success.

    A minion that refused the stored sequence because it keeps a newer one (``ahead_of``, see
    results.per_allowlist: another master of a classic multi-master setup published it first) is
    not behind: this master has nothing newer to give it until the controller re-sends.
    """
    lagging = []
    for name, sequence in sorted(want.items()):
        last = applies.get(name, {}).get(minion_id)
        if last is None or last.get("result") is not True:
            lagging.append(name)
        elif sequence not in (last.get("sequence"), last.get("ahead_of")):
            lagging.append(name)
    return lagging


def delta_plan(minion_id, want, applies, state, bases, fingerprints):
    """``{name: base sequence}`` when ``minion_id`` can catch up on ``want`` by deltas alone, else ``None``.

    Each allowlist it is behind on must have been applied with success at a sequence a delta
    starts from (``bases``: ``{name: {sequence}}``, deltas.bases); its settings fingerprint
    (``fingerprints``, index.fingerprint) must be the one recorded at its last full apply (the
    delta applies the rules stored then); and it must not have asked for the full apply since
    (``state["full"]``: no usable base, a digest mismatch, a failed delta), nor failed to run the
    delta function at all since its last start (``state["no_delta"]``: an older extension).
    """
    if bases is None or state.get("full") or state.get("no_delta") or not state.get("settings"):
        return None
    if state["settings"] != (fingerprints or {}).get(minion_id):
        return None
    plan = {}
    for name in behind(minion_id, want, applies):
        last = applies.get(name, {}).get(minion_id) or {}
        if last.get("result") is not True or last.get("sequence") not in bases.get(name, ()):
            return None
        plan[name] = last["sequence"]
    return plan or None


def job_deadlines(state, settings):
    """``(resend_at, expire_at)`` of the job in flight of a minion's loop ``state``.

    ``expire_at``: ``apply_timeout`` after it started; then it counts as failed. ``resend_at``: for a
    job started within ``start_window`` of the minion's last start or auth event (``reconnected``,
    cleared by the return of a job sent to it), ``start_grace`` after it started; then it is sent
    again if the minion is still behind, because the minion may not have listened yet. ``None``
    for any other job.
    """
    started = state["job"].get("started", 0)
    expire_at = started + settings.apply_timeout
    reconnected = state.get("reconnected")
    if reconnected is not None and started < reconnected + settings.start_window:
        return min(started + settings.start_grace, expire_at), expire_at
    return None, expire_at


def decide(now, want, applies, minions, settings, only=None, bases=None, fingerprints=None):
    """Return the :class:`Decision` of one pass (pure: no I/O, table-tested).

    ``want`` is :func:`wanted`'s result, ``applies`` ``{name: {minion_id: apply result}}``,
    ``minions`` the loop's per-minion state ``{minion_id: {job, failures, next_retry, reconnected,
    full, settings}}``, ``settings`` the limits (settings.Settings: ``apply_timeout``,
    ``start_grace``, ``start_window``), ``only`` an optional set of minion ids to consider.
    ``bases`` (``{name: {sequence}}``, ``None``: no deltas) and ``fingerprints`` (``{minion_id:
    settings fingerprint}``) say who gets a delta (:func:`delta_plan`).
    """
    start = {}
    expired = []
    resend = []
    delta = {}
    for minion_id in sorted(want):
        if only is not None and minion_id not in only:
            continue
        state = minions.get(minion_id) or {}
        if state.get("job"):
            resend_at, expire_at = job_deadlines(state, settings)
            lagging = behind(minion_id, want[minion_id], applies)
            if now > expire_at:
                expired.append(minion_id)
            elif resend_at is not None and now > resend_at and lagging:
                # Sent again at once, neither failed nor backed off: the minion is alive, it may
                # only have missed the publish.
                resend.append(minion_id)
                start[minion_id] = dict(want[minion_id])
            continue
        if now < state.get("next_retry", 0):
            continue
        if behind(minion_id, want[minion_id], applies):
            start[minion_id] = dict(want[minion_id])
    for minion_id in start:
        plan = delta_plan(minion_id, want[minion_id], applies, minions.get(minion_id) or {}, bases, fingerprints)
        if plan:
            delta[minion_id] = plan
    return Decision(start, expired, resend, delta)


def _applied_text(result):
    """One apply result for the log: ``seq 42``, ``seq 42 FAILED``, ``seq 42 (refused this master's older 40)``."""
    text = f"seq {result['sequence']}{'' if result['result'] else ' FAILED'}"
    if result.get("ahead_of") is not None:
        text += f" (refused this master's older {result['ahead_of']})"
    return text


def _groups(start, payloads):
    """``[(payload, [minion ids])]``: one job for the full apply (payload ``None``), one per distinct delta."""
    groups = {}
    for minion_id in sorted(start):
        payload = payloads.get(minion_id)
        key = None if payload is None else tuple((d["allowlist"], d["base_sequence"]) for d in payload)
        groups.setdefault(key, (payload, []))[1].append(minion_id)
    return list(groups.values())


def local_client_publisher(opts):
    """Return ``publish(minion_ids, deltas=None) -> jid``: start the apply job on exactly those minions, not waiting.

    One Salt LocalClient serves every publish (making one reads and parses the master's configuration,
    tens of ms per job); it is made again after a publish that failed.
    """
    clients = []

    def publish(minion_ids, deltas=None):
        """Publish ``state.single nodeallow.managed`` (with ``deltas``: ``nodeallow.apply_delta``); return the job id.

        A list target: Salt encrypts the job once for all of them, whatever their number.
        """
        import salt.client  # pylint: disable=import-outside-toplevel  # only on a master

        if deltas is None:
            fun, args, kwarg = STATE_FUNCTION, list(STATE_ARGS), dict(STATE_KWARGS)
        else:
            fun, args, kwarg = DELTA_FUNCTION, [], {"deltas": deltas}
        if not clients:
            clients.append(salt.client.get_local_client(opts["conf_file"]))
        try:
            jid = clients[0].cmd_async(sorted(minion_ids), fun, args, tgt_type="list", kwarg=kwarg)
        except Exception:
            clients.pop().destroy()
            raise
        if not jid:
            clients.pop().destroy()
            raise RuntimeError("the master refused to publish the job (is salt-master running and the user allowed?)")
        return str(jid)

    return publish


class Reconciler:
    """Acts on :func:`decide` and records job returns, with the store as the only shared state.

    ``fire(tag, data)`` puts an event on the master bus; ``publish(minion_ids)`` starts the apply
    job and returns its id, ``publish(minion_ids, deltas)`` a delta job (:func:`local_client_publisher`
    on a master; tests pass fakes).
    """

    def __init__(self, store, settings, fire, publish, clock=time.time, master_id=None):
        """Bundle the store, the settings (settings.Settings), the side effects and this master's id.

        ``master_id`` marks the jobs this master starts: in a master cluster the peers share the
        store, and a restarted master forgets only its own jobs in flight. With ``settings.deltas``,
        subscribers with a usable base catch up by ``nodeallow.apply_delta``.
        """
        self.store = store
        self.settings = settings
        self.fire = fire
        self.publish = publish
        self.clock = clock
        self.master_id = master_id

    def _applies(self, names):
        """``{name: {minion_id: result}}`` of the given allowlist names."""
        return {name: self.store.get_applies(*subscriber_index.reference_of(name)) for name in names}

    def run(self, only_minions=None, only_allowlists=None):
        """One pass: expire unanswered jobs, then start the applies that are due; return what was started.

        ``only_minions`` / ``only_allowlists`` (``{(cluster, allowlist)}``) narrow the pass to the
        minions concerned, as ingest does after a store. Returns ``{minion_id: job id}``.
        """
        now = self.clock()
        events = []
        with self.store.lock():
            index = self.store.get_index()
            if only_allowlists is not None:
                names = {subscriber_index.name_of(reference) for reference in only_allowlists}
                concerned = {m for m, subscribed in index.items() if names & set(subscribed)}
                only_minions = concerned if only_minions is None else set(only_minions) & concerned
            sequences = self.store.sequences()
            want = wanted(sequences, index)
            applies = self._applies({name for keep in want.values() for name in keep})
            minions = self.store.get_minions()
            history = self._history(want, sequences, only_minions)
            deltas = self.settings.deltas
            bases = {name: delta_history.bases(steps) for name, steps in history.items()} if deltas else None
            fingerprints = self.store.get_settings() if deltas else None
            decision = decide(now, want, applies, minions, self.settings, only_minions, bases, fingerprints)
            payloads = {
                minion_id: [delta_history.compose(name, history[name], base) for name, base in sorted(plan.items())]
                for minion_id, plan in decision.delta.items()
            }
            for minion_id in decision.expired:
                job = minions[minion_id]["job"]
                events += self._fail(
                    minions,
                    minion_id,
                    job.get("expected", {}),
                    job.get("jid"),
                    f"no answer within {self.settings.apply_timeout:g}s to job {job.get('jid')} "
                    "(minion down, disconnected or stuck); retried with backoff",
                    now,
                )
            for minion_id in decision.resend:
                log.info(
                    "nodeallow: no return from %s within %gs of job %s, sent after its start or re-authentication: "
                    "it may not have listened yet (its publish socket reconnects on its own); sending it again",
                    minion_id,
                    self.settings.start_grace,
                    minions[minion_id]["job"].get("jid"),
                )
            for minion_id, expected in decision.start.items():
                state = minions.setdefault(minion_id, {})
                state["job"] = {"jid": None, "started": now, "expected": expected, "master": self.master_id}
                if minion_id in decision.delta:
                    state["job"]["expected"] = {name: expected[name] for name in decision.delta[minion_id]}
                    state["job"]["mode"] = "delta"
            if decision.expired or decision.start:
                self.store.put_minions(minions)
        self._fire_all(events)
        started = {}
        for payload, minion_ids in _groups(decision.start, payloads):
            expected = {m: minions[m]["job"]["expected"] for m in minion_ids}
            started.update(self._start(expected, now, payload))
        return started

    def _history(self, want, sequences, only_minions):
        """``{name: steps}`` of the allowlists wanted (by ``only_minions``) whose history reaches the stored one."""
        if not self.settings.deltas:
            return {}
        names = {n for m, keep in want.items() if only_minions is None or m in only_minions for n in keep}
        history = {}
        for name in sorted(names):
            steps = delta_history.load(self.store, *subscriber_index.reference_of(name))
            if steps and steps[-1]["sequence"] == sequences.get(name):
                history[name] = steps
        return history

    def _start(self, start, now, payload=None):
        """Publish one job (``payload``: the deltas, else the full apply) to the minions of ``start``; record its id."""
        try:
            jid = self.publish(sorted(start)) if payload is None else self.publish(sorted(start), payload)
        except Exception as exc:  # pylint: disable=broad-except  # any client error must become a recorded failure
            log.error("nodeallow: could not start the apply on %s: %s", ", ".join(sorted(start)), exc)
            events = []
            with self.store.lock():
                minions = self.store.get_minions()
                for minion_id, expected in start.items():
                    events += self._fail(
                        minions, minion_id, expected, None, f"could not start the apply job: {exc}", now
                    )
                self.store.put_minions(minions)
            self._fire_all(events)
            return {}
        with self.store.lock():
            minions = self.store.get_minions()
            for minion_id in start:
                job = (minions.get(minion_id) or {}).get("job")
                if job and job.get("jid") is None and job.get("started") == now:
                    job["jid"] = jid
            self.store.put_minions(minions)
        log.info(
            "nodeallow: started job %s applying %s%s on %s",
            jid,
            ", ".join(sorted({name for expected in start.values() for name in expected})),
            "" if payload is None else " by delta (" + ", ".join(
                f"{d['allowlist']} {d['base_sequence']}->{d['sequence']}: +{len(d['added'])} -{len(d['removed'])}"
                for d in payload) + ")",
            ", ".join(sorted(start)),
        )
        return dict.fromkeys(start, jid)

    def _fail(self, minions, minion_id, expected, jid, comment, now):
        """Record a failed apply of ``expected`` on ``minion_id`` and back off; return the events to fire."""
        state = minions.setdefault(minion_id, {})
        state["job"] = None
        state["failures"] = state.get("failures", 0) + 1
        state["next_retry"] = now + self.settings.retry_delay(state["failures"])
        state["last_error"] = results.shorten(comment)
        outcome = {}
        for name in expected:
            previous = self.store.get_applies(*subscriber_index.reference_of(name)).get(minion_id) or {}
            outcome[name] = {
                "sequence": previous.get("sequence"),
                "result": False,
                "comment": state["last_error"],
                # The minion said nothing: what it did, if anything, is unknown.
                "changes_summary": results.unknown_summary(name, previous.get("sequence")),
                "jid": jid or previous.get("jid"),
                "time": now,
            }
        # Newer than what is stored: the failed job's id is newer, or (no job id) the time is.
        return self._record(minion_id, outcome)

    def _record(self, minion_id, outcome):
        """Store ``{name: result}`` of one minion (monotonic by job id); return the applied events."""
        events = []
        for name, result in outcome.items():
            cluster, allowlist = subscriber_index.reference_of(name)
            kept = self.store.record_applies(cluster, allowlist, {minion_id: result})
            if kept:
                events.append(
                    (
                        f"nodeallow/applied/{cluster}/{allowlist}",
                        {
                            "sequence": result["sequence"],
                            "result": result["result"],
                            "minion": minion_id,
                            "minions": kept,
                        },
                    )
                )
        return events

    def record_return(self, jid, minion_id, ret):
        """Record minion ``minion_id``'s return ``ret`` of job ``jid``; start its follow-up apply if still behind.

        Returns that of any ``nodeallow.managed`` run (ours, a highstate, a ``salt-call``): all are
        real applies. Only a return of the job in flight (or a newer one) clears it and resets the
        backoff; an older job's return is recorded only where it is newer than what is stored.
        """
        need_full = results.need_full(ret)
        if need_full:
            return self._needs_full(jid, minion_id, need_full)
        if not results.is_delta(ret):
            # The answer to a delta job that is not the delta's return: Salt's error before our code ran
            # (an older extension on the minion: "'nodeallow.apply_delta' is not available").
            started = self._needs_full(jid, minion_id, f"could not run {DELTA_FUNCTION}: {ret}", unable=True)
            if started is not None:
                return started
        now = self.clock()
        with self.store.lock():
            minions = self.store.get_minions()
            state = minions.setdefault(minion_id, {})
            job = state.get("job")
            ours = bool(job) and job.get("jid") == jid
            expected = job.get("expected", {}) if ours else {}
            if ours:
                # The job in flight reached the minion: it listens, its start window is over.
                state.pop("reconnected", None)
            outcome = results.per_allowlist(ret, expected, jid=jid, now=now)
            subscribed = set(self.store.get_index().get(minion_id, []))
            outcome = {name: result for name, result in outcome.items() if name in subscribed or name in expected}
            events = self._record(minion_id, outcome)
            if job is None:
                current = True
            elif job.get("jid") is None:
                # A follow-up still being published: only a return recorded just now answers for it,
                # not the same return handled again (a peer master's engine, in a master cluster).
                current = bool(events)
            else:
                # The job in flight, or a newer run (a highstate started after it) answers for it.
                current = job["jid"] == jid or nodeallow_store.newer({"jid": jid}, job)
            if current and outcome:
                state["job"] = None
                # Only allowlists the master stores can fail here: one nobody published yet is held
                # on the minion by design and must not slow down the others' applies.
                stored = self.store.sequences()
                failed = {n: r for n, r in outcome.items() if n in stored and not r["result"]}
                if not failed:
                    state.update(failures=0, next_retry=0, last_error="")
                    if not results.is_delta(ret):
                        # A full apply read the rules and settings from pillar: deltas may follow.
                        state.pop("full", None)
                        state["settings"] = self.store.get_settings().get(minion_id)
                else:
                    if results.is_delta(ret):
                        state["full"] = "the last delta failed"
                    state["failures"] = state.get("failures", 0) + 1
                    state["next_retry"] = now + self.settings.retry_delay(state["failures"])
                    state["last_error"] = results.shorten(
                        "; ".join(f"{name}: {result['comment']}" for name, result in sorted(failed.items()))
                    )
            self.store.put_minions(minions)
        self._fire_all(events)
        if events:
            log.info(
                "nodeallow: %s applied %s (job %s)",
                minion_id,
                ", ".join(f"{name} {_applied_text(r)}" for name, r in sorted(outcome.items())),
                jid,
            )
        return self.run(only_minions={minion_id})

    def _needs_full(self, jid, minion_id, reason, unable=False):
        """The minion answered delta job ``jid`` that it has no usable base: start the full apply at once.

        Nothing changed on the minion, so its recorded applies stand and it is not backed off;
        ``full`` in its state makes :func:`decide` send the full apply until one returns. ``unable``:
        the minion could not run the delta function at all; it gets no delta until its next start
        (``no_delta``, cleared by :meth:`alive`: an upgraded minion restarts). Returns ``None`` when
        ``unable`` and ``jid`` is not this minion's delta job in flight (an ordinary state return).
        """
        with self.store.lock():
            minions = self.store.get_minions()
            state = minions.setdefault(minion_id, {})
            job = state.get("job")
            ours = bool(job) and job.get("jid") == jid
            if unable and not (ours and job.get("mode") == "delta"):
                return None
            if ours:
                state["job"] = None
                state.pop("reconnected", None)
                state["full"] = results.shorten(reason)
                if unable:
                    state["no_delta"] = state["full"]
                self.store.put_minions(minions)
        log.info("nodeallow: %s needs the full apply (job %s): %s", minion_id, jid, results.shorten(reason))
        return self.run(only_minions={minion_id}) if ours else {}

    def alive(self, minion_id, since=None):
        """``minion_id`` (re)connected at ``since`` (default now): a job published before may have missed it.

        Salt fires ``salt/minion/<id>/start`` and ``salt/auth`` when a minion (re)connects; a job
        published while it was away is lost (publishes are not queued), so waiting for its
        ``apply_timeout`` would only delay the catch-up. Only a job started before the event was
        fired is cleared: in a master cluster every master's engine handles the same event, and the
        catch-up one of them started meanwhile must stand.

        The event opens the minion's start window (``reconnected``, see :func:`job_deadlines`): it may
        fire before the minion listens for jobs again, so the catch-up is sent again after
        ``start_grace`` until a job sent to it returns.
        """
        now = self.clock()
        cutoff = now if since is None else min(since, now)
        with self.store.lock():
            minions = self.store.get_minions()
            state = minions.setdefault(minion_id, {})
            job = state.get("job")
            if job and job.get("started", now) < cutoff:
                state["job"] = None
            state["next_retry"] = 0
            state["reconnected"] = max(cutoff, state.get("reconnected") or 0)
            # Restarted, perhaps with a newer extension: it may run deltas now.
            state.pop("no_delta", None)
            self.store.put_minions(minions)
        return self.run(only_minions={minion_id})

    def next_deadline(self):
        """The earliest time a pass has something to do: a job to send again or running out, or a retry due."""
        now = self.clock()
        deadlines = []
        for state in self.store.get_minions().values():
            job = state.get("job")
            if job:
                resend_at, expire_at = job_deadlines(state, self.settings)
                # A resend time that passed found the minion no longer behind: only the expiry is left.
                due = resend_at if resend_at is not None and resend_at > now else expire_at
                deadlines.append(due + 0.1)
            elif state.get("next_retry", 0) > 0:
                deadlines.append(state["next_retry"])
        return min(deadlines) if deadlines else None

    def jobs_in_flight(self):
        """``{minion_id: job id}`` of every job in flight that has an id."""
        return {
            minion_id: state["job"]["jid"]
            for minion_id, state in self.store.get_minions().items()
            if state.get("job") and state["job"].get("jid")
        }

    def collect(self, lookup):
        """Record the returns of jobs in flight that the job cache holds (``lookup(jid) -> {minion: ret}``).

        Covers returns whose events nobody saw: the engine was restarted, or only
        ``salt-run nodeallow.reconcile`` runs. Returns how many were recorded.
        """
        found = 0
        for minion_id, jid in sorted(self.jobs_in_flight().items()):
            returns = lookup(jid) or {}
            if minion_id in returns:
                self.record_return(jid, minion_id, returns[minion_id])
                found += 1
        return found

    def forget_jobs(self, started_before):
        """Forget this master's jobs in flight started before ``started_before`` (their returns are lost).

        The engine does this at start after :meth:`collect`: a master that was killed lost the
        returns of the jobs it had started, and waiting out ``apply_timeout`` would only delay the
        re-apply, which is harmless (the state is idempotent). Jobs another master of a cluster
        started are left alone: that master still sees their returns.
        """
        with self.store.lock():
            minions = self.store.get_minions()
            forgotten = [
                minion_id
                for minion_id, state in minions.items()
                if state.get("job")
                and state["job"].get("started", 0) < started_before
                and state["job"].get("master") in (None, self.master_id)
            ]
            for minion_id in forgotten:
                minions[minion_id]["job"] = None
                minions[minion_id]["next_retry"] = 0
            if forgotten:
                self.store.put_minions(minions)
        return forgotten

    def forget_minions(self, minion_ids):
        """Drop the loop's state of minions that left the index (unsubscribed or key deleted)."""
        with self.store.lock():
            minions = self.store.get_minions()
            gone = [minion_id for minion_id in minion_ids if minions.pop(minion_id, None) is not None]
            if gone:
                self.store.put_minions(minions)
        return gone

    def _fire_all(self, events):
        """Fire the collected ``(tag, data)`` events (outside the lock: the bus may be slow)."""
        for tag, data in events:
            try:
                self.fire(tag, data)
            except Exception as exc:  # pylint: disable=broad-except  # an event lost must not undo a recorded result
                log.warning("nodeallow: could not fire %s: %s", tag, exc)
