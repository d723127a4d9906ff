# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The chunks of one sequence joined into the snapshot's canonical list, checked whole."""

from saltext.nodeallow.protocol.canonical import check_canonical, digest
from saltext.nodeallow.protocol.limits import MAX_ADDRESSES
from saltext.nodeallow.protocol.refusal import DIGEST_MISMATCH, SEQUENCE_CONFLICT, TOO_MANY_ADDRESSES, Refusal


def assemble(chunks):
    """Join the decoded chunks (dicts from :func:`decode`, so each canonical) of one sequence, all present, any order.

    Returns the complete canonical address list (strings). Raises :class:`Refusal`
    (sequence-conflict, too-many-addresses, bad-address, not-canonical,
    digest-mismatch); the caller makes sure every index 0 … total-1 is present.
    """
    first = chunks[0]
    by_index = {}
    for chunk in chunks:
        for name in ("kind", "cluster", "allowlist", "sequence", "digest", "generatedAt"):
            if chunk[name] != first[name]:
                raise Refusal(SEQUENCE_CONFLICT, f"chunks of sequence {first['sequence']} disagree on {name}")
        if chunk["chunk"]["total"] != first["chunk"]["total"]:
            raise Refusal(SEQUENCE_CONFLICT, f"chunks of sequence {first['sequence']} disagree on chunk.total")
        index = chunk["chunk"]["index"]
        if index in by_index and by_index[index]["addresses"] != chunk["addresses"]:
            raise Refusal(
                SEQUENCE_CONFLICT,
                f"chunk {index} of sequence {first['sequence']} arrived twice with different addresses",
            )
        by_index[index] = chunk
    total = first["chunk"]["total"]
    missing = [i for i in range(total) if i not in by_index]
    if missing:
        raise ValueError(f"chunks {missing[:10]} of {total} are missing; assemble only complete sets")
    count = sum(len(by_index[i]["addresses"]) for i in range(total))
    if count > MAX_ADDRESSES:
        raise Refusal(TOO_MANY_ADDRESSES, f"the snapshot holds {count} addresses, more than {MAX_ADDRESSES}")
    entries = []
    for i in range(total):
        if entries:
            # Each chunk was checked canonical when it was decoded, so the joined list is canonical when
            # every boundary is: CIDR prefixes either nest or are disjoint, so in a list sorted by start
            # any overlap shows between neighbours. One pair per chunk instead of the whole list again.
            check_canonical([entries[-1], by_index[i]["addresses"][0]], offset=len(entries) - 1)
        entries.extend(by_index[i]["addresses"])
    got = digest(entries)
    if got != first["digest"]:
        raise Refusal(DIGEST_MISMATCH, f"the assembled addresses hash to {got}, the chunks say {first['digest']}")
    return entries
