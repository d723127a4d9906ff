"""Runner ``nodeallow``: ingest signed allowlist snapshots from salt-api hooks, and report their status.

``nodeallow.ingest`` is what the shipped reactor calls for every event on
``salt/netapi/hook/<hook_path>/*``; ``nodeallow.status`` is for operators. See
docs/salt.md for configuration, events and the return formats.
"""

import calendar
import logging
import time

import salt.client
import salt.utils.event

from saltext.nodeallow import protocol
from saltext.nodeallow import store as nodeallow_store
from saltext.nodeallow import subscriptions

log = logging.getLogger(__name__)

__virtualname__ = "nodeallow"

DEFAULT_CHUNK_TIMEOUT = 300
DEFAULT_APPLY_TIMEOUT = 120
# Apply comments and change summaries go into the master cache and events; keep them short.
_SUMMARY_LIMIT = 500


def __virtual__():
    """Always available on a master."""
    return __virtualname__


def _settings():
    """The ``nodeallow`` section of the master configuration, with defaults filled in."""
    settings = __opts__.get("nodeallow") or {}
    if not isinstance(settings, dict):
        settings = {}
    clusters = settings.get("clusters") or {}
    return {
        "clusters": clusters if isinstance(clusters, dict) else {},
        "hook_path": settings.get("hook_path") or protocol.DEFAULT_HOOK_PATH,
        "chunk_timeout": float(settings.get("chunk_timeout", DEFAULT_CHUNK_TIMEOUT)),
        "apply_timeout": int(settings.get("apply_timeout", DEFAULT_APPLY_TIMEOUT)),
    }


def _signing_key(settings, cluster):
    """The configured signing key of ``cluster`` as bytes, or ``None`` when there is none."""
    entry = settings["clusters"].get(cluster)
    key = entry.get("signing_key") if isinstance(entry, dict) else None
    if key is None or key == "":
        return None
    return key if isinstance(key, bytes) else str(key).encode("utf-8")


def _fire(tag, data):
    """Fire ``data`` on the master event bus under ``tag``."""
    with salt.utils.event.get_master_event(__opts__, __opts__["sock_dir"], listen=False) as event:
        event.fire_event(data, tag)


def _refuse(cluster, allowlist, refusal, sequence=None):
    """Fire ``nodeallow/rejected/...`` for a refusal, log it, and return the ingest summary."""
    data = {"reason": refusal.reason, "detail": refusal.detail}
    if sequence is not None:
        data["sequence"] = sequence
    _fire(f"nodeallow/rejected/{cluster}/{allowlist}", data)
    log.warning(
        "nodeallow: refused a body for %s/%s: %s: %s", cluster, allowlist, refusal.reason, refusal.detail
    )
    __context__["retcode"] = 1
    return {
        "result": "rejected",
        "cluster": cluster,
        "allowlist": allowlist,
        "sequence": sequence,
        "reason": refusal.reason,
        "detail": refusal.detail,
    }


def ingest(tag, body, headers=None, **kwargs):  # pylint: disable=unused-argument
    """Verify, validate and store one body POSTed to salt-api's ``/hook/<hook_path>/<cluster>/<allowlist>``.

    ``tag`` is the hook event's tag, ``body`` its raw ``body`` text and ``headers``
    its ``headers`` (the shipped reactor passes exactly these). Returns a summary
    dict whose ``result`` is one of ``stored``, ``retired``, ``chunk``, ``replay``,
    ``older`` or ``rejected`` (with ``reason`` and ``detail``).

    CLI Example (the reactor is the normal caller):

    .. code-block:: bash

        salt-run nodeallow.ingest tag=salt/netapi/hook/nodeallow/prod/workers body="$(cat body.json)" \\
            headers='{"X-Hub-Signature-256": "sha256=..."}'
    """
    settings = _settings()
    try:
        cluster, allowlist = protocol.parse_tag(tag, settings["hook_path"])
    except protocol.Refusal as refusal:
        return _refuse("unknown", "unknown", refusal)
    sequence = None
    try:
        key = _signing_key(settings, cluster)
        if key is None:
            raise protocol.Refusal(
                protocol.UNKNOWN_CLUSTER,
                f"no nodeallow:clusters:{cluster}:signing_key in the master configuration",
            )
        protocol.verify_signature(key, body, protocol.header_value(headers, protocol.SIGNATURE_HEADER))
        decoded = protocol.decode(body)
        sequence = decoded["sequence"]
        protocol.check_tag(decoded, cluster, allowlist)
        outcome = _store(settings, cluster, allowlist, decoded)
    except protocol.Refusal as refusal:
        return _refuse(cluster, allowlist, refusal, sequence)
    summary = {"cluster": cluster, "allowlist": allowlist, "sequence": sequence, **outcome}
    if summary["result"] in ("stored", "retired"):
        summary["applied"] = _apply(settings, cluster, allowlist, sequence)
    else:
        log.info(
            "nodeallow: %s/%s sequence %d: %s", cluster, allowlist, sequence, summary["result"]
        )
    return summary


