# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Which allowlists a minion subscribes to (its pillar ``nodeallow:rules``), and which minions subscribe.

A plain module shared by the ext_pillar (one minion's pillar at hand) and the subscriber index
(index.py), which compiles a minion's pillar on the master to refresh its entry.
"""

import logging

import salt.cache
import salt.key
import salt.pillar

from saltext.nodeallow.protocol.wire import is_dns_label

log = logging.getLogger(__name__)


def parse_reference(value):
    """Return ``(cluster, allowlist)`` of a rule's ``allowlist: <cluster>/<allowlist>``, or ``None``."""
    if not isinstance(value, str):
        return None
    parts = value.split("/")
    if len(parts) != 2 or not all(is_dns_label(part) for part in parts):
        return None
    return parts[0], parts[1]


def referenced_allowlists(pillar, minion_id=None):
    """Return the sorted ``[(cluster, allowlist), ...]`` that ``pillar['nodeallow']['rules']`` references.

    Malformed rules are skipped with a warning (the state reports them to the
    minion's operator); they never subscribe a minion to anything.
    """
    settings = pillar.get("nodeallow") if isinstance(pillar, dict) else None
    rules = settings.get("rules") if isinstance(settings, dict) else None
    if rules is None:
        return []
    if not isinstance(rules, list):
        log.warning("nodeallow: pillar nodeallow:rules of minion %s is not a list; ignoring it", minion_id)
        return []
    found = set()
    for position, rule in enumerate(rules):
        reference = parse_reference(rule.get("allowlist")) if isinstance(rule, dict) else None
        if reference is None:
            log.warning(
                "nodeallow: rule %d in pillar nodeallow:rules of minion %s has no valid "
                "'allowlist: <cluster>/<allowlist>'; ignoring it",
                position,
                minion_id,
            )
            continue
        found.add(reference)
    return sorted(found)


def accepted_minions(opts):
    """Return the sorted ids of every minion whose key the master has accepted."""
    keys = salt.key.get_key(opts).list_status("acc")
    return sorted(keys.get("minions", []))


def compile_minion_pillar(opts, minion_id, cache=None):
    """Compile ``minion_id``'s pillar on the master now, with its grains from the master's cache.

    This is what the minion's next state run sees (pillar is compiled afresh for
    every state run), unlike the master's pillar cache, which lags until a refresh.
    """
    cache = cache or salt.cache.factory(opts)
    grains = cache.fetch("grains", minion_id) or {}
    pillar = salt.pillar.get_pillar(
        opts,
        grains,
        minion_id,
        saltenv=opts.get("saltenv"),
        pillarenv=opts.get("pillarenv"),
    )
    try:
        return pillar.compile_pillar()
    finally:
        destroy = getattr(pillar, "destroy", None)
        if destroy:
            destroy()
