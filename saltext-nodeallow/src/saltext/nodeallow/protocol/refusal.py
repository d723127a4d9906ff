# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The refusal reasons of docs/protocol.md and the :class:`Refusal` every check raises (api/protocol/refusal.go)."""

# Refusal reasons of docs/protocol.md.
BAD_TAG = "bad-tag"
UNKNOWN_CLUSTER = "unknown-cluster"
MISSING_SIGNATURE = "missing-signature"
BAD_SIGNATURE = "bad-signature"
TOO_LARGE = "too-large"
MALFORMED_JSON = "malformed-json"
SCHEMA = "schema"
TAG_MISMATCH = "tag-mismatch"
BAD_ADDRESS = "bad-address"
NOT_CANONICAL = "not-canonical"
DIGEST_MISMATCH = "digest-mismatch"
SEQUENCE_CONFLICT = "sequence-conflict"
TOO_MANY_ADDRESSES = "too-many-addresses"
TOO_WIDE = "too-wide"
SPECIAL_ADDRESS = "special-address"


class Refusal(Exception):
    """A body (or its tag or headers) that must be refused; ``reason`` is a docs/protocol.md reason."""

    def __init__(self, reason, detail):
        """Refuse with ``reason`` (e.g. ``"schema"``) and a human ``detail`` naming what is wrong."""
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def shorten(value, limit=60):
    """``repr(value)`` cut to ``limit`` characters, for refusal details that end up in events."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