def _store(settings, cluster, allowlist, decoded):
    """Order, assemble and store a verified body under the store lock; return the outcome part of the summary."""
    store = nodeallow_store.Store(__opts__)
    sequence = decoded["sequence"]
    with store.lock():
        for dropped in store.expire_chunks(settings["chunk_timeout"]):
            log.warning(
                "nodeallow: dropped the incomplete chunks of %s/%s sequence %d after %ds",
                *dropped,
                settings["chunk_timeout"],
            )
        stored = store.get(cluster, allowlist)
        if stored is not None:
            if sequence < stored["sequence"]:
                return _unchanged(cluster, allowlist, "older", sequence, stored)
            if sequence == stored["sequence"]:
                if decoded["digest"] != stored["digest"]:
                    raise protocol.Refusal(
                        protocol.SEQUENCE_CONFLICT,
                        f"sequence {sequence} is stored with digest {stored['digest']}, "
                        f"this body says {decoded['digest']}",
                    )
                return _unchanged(cluster, allowlist, "replay", sequence, stored)
        total = decoded["chunk"]["total"]
        if total == 1:
            addresses = list(decoded["addresses"])
        else:
            store.put_chunk(cluster, allowlist, decoded)
            chunks = store.chunks(cluster, allowlist).get(sequence, {})
            if len(chunks) < total:
                _fire(
                    f"nodeallow/chunk/{cluster}/{allowlist}",
                    {"sequence": sequence, "index": decoded["chunk"]["index"], "received": len(chunks), "total": total},
                )
                return {"result": "chunk", "received": len(chunks), "total": total}
            try:
                addresses = protocol.assemble(list(chunks.values()))
            except protocol.Refusal:
                # A set that can never assemble is dropped, so a corrected resend starts clean.
                store.drop_chunks(cluster, allowlist, {sequence})
                raise
        retired = decoded["kind"] == protocol.KIND_RETIREMENT
        now = time.time()
        record = {
            "cluster": cluster,
            "allowlist": allowlist,
            "sequence": sequence,
            "digest": decoded["digest"],
            "generated_at": decoded["generatedAt"],
            "stored_at": now,
            "addresses": [] if retired else addresses,
            "retired": retired,
        }
        store.put(record)
        # Chunks of this and older sequences can never be stored any more.
        obsolete = {seq for seq in store.chunks(cluster, allowlist) if seq <= sequence}
        if obsolete:
            store.drop_chunks(cluster, allowlist, obsolete)
    previous = stored["sequence"] if stored else None
    if retired:
        _fire(
            f"nodeallow/retired/{cluster}/{allowlist}",
            {"sequence": sequence, "previous_sequence": previous},
        )
        log.info("nodeallow: retired %s/%s at sequence %d", cluster, allowlist, sequence)
        return {"result": "retired", "previous_sequence": previous}
    _fire(
        f"nodeallow/stored/{cluster}/{allowlist}",
        {
            "sequence": sequence,
            "digest": decoded["digest"],
            "generated_at": decoded["generatedAt"],
            "addresses": len(addresses),
            "previous_sequence": previous,
        },
    )
    log.info(
        "nodeallow: stored %s/%s sequence %d (%d addresses, %s)",
        cluster,
        allowlist,
        sequence,
        len(addresses),
        decoded["digest"],
    )
    return {"result": "stored", "addresses": len(addresses), "previous_sequence": previous}


def _unchanged(cluster, allowlist, outcome, sequence, stored):
    """Fire ``nodeallow/unchanged/...`` for a replay or an older sequence; return the outcome."""
    _fire(
        f"nodeallow/unchanged/{cluster}/{allowlist}",
        {"outcome": outcome, "sequence": sequence, "stored_sequence": stored["sequence"]},
    )
    return {"result": outcome, "stored_sequence": stored["sequence"]}


