# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""One hook event's checks up to the store, in docs/protocol.md's order (tag, keys, whole, signature, body)."""

from saltext.nodeallow.protocol.decode import decode
from saltext.nodeallow.protocol.limits import check_whole
from saltext.nodeallow.protocol.refusal import UNKNOWN_CLUSTER, Refusal
from saltext.nodeallow.protocol.signature import signing_keys, verify_signature_any
from saltext.nodeallow.protocol.wire import DEFAULT_HOOK_PATH, SIGNATURE_HEADER, check_tag, header_value, parse_tag


def receive_body(tag, body, headers, clusters, hook_path=DEFAULT_HOOK_PATH):
    """Run a receiver's checks of one hook event up to the store, in docs/protocol.md's order.

    ``tag``, ``body`` and ``headers`` are the hook event's; ``clusters`` is the master's
    ``nodeallow:clusters`` mapping (each entry with ``signing_key`` and/or ``signing_keys``).
    Checks the tag (bad-tag), the cluster's keys (unknown-cluster), that the body is whole
    (too-large, :func:`check_whole`), the signature under any of the keys (missing-signature,
    bad-signature), the body (:func:`decode`) and that it names the tag's allowlist
    (tag-mismatch). Returns ``(cluster, allowlist, decoded, key_index)``, ``key_index`` the
    position of the key that verified (0: the newest; it shows how far a rotation got); raises
    only :class:`Refusal`.
    The caller then orders, assembles and, on the complete list, calls :func:`check_width`.
    """
    cluster, allowlist = parse_tag(tag, hook_path)
    entry = clusters.get(cluster) if isinstance(clusters, dict) else None
    try:
        keys = signing_keys(entry)
    except ValueError as exc:
        raise Refusal(UNKNOWN_CLUSTER, f"nodeallow:clusters:{cluster} is misconfigured: {exc}") from exc
    if not keys:
        raise Refusal(
            UNKNOWN_CLUSTER,
            f"no nodeallow:clusters:{cluster}:signing_key (or signing_keys) in the master configuration",
        )
    check_whole(body, headers)
    key_index = verify_signature_any(keys, body, header_value(headers, SIGNATURE_HEADER))
    decoded = decode(body)
    check_tag(decoded, cluster, allowlist)
    return cluster, allowlist, decoded, key_index
