# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The system every end-to-end test runs against: who publishes, who subscribes to what.

Two clusters, each with its own controller and signing key, publish to one Salt master; three minions
subscribe differently (pillar as docs/salt.md shows):

    db1: alpha/workers (tcp 5432)
    db2: alpha/workers (tcp 5432) and beta/workers (tcp 5432)
    db3: beta/workers (tcp 6379)         -- not subscribed to alpha

Both clusters have a NodeAllowlist ``workers`` selecting nodes labelled ``pool=workers``, and one "anchor"
node that stays for the whole session: the controller never publishes fewer than minAddresses (1), so a test
can only watch an address disappear while another one remains.
"""

import secrets

from harness.system import ClusterSpec, MinionSpec, SystemSpec

SELECTOR = {"matchLabels": {"pool": "workers"}}
# Every Node a test creates carries TEST_LABEL, so the fixtures can delete them afterwards.
TEST_LABEL = "e2e-test"
WORKER_LABELS = {"pool": "workers", TEST_LABEL: "true"}
ANCHORS = {"alpha": "192.0.2.254", "beta": "198.51.100.254"}
# One minion subscribed to each cluster's allowlist, used to wait for convergence.
SUBSCRIBER = {"alpha": "db1", "beta": "db3"}


def spec():
    """The :class:`SystemSpec` of the end-to-end tests."""
    return SystemSpec(
        # alpha is in the middle of a key rotation: the master already accepts its next key.
        clusters={"alpha": ClusterSpec(next_signing_key=secrets.token_hex(32)), "beta": ClusterSpec()},
        minions=[
            MinionSpec("db1", rules=[_rule("alpha/workers", 5432, "postgres from alpha")]),
            MinionSpec("db2", rules=[_rule("alpha/workers", 5432, "postgres from alpha"),
                                     _rule("beta/workers", 5432, "postgres from beta")]),
            MinionSpec("db3", rules=[_rule("beta/workers", 6379, "redis from beta")]),
        ],
    )


def _rule(allowlist, port, comment):
    """One subscription rule of a minion's pillar."""
    return {"allowlist": allowlist, "proto": "tcp", "ports": [port], "comment": comment}
