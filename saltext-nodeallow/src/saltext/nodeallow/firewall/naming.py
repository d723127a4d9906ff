# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Names of the kernel objects nodeallow owns: short, safe, and derived from the allowlist name."""

import hashlib

# iptables/ip6tables chain that holds all our rules; INPUT jumps to it.
XT_CHAIN = "NODEALLOW"
# ipset names are global to the host, so they carry our prefix; ipset allows 31 chars.
IPSET_PREFIX = "nodeallow_"
DEFAULT_NFT_TABLE = "nodeallow"
# Every rule we write carries a comment "na:<12 hex key> <description>".
COMMENT_PREFIX = "na:"
# The label of a rule's local sources: this prefix and the rule's description ("tcp:5432 prod/workers").
SOURCES_PREFIX = "sources "


def sources_label(description):
    """The label of the local sources of the rule described ``description``, e.g. ``sources tcp:5432 prod/workers``."""
    return f"{SOURCES_PREFIX}{description}"


def is_sources_label(label):
    """Whether ``label`` names a rule's local sources (else it is an allowlist name)."""
    return label.startswith(SOURCES_PREFIX)


def short_hash(text, length=10):
    """The first ``length`` hex digits of SHA-256 of ``text``."""
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def nft_set(allowlist, family):
    """The nft host set of ``allowlist`` ("cluster/name") for ``family`` 4 or 6, e.g. ``a_1a2b3c4d5e_4``.

    It holds the host routes (/32, /128) in a plain hash set; :func:`nft_prefix_set` the rest. A
    rule's local sources (a :func:`sources_label`) have sets of their own: ``s_<hash>_4``.
    """
    # Old kernels limit set names to 32 characters; the human name goes in the set's comment.
    kind = "s" if is_sources_label(allowlist) else "a"
    return f"{kind}_{short_hash(allowlist)}_{family}"


def nft_prefix_set(allowlist, family):
    """The interval set holding the prefixes shorter than a host route, e.g. ``a_1a2b3c4d5e_4p``."""
    return f"{nft_set(allowlist, family)}p"


def nft_sets(allowlist, family):
    """Both nft sets of ``allowlist`` for ``family``: the host set and the prefix set."""
    return nft_set(allowlist, family), nft_prefix_set(allowlist, family)


def ipset(allowlist, family):
    """The ipset of ``allowlist`` for ``family`` 4 or 6, e.g. ``nodeallow_1a2b3c4d5e_6`` (22 chars).

    A rule's local sources (a :func:`sources_label`): ``nodeallow_s_1a2b3c4d5e_6`` (24 chars).
    """
    kind = "s_" if is_sources_label(allowlist) else ""
    return f"{IPSET_PREFIX}{kind}{short_hash(allowlist)}_{family}"


def ipset_temp(name):
    """The temporary set that ``name`` is built in before ``ipset swap``."""
    return f"{name}_new"


def is_ours_ipset(name):
    """Whether an ipset name is one of ours (a set or a leftover temporary set)."""
    return name.startswith(IPSET_PREFIX)


def line_comment(key, description):
    """The comment on one rule: our marker, its key and a short description (max 120 chars)."""
    return f"{COMMENT_PREFIX}{key} {description}"[:120]


def line_label(description):
    """The allowlist or sources label of a rule description (``tcp:5432 prod/workers ipv4``), or ``""``."""
    parts = description.split()
    if description.startswith(SOURCES_PREFIX):
        return " ".join(parts[:3]) if len(parts) > 3 else ""
    return parts[1] if len(parts) > 1 else ""


def parse_comment(comment):
    """``(key, description)`` of a comment written by :func:`line_comment`, or ``None`` if not ours."""
    if not comment or not comment.startswith(COMMENT_PREFIX):
        return None
    key, _, description = comment[len(COMMENT_PREFIX) :].partition(" ")
    if len(key) != 12 or any(c not in "0123456789abcdef" for c in key):
        return None
    return key, description
