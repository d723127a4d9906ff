# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The protocol's names (api/protocol/protocol.go): version, kinds, body members, the hook tag and its headers."""

import re

from saltext.nodeallow.protocol.refusal import BAD_TAG, TAG_MISMATCH, Refusal

# The value of every body's "protocol" member.
VERSION = "nodeallow/v1"
# The HTTP header carrying a body's HMAC-SHA256 signature (signature.py).
SIGNATURE_HEADER = "X-Hub-Signature-256"
# The first path segment after /hook/ when a NodeAllowlist does not set one.
DEFAULT_HOOK_PATH = "nodeallow"
# What salt-api puts before the path of a hook event's tag.
HOOK_TAG_PREFIX = "salt/netapi/hook/"

KIND_SNAPSHOT = "snapshot"
KIND_RETIREMENT = "retirement"

BODY_MEMBERS = (
    "protocol",
    "kind",
    "cluster",
    "allowlist",
    "sequence",
    "digest",
    "generatedAt",
    "chunk",
    "addresses",
)

# fullmatch everywhere: Python's '$' also matches before a trailing newline.
_DNS_LABEL_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def is_dns_label(value):
    """Whether ``value`` is a DNS label (1-63 of a-z, 0-9, '-', no '-' at either end)."""
    return (
        isinstance(value, str) and 1 <= len(value) <= 63 and _DNS_LABEL_RE.fullmatch(value) is not None
    )


def parse_tag(tag, hook_path=DEFAULT_HOOK_PATH):
    """Return ``(cluster, allowlist)`` from ``salt/netapi/hook/<hook_path>/<cluster>/<allowlist>``.

    Raises :class:`Refusal` ``bad-tag`` for anything else.
    """
    prefix = f"{HOOK_TAG_PREFIX}{hook_path}/"
    if not isinstance(tag, str) or not tag.startswith(prefix):
        raise Refusal(BAD_TAG, f"the tag does not start with {prefix!r}")
    parts = tag[len(prefix) :].split("/")
    if len(parts) != 2 or not all(is_dns_label(part) for part in parts):
        raise Refusal(
            BAD_TAG, f"the tag must end in <cluster>/<allowlist>, two DNS labels, after {prefix!r}"
        )
    return parts[0], parts[1]


def check_tag(decoded, cluster, allowlist):
    """Refuse (tag-mismatch) a decoded body whose cluster/allowlist differ from the tag's."""
    if decoded["cluster"] != cluster or decoded["allowlist"] != allowlist:
        raise Refusal(
            TAG_MISMATCH,
            f"the body is for {decoded['cluster']}/{decoded['allowlist']}, the tag for {cluster}/{allowlist}",
        )


def header_value(headers, name):
    """Return header ``name`` from a header dict, matched case-insensitively, or ``None``."""
    if not isinstance(headers, dict):
        return None
    wanted = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted:
            return value
    return None


def as_bytes(value):
    """``value`` as bytes (str is encoded as UTF-8, strictly)."""
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")
