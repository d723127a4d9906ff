# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Ingest one hook body: verify → decode → order and assemble → check width → store, firing what happened.

A plain module behind the master engine ``nodeallow``, which ingests the hook events it reads off the
bus in batches, and runner ``nodeallow.ingest`` (a batch of one, for a master without the engine).
It never starts an apply itself (its caller hands the outcome to the reconcile loop) and never waits
for a minion.
"""

import logging
import time

from saltext.nodeallow import deltas
from saltext.nodeallow.protocol import canonical
from saltext.nodeallow.protocol.assembly import assemble
from saltext.nodeallow.protocol.limits import check_width
from saltext.nodeallow.protocol.receive import receive_body
from saltext.nodeallow.protocol.refusal import SEQUENCE_CONFLICT, Refusal
from saltext.nodeallow.protocol.wire import KIND_RETIREMENT, parse_tag

log = logging.getLogger(__name__)

# Outcomes of an ingest (the ``result`` of its summary, docs/salt.md).
STORED = "stored"
RETIRED = "retired"
CHUNK = "chunk"
REPLAY = "replay"
OLDER = "older"
# A newer sequence of the same allowlist arrived in the same batch and was stored instead.
SUPERSEDED = "superseded"
REJECTED = "rejected"


class Ingest:
    """Checks and stores bodies into ``store`` (store.Store) with ``settings`` (settings.Settings).

    ``fire(tag, data)`` puts an event on the master bus.
    """

    def __init__(self, store, settings, fire, clock=time.time):
        """Bundle the store, settings and the event sink."""
        self.store = store
        self.settings = settings
        self.fire = fire
        self.clock = clock

    def __call__(self, tag, body, headers):
        """Verify, validate, order and store one body; return its summary (``result`` is one of the outcomes)."""
        return self.batch([(tag, body, headers)])[0]

    def batch(self, bodies):
        """Ingest ``[(tag, body, headers), ...]`` at once; return their summaries in the same order.

        Each body is verified on its own (a refusal touches nothing else); the verified ones are
        stored under one store lock, each allowlist's newest first, so a sequence that a newer one of
        the same batch supersedes is never stored (outcome ``superseded``): a burst costs one store
        per allowlist, not one per body. The final state is the one the bodies would leave one by
        one; events are fired after the lock.
        """
        summaries = [None] * len(bodies)
        verified = {}
        for position, (tag, body, headers) in enumerate(bodies):
            outcome = self._verify(tag, body, headers)
            if isinstance(outcome, dict):
                summaries[position] = outcome
            else:
                verified.setdefault(outcome[:2], []).append((position, outcome))
        if not verified:
            return summaries
        events = []
        with self.store.lock():
            for dropped in self.store.expire_chunks(self.settings.chunk_timeout):
                log.warning(
                    "nodeallow: dropped the incomplete chunks of %s/%s sequence %d after %gs",
                    *dropped,
                    self.settings.chunk_timeout,
                )
            for (cluster, allowlist), items in sorted(verified.items()):
                stored = self.store.get(cluster, allowlist)
                before = stored["sequence"] if stored else None
                # Newest first (arrival order among equals): older ones of the batch are then superseded.
                items.sort(key=lambda item: -item[1][2]["sequence"])
                for position, (_, _, decoded, key_index) in items:
                    try:
                        outcome, stored = self._store(cluster, allowlist, decoded, key_index, stored, before, events)
                    except Refusal as refusal:
                        summaries[position] = self._refusal(cluster, allowlist, refusal, decoded["sequence"], events)
                        continue
                    summaries[position] = {
                        "cluster": cluster,
                        "allowlist": allowlist,
                        "sequence": decoded["sequence"],
                        **outcome,
                    }
        self._fire_all(events)
        for summary in summaries:
            if summary["result"] not in (STORED, RETIRED, REJECTED):
                log.info(
                    "nodeallow: %s/%s sequence %d: %s",
                    summary["cluster"],
                    summary["allowlist"],
                    summary["sequence"],
                    summary["result"],
                )
        return summaries

    def _verify(self, tag, body, headers):
        """``(cluster, allowlist, decoded, key_index)`` of a body that passed every check, else its refusal summary."""
        try:
            cluster, allowlist = parse_tag(tag, self.settings.hook_path)
        except Refusal as refusal:
            return self._refuse("unknown", "unknown", refusal)
        sequence = None
        try:
            # Keys, a body the bus trimmed (too-large, before the signature), signature, body, tag.
            _, _, decoded, key_index = receive_body(
                tag, body, headers, self.settings.clusters, self.settings.hook_path
            )
        except Refusal as refusal:
            return self._refuse(cluster, allowlist, refusal, sequence)
        return cluster, allowlist, decoded, key_index

    def _refuse(self, cluster, allowlist, refusal, sequence=None):
        """Fire ``nodeallow/rejected/...`` for a refusal, log it, and return the summary."""
        events = []
        summary = self._refusal(cluster, allowlist, refusal, sequence, events)
        self._fire_all(events)
        return summary

    @staticmethod
    def _refusal(cluster, allowlist, refusal, sequence, events):
        """The summary of a refusal; its ``rejected`` event is added to ``events``, and it is logged."""
        data = {"reason": refusal.reason, "detail": refusal.detail}
        if sequence is not None:
            data["sequence"] = sequence
        events.append((f"nodeallow/rejected/{cluster}/{allowlist}", data))
        log.warning("nodeallow: refused a body for %s/%s: %s: %s", cluster, allowlist, refusal.reason, refusal.detail)
        return {
            "result": REJECTED,
            "cluster": cluster,
            "allowlist": allowlist,
            "sequence": sequence,
            "reason": refusal.reason,
            "detail": refusal.detail,
        }

    def _fire_all(self, events):
        """Fire the collected ``(tag, data)`` events."""
        for tag, data in events:
            self.fire(tag, data)

    def _store(self, cluster, allowlist, decoded, key_index, stored, before, events):
        """Order, assemble and store one verified body; the caller holds the store lock.

        ``stored`` is the allowlist's record now, ``before`` its sequence when the batch began.
        Returns the outcome part of the summary and the record stored afterwards; the events to
        fire are added to ``events``.
        """
        unchanged = self._ordering(decoded, stored)
        if unchanged is not None:
            if unchanged == OLDER and (before is None or decoded["sequence"] > before):
                # Newer than what was stored, but a newer body of the same batch was stored instead.
                unchanged = SUPERSEDED
            events.append(
                (
                    f"nodeallow/unchanged/{cluster}/{allowlist}",
                    {"outcome": unchanged, "sequence": decoded["sequence"], "stored_sequence": stored["sequence"]},
                )
            )
            return {"result": unchanged, "stored_sequence": stored["sequence"]}, stored
        addresses = self._assembled(cluster, allowlist, decoded, events)
        if isinstance(addresses, dict):
            return addresses, stored
        if decoded["kind"] != KIND_RETIREMENT:
            try:
                # Every entry was checked canonical when its body was decoded (and the chunks' boundaries
                # when they were joined): the width checks need not parse the whole list again.
                check_width(
                    canonical.checked(addresses),
                    self.settings.min_prefix,
                    self.settings.max_span,
                    self.settings.refuse_special,
                )
            except Refusal:
                # A set that can never be stored is dropped, so a corrected resend starts clean.
                self.store.drop_chunks(cluster, allowlist, {decoded["sequence"]})
                raise
        record = self._record(cluster, allowlist, decoded, addresses, key_index)
        self.store.put(record)
        # What changed since the stored sequence, kept once for every subscriber's delta (deltas.py).
        deltas.record(self.store, stored, record)
        # Chunks of this and older sequences can never be stored any more.
        obsolete = {seq for seq in self.store.chunk_keys(cluster, allowlist) if seq <= record["sequence"]}
        if obsolete:
            self.store.drop_chunks(cluster, allowlist, obsolete)
        return self._announce(record, stored["sequence"] if stored else None, events), record

    @staticmethod
    def _ordering(decoded, stored):
        """``None`` when ``decoded`` is newer than ``stored``, else ``replay`` or ``older``; refuse a conflict."""
        if stored is None or decoded["sequence"] > stored["sequence"]:
            return None
        if decoded["sequence"] < stored["sequence"]:
            return OLDER
        if decoded["digest"] != stored["digest"]:
            raise Refusal(
                SEQUENCE_CONFLICT,
                f"sequence {decoded['sequence']} is stored with digest {stored['digest']}, "
                f"this body says {decoded['digest']}",
            )
        return REPLAY

    def _assembled(self, cluster, allowlist, decoded, events):
        """The whole address list of ``decoded``, or the ``chunk`` outcome while chunks are missing."""
        sequence = decoded["sequence"]
        total = decoded["chunk"]["total"]
        if total == 1:
            return list(decoded["addresses"])
        self.store.put_chunk(cluster, allowlist, decoded)
        # Counted from the cache's keys: the chunks themselves are read once, when the set is complete.
        received = len(self.store.chunk_keys(cluster, allowlist).get(sequence, ()))
        chunks = {}
        if received >= total:
            chunks = self.store.chunks(cluster, allowlist, sequence).get(sequence, {})
            received = len(chunks)  # a chunk listed but flushed before it was read is missing too
        if received < total:
            events.append(
                (
                    f"nodeallow/chunk/{cluster}/{allowlist}",
                    {"sequence": sequence, "index": decoded["chunk"]["index"], "received": received, "total": total},
                )
            )
            return {"result": CHUNK, "received": received, "total": total}
        try:
            return assemble(list(chunks.values()))
        except Refusal:
            # A set that can never assemble is dropped, so a corrected resend starts clean.
            self.store.drop_chunks(cluster, allowlist, {sequence})
            raise

    def _record(self, cluster, allowlist, decoded, addresses, key_index):
        """The store record of a complete snapshot or retirement (``key_index``: which key verified it)."""
        retired = decoded["kind"] == KIND_RETIREMENT
        return {
            "cluster": cluster,
            "allowlist": allowlist,
            "sequence": decoded["sequence"],
            "digest": decoded["digest"],
            "generated_at": decoded["generatedAt"],
            "stored_at": self.clock(),
            "addresses": [] if retired else addresses,
            "retired": retired,
            # 0 is the newest of the cluster's keys: during a rotation this says whether the
            # controller signs with the new one yet (docs/security.md).
            "signed_with_key": key_index,
        }

    def _announce(self, record, previous, events):
        """Add ``stored`` or ``retired`` for a record just stored to ``events``, log it, and return the outcome."""
        cluster, allowlist, sequence = record["cluster"], record["allowlist"], record["sequence"]
        if record["retired"]:
            data = {"sequence": sequence, "previous_sequence": previous}
            events.append((f"nodeallow/retired/{cluster}/{allowlist}", data))
            log.info("nodeallow: retired %s/%s at sequence %d", cluster, allowlist, sequence)
            return {"result": RETIRED, "previous_sequence": previous}
        count = len(record["addresses"])
        events.append(
            (
                f"nodeallow/stored/{cluster}/{allowlist}",
                {
                    "sequence": sequence,
                    "digest": record["digest"],
                    "generated_at": record["generated_at"],
                    "addresses": count,
                    "previous_sequence": previous,
                    "signed_with_key": record["signed_with_key"],
                },
            )
        )
        digest = record["digest"]
        log.info("nodeallow: stored %s/%s sequence %d (%d addresses, %s)", cluster, allowlist, sequence, count, digest)
        return {"result": STORED, "addresses": count, "previous_sequence": previous}


def engine_ingests(opts):
    """Whether master options ``opts`` run the engine ``nodeallow``, which then ingests the hook events itself.

    The shipped reactor hands a hook to runner ``nodeallow.ingest`` only where it does not (docs/salt.md).
    """
    for entry in opts.get("engines") or []:
        name, options = next(iter(entry.items())) if isinstance(entry, dict) and entry else (entry, None)
        module = options.get("engine_module", name) if isinstance(options, dict) else name
        if module == "nodeallow":
            return True
    return False
