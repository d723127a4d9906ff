# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The master's nodeallow store: allowlist snapshots, chunks in progress and apply results in salt.cache.

A plain module shared by the runner and the ext_pillar. Salt's cache (``localfs``
by default, below the master's cachedir) survives master restarts. Banks:

- ``nodeallow/allowlists``, key ``<cluster>.<allowlist>``: the latest snapshot or a
  retirement tombstone.
- ``nodeallow/applies``, key ``<cluster>.<allowlist>``: the newest apply result per minion (by job id).
- ``nodeallow/index``, key ``subscribers``: the subscriber index, ``{minion_id: ["<cluster>/<allowlist>", ...]}``
  of the minions whose pillar subscribes to anything (kept by the ext_pillar, see index.py); key ``settings``:
  ``{minion_id: fingerprint}`` of each subscriber's nodeallow settings and rules (index.fingerprint).
- ``nodeallow/reconcile``, key ``minions``: the reconcile loop's per-minion state (the job in flight,
  failures in a row, the next retry; see reconcile.py); key ``sequences``: ``{"<cluster>/<allowlist>":
  sequence}`` of every stored record, so a reconcile pass need not load every address list.
- ``nodeallow/repairs``, key ``minions``: ``{minion_id: [repair, ...]}``, the last firewall repairs each
  minion's watcher reported (event ``nodeallow/minion/repaired``), oldest first.