def _apply(settings, cluster, allowlist, sequence):
    """Apply ``nodeallow.managed`` to exactly the subscribers of one allowlist; record and announce results.

    Returns ``{minion_id: True|False}``.
    """
    results = {}
    try:
        minions = subscriptions.subscribers(__opts__).get((cluster, allowlist), [])
        returns = _run_state(settings, minions) if minions else {}
    except Exception as exc:  # pylint: disable=broad-except
        # The snapshot is stored; minions still converge on their next state run.
        log.error("nodeallow: applying %s/%s sequence %d failed: %s", cluster, allowlist, sequence, exc)
        _fire(
            f"nodeallow/applied/{cluster}/{allowlist}",
            {"sequence": sequence, "minions": {}, "result": False, "error": _shorten(str(exc))},
        )
        return {}
    if minions:
        now = time.time()
        for minion_id in minions:
            if minion_id in returns:
                result, comment, changes = summarize_state_return(returns[minion_id])
            else:
                result, comment, changes = (
                    False,
                    f"no answer within {settings['apply_timeout']}s (minion down or busy); "
                    "it converges on its next state run",
                    "",
                )
            results[minion_id] = {
                "sequence": sequence,
                "result": result,
                "comment": comment,
                "changes_summary": changes,
                "time": now,
            }
        nodeallow_store.Store(__opts__).record_applies(cluster, allowlist, results)
    _fire(
        f"nodeallow/applied/{cluster}/{allowlist}",
        {"sequence": sequence, "minions": results, "result": all(r["result"] for r in results.values())},
    )
    log.info(
        "nodeallow: applied %s/%s sequence %d to %d minions (%d failed)",
        cluster,
        allowlist,
        sequence,
        len(results),
        sum(1 for r in results.values() if not r["result"]),
    )
    return {minion_id: entry["result"] for minion_id, entry in results.items()}


def _run_state(settings, minions):
    """Run ``state.single nodeallow.managed`` on exactly ``minions``; return ``{minion_id: return}``."""
    with salt.client.get_local_client(__opts__["conf_file"]) as client:
        return client.cmd(
            minions,
            "state.single",
            ["nodeallow.managed"],
            tgt_type="list",
            timeout=settings["apply_timeout"],
            kwarg={"name": "nodeallow", "queue": True},
        )


def summarize_state_return(ret):
    """Reduce one minion's ``state.single`` return to ``(result, comment, changes_summary)``."""
    if isinstance(ret, dict) and ret and all(isinstance(value, dict) for value in ret.values()):
        result = all(value.get("result") is True for value in ret.values())
        comment = "; ".join(str(value.get("comment", "")) for value in ret.values())
        changes = [value.get("changes") for value in ret.values() if value.get("changes")]
        return result, _shorten(comment), _shorten(str(changes[0] if len(changes) == 1 else changes) if changes else "")
    # A list of render errors, a "queued" message or an exception string.
    if isinstance(ret, list):
        return False, _shorten("; ".join(str(item) for item in ret)), ""
    return False, _shorten(str(ret)), ""


def _shorten(text):
    """``text`` cut to a size fit for the cache and events."""
    return text if len(text) <= _SUMMARY_LIMIT else text[: _SUMMARY_LIMIT - 3] + "..."


def status(subscribers=True):
    """Show every allowlist the master knows: sequence, digest, addresses, age, subscribers, apply results.

    ``subscribers=False`` skips compiling every minion's pillar (faster on big masters).

    CLI Example:

    .. code-block:: bash

        salt-run nodeallow.status
        salt-run nodeallow.status --out=json
    """
    store = nodeallow_store.Store(__opts__)
    subscribed = subscriptions.subscribers(__opts__) if subscribers else {}
    now = time.time()
    pending = store.pending_chunks()
    references = set(store.list()) | set(subscribed) | set(pending)
    result = {}
    for cluster, allowlist in sorted(references):
        record = store.get(cluster, allowlist)
        entry = {"cluster": cluster, "allowlist": allowlist}
        if record is None:
            entry["stored"] = False
        else:
            entry.update(
                {
                    "stored": True,
                    "sequence": record["sequence"],
                    "digest": record["digest"],
                    "addresses": len(record.get("addresses") or []),
                    "retired": bool(record.get("retired")),
                    "generated_at": record.get("generated_at"),
                    "age_seconds": _age(record.get("generated_at"), now),
                    "stored_seconds_ago": int(now - record["stored_at"]) if record.get("stored_at") else None,
                }
            )
        if subscribers:
            entry["subscribers"] = subscribed.get((cluster, allowlist), [])
        entry["last_apply"] = {
            minion_id: {
                "sequence": apply["sequence"],
                "result": apply["result"],
                "comment": apply.get("comment", ""),
                "seconds_ago": int(now - apply["time"]) if apply.get("time") else None,
            }
            for minion_id, apply in sorted(store.get_applies(cluster, allowlist).items())
        }
        chunks = pending.get((cluster, allowlist))
        if chunks:
            entry["pending_chunks"] = {
                str(sequence): f"{len(parts)}/{next(iter(parts.values()))['chunk']['total']}"
                for sequence, parts in sorted(chunks.items())
            }
        result[f"{cluster}/{allowlist}"] = entry
    return result


def _age(generated_at, now):
    """Seconds from the ``generatedAt`` time to ``now``, or ``None`` when it cannot be read."""
    try:
        generated = calendar.timegm(time.strptime(generated_at, "%Y-%m-%dT%H:%M:%SZ"))
    except (TypeError, ValueError):
        return None
    return int(now - generated)