- ``nodeallow/chunks/<cluster>.<allowlist>``, key ``<sequence>.<index>``: chunks
  of a split snapshot until all have arrived (one file per chunk, so concurrent
  reactor threads never overwrite each other's chunks).
"""

import contextlib
import fcntl
import os
import re
import threading
import time

import salt.cache

ALLOWLISTS_BANK = "nodeallow/allowlists"
APPLIES_BANK = "nodeallow/applies"
INDEX_BANK = "nodeallow/index"
INDEX_KEY = "subscribers"
SETTINGS_KEY = "settings"
RECONCILE_BANK = "nodeallow/reconcile"
RECONCILE_KEY = "minions"
SEQUENCES_KEY = "sequences"
CHUNKS_BANK = "nodeallow/chunks"
REPAIRS_BANK = "nodeallow/repairs"
REPAIRS_KEY = "minions"
# Repairs kept per minion.
REPAIRS_KEPT = 10
# The fields of a reported repair that are kept (the rest of the minion's event is dropped).
_REPAIR_FIELDS = {"time": str, "trigger": str, "backend": str, "summary": list, "seconds": (int, float)}

# Cluster and allowlist are DNS labels, so '.' separates them unambiguously.
_KEY_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\.[a-z0-9]([-a-z0-9]*[a-z0-9])?")
# Held around the file lock: POSIX record locks belong to the process, so threads need their own.
_THREAD_LOCK = threading.Lock()
_CHUNK_KEY_RE = re.compile(r"(?P<sequence>[0-9]+)\.(?P<index>[0-9]+)")


def record_key(cluster, allowlist):
    """The cache key of one allowlist: ``<cluster>.<allowlist>``."""
    return f"{cluster}.{allowlist}"


def newer(result, previous):
    """Whether apply ``result`` comes from a newer job than ``previous`` (``None`` counts as oldest).

    Salt's job ids are the job's start time as digits (``20261201223827123456``), so comparing
    them as numbers orders jobs by when the master started them.
    """
    if previous is None:
        return True
    jid, previous_jid = _jid_number(result.get("jid")), _jid_number(previous.get("jid"))
    if jid and jid == previous_jid:
        # The same job again: another master's engine recording the same return (a master
        # cluster forwards every return to every peer) or a return read twice. Only a different
        # outcome replaces it, e.g. the real return after its timeout was recorded.
        return _outcome(result) != _outcome(previous)
    return (jid, result.get("time") or 0) > (previous_jid, previous.get("time") or 0)


def _outcome(result):
    """What an apply result says, without when it was recorded."""
    return (result.get("sequence"), result.get("result"), result.get("comment"))


def _jid_number(jid):
    """A job id as a number (0 for a missing or foreign one)."""
    return int(jid) if isinstance(jid, str) and jid.isdigit() else 0


def split_key(key):
    """``(cluster, allowlist)`` of a cache key, or ``None`` for anything that is not one (temp files)."""
    if not isinstance(key, str) or _KEY_RE.fullmatch(key) is None:
        return None
    cluster, allowlist = key.split(".")
    return cluster, allowlist


class Store:
    """Access to the nodeallow banks of the master cache described by ``opts`` (the master's options)."""

    def __init__(self, opts):
        """Open Salt's configured cache driver with the master's options."""
        self.opts = opts
        self.cache = salt.cache.factory(opts)

    @contextlib.contextmanager
    def lock(self):
        """Hold the nodeallow lock (a file in the cachedir) for a read-decide-write step.

        Reactor runners run in a thread pool, ``salt-run`` and the engine in other processes, and
        in a Salt master cluster other masters share the cachedir. A POSIX record lock
        (``lockf``) excludes other processes, also on other hosts where the shared filesystem
        supports it (NFS does, unless mounted ``nolock`` or ``local_lock=posix|all``; docs/salt.md);
        it does not exclude threads of one process, so a thread lock is held around it.
        """
        path = os.path.join(self.opts["cachedir"], "nodeallow.lock")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with _THREAD_LOCK, open(path, "a+b") as handle:
            fcntl.lockf(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.lockf(handle.fileno(), fcntl.LOCK_UN)

    # Allowlist records.

    def get(self, cluster, allowlist):
        """Return the stored record of one allowlist, or ``None``."""
        return self.cache.fetch(ALLOWLISTS_BANK, record_key(cluster, allowlist)) or None

    def put(self, record):
        """Store one allowlist record (see docs/salt.md for its members); the caller holds :meth:`lock`."""
        self.cache.store(ALLOWLISTS_BANK, record_key(record["cluster"], record["allowlist"]), record)
        sequences = self.sequences()
        sequences[f"{record['cluster']}/{record['allowlist']}"] = record["sequence"]
        self.cache.store(RECONCILE_BANK, SEQUENCES_KEY, sequences)

    def sequences(self):
        """Return ``{"<cluster>/<allowlist>": sequence}`` of every stored record.

        Rebuilt from the records when the summary is missing (a cache written by an older
        version, or flushed by hand) or names a record that was flushed.
        """
        sequences = self.cache.fetch(RECONCILE_BANK, SEQUENCES_KEY)
        listed = self.list()
        if isinstance(sequences, dict) and set(sequences) == {f"{c}/{a}" for c, a in listed}:
            return sequences
        rebuilt = {}
        for cluster, allowlist in listed:
            record = self.get(cluster, allowlist)
            if record is not None:
                rebuilt[f"{cluster}/{allowlist}"] = record["sequence"]
        return rebuilt

    def list(self):
        """Return ``[(cluster, allowlist), ...]`` of every stored record, sorted."""
        keys = self.cache.list(ALLOWLISTS_BANK) or []
        return sorted(parts for parts in (split_key(key) for key in keys) if parts)

    # Apply results.

    def get_applies(self, cluster, allowlist):
        """Return ``{minion_id: {sequence, result, comment, changes_summary, time}}`` of one allowlist."""
        return self.cache.fetch(APPLIES_BANK, record_key(cluster, allowlist)) or {}

    def record_applies(self, cluster, allowlist, results):
        """Merge per-minion apply ``results`` into the stored ones; the caller holds :meth:`lock`.

        Monotonic: a result replaces the stored one of its minion only when it comes from a newer
        job (``jid``, Salt's time-ordered job id), so applies that finish out of order never make
        a minion look older than it is. Returns the ``{minion_id: result}`` that were kept.
        """
        applies = self.get_applies(cluster, allowlist)
        kept = {}
        for minion_id, result in results.items():
            if newer(result, applies.get(minion_id)):
                applies[minion_id] = result
                kept[minion_id] = result
        if kept:
            self.cache.store(APPLIES_BANK, record_key(cluster, allowlist), applies)
        return kept

    def forget_applies(self, cluster, allowlist, minion_ids):
        """Drop the apply results of ``minion_ids`` (no longer subscribed); the caller holds :meth:`lock`."""
        applies = self.get_applies(cluster, allowlist)
        if any(applies.pop(minion_id, None) is not None for minion_id in list(minion_ids)):
            self.cache.store(APPLIES_BANK, record_key(cluster, allowlist), applies)

    # The subscriber index and the reconcile loop's state.

    def get_index(self):
        """Return the subscriber index ``{minion_id: ["<cluster>/<allowlist>", ...]}``."""
        return self.cache.fetch(INDEX_BANK, INDEX_KEY) or {}

    def put_index(self, index):
        """Store the whole subscriber index; the caller holds :meth:`lock`."""
        self.cache.store(INDEX_BANK, INDEX_KEY, index)

    def get_settings(self):
        """Return ``{minion_id: fingerprint}`` of the subscribers' nodeallow settings (index.fingerprint)."""
        return self.cache.fetch(INDEX_BANK, SETTINGS_KEY) or {}

    def put_settings(self, fingerprints):
        """Store the subscribers' settings fingerprints; the caller holds :meth:`lock`."""
        self.cache.store(INDEX_BANK, SETTINGS_KEY, fingerprints)

    def get_minions(self):
        """Return the reconcile loop's ``{minion_id: state}`` (see reconcile.py)."""
        return self.cache.fetch(RECONCILE_BANK, RECONCILE_KEY) or {}

    def put_minions(self, minions):
        """Store the reconcile loop's per-minion state; the caller holds :meth:`lock`."""
        self.cache.store(RECONCILE_BANK, RECONCILE_KEY, minions)

    # Firewall repairs reported by the minions' watchers.

    def get_repairs(self):
        """Return ``{minion_id: [repair, ...]}`` (oldest first) of the repairs the minions reported."""
        return self.cache.fetch(REPAIRS_BANK, REPAIRS_KEY) or {}

    def record_repairs(self, minion_id, repairs):
        """Add the repairs one minion reported (an event carries the last few again), each once."""
        with self.lock():
            everything = self.get_repairs()
            kept = list(everything.get(minion_id) or [])
            for repair in repairs:
                clean = {k: repair.get(k) for k, kind in _REPAIR_FIELDS.items() if isinstance(repair.get(k), kind)}
                clean["summary"] = [str(line)[:200] for line in clean.get("summary", [])[:20]]
                if isinstance(clean.get("time"), str) and clean not in kept:
                    kept.append(clean)
            everything[minion_id] = sorted(kept, key=lambda r: r["time"])[-REPAIRS_KEPT:]
            self.cache.store(REPAIRS_BANK, REPAIRS_KEY, everything)

    # Chunks in progress.

    def _chunk_bank(self, cluster, allowlist):
        """The bank holding the chunks in progress of one allowlist."""
        return f"{CHUNKS_BANK}/{record_key(cluster, allowlist)}"

    def put_chunk(self, cluster, allowlist, chunk):
        """Keep one decoded chunk (a dict from protocol.decode.decode)."""
        data = dict(chunk)
        data["received_at"] = time.time()
        key = f"{chunk['sequence']}.{chunk['chunk']['index']}"
        self.cache.store(self._chunk_bank(cluster, allowlist), key, data)

    def chunk_keys(self, cluster, allowlist):
        """Return ``{sequence: {index, ...}}`` of the chunks in progress of one allowlist, listed but not read."""
        result = {}
        for key in self.cache.list(self._chunk_bank(cluster, allowlist)) or []:
            match = _CHUNK_KEY_RE.fullmatch(key)
            if match:
                result.setdefault(int(match["sequence"]), set()).add(int(match["index"]))
        return result

    def chunks(self, cluster, allowlist, sequence=None):
        """Return ``{sequence: {index: chunk}}`` of the chunks in progress of one allowlist (or of one ``sequence``)."""
        bank = self._chunk_bank(cluster, allowlist)
        result = {}
        for each, indexes in self.chunk_keys(cluster, allowlist).items():
            if sequence is not None and each != sequence:
                continue
            for index in indexes:
                chunk = self.cache.fetch(bank, f"{each}.{index}")
                if chunk:
                    result.setdefault(each, {})[index] = chunk
        return result

    def drop_chunks(self, cluster, allowlist, sequences):
        """Forget the chunks of the given sequences of one allowlist."""
        bank = self._chunk_bank(cluster, allowlist)
        for key in self.cache.list(bank) or []:
            match = _CHUNK_KEY_RE.fullmatch(key)
            if match and int(match["sequence"]) in sequences:
                self.cache.flush(bank, key)

    def pending_chunks(self):
        """Return ``{(cluster, allowlist): {sequence: {index: chunk}}}`` of every chunk in progress."""
        result = {}
        for key in self.cache.list(CHUNKS_BANK) or []:
            parts = split_key(key)
            if parts:
                chunks = self.chunks(*parts)
                if chunks:
                    result[parts] = chunks
        return result

    def expire_chunks(self, timeout, now=None):
        """Drop every incomplete chunk set whose first chunk arrived over ``timeout`` seconds ago.

        Runs before every ingest, so it reads when each chunk was written (the cache's ``updated``,
        to the second), not the chunks themselves. Returns ``[(cluster, allowlist, sequence), ...]``
        of the dropped sets.
        """
        now = time.time() if now is None else now
        dropped = []
        for key in self.cache.list(CHUNKS_BANK) or []:
            parts = split_key(key)
            if not parts:
                continue
            bank = self._chunk_bank(*parts)
            stale = set()
            for sequence, indexes in self.chunk_keys(*parts).items():
                arrived = [self._arrived(bank, f"{sequence}.{index}") for index in indexes]
                if any(when is not None and now - when > timeout for when in arrived):
                    stale.add(sequence)
            if stale:
                self.drop_chunks(*parts, stale)
                dropped.extend((*parts, sequence) for sequence in sorted(stale))
        return dropped

    def _arrived(self, bank, key):
        """When chunk ``key`` was written (the driver's ``updated``, else its ``received_at``); ``None`` if gone."""
        try:
            when = self.cache.updated(bank, key)
        except Exception:  # pylint: disable=broad-except  # a driver without updated(): read the chunk instead
            when = None
        if isinstance(when, (int, float)) and not isinstance(when, bool):
            return when
        chunk = self.cache.fetch(bank, key)
        return chunk.get("received_at", 0) if isinstance(chunk, dict) else None
