# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""nodeallow wire protocol v1, receiver side (docs/protocol.md), one job per module as in api/protocol.

Plain modules (not loaded by Salt's loader) so the runner, the ext_pillar, the minion and the tests
share one implementation. Every check refuses with a :class:`~saltext.nodeallow.protocol.refusal.Refusal`
whose ``reason`` is one of the protocol's refusal reasons; nothing is repaired.

- ``wire``: the protocol's names (version, kinds, body members, the hook tag, headers); api/protocol/protocol.go
- ``refusal``: the refusal reasons and :class:`Refusal`; refusal.go
- ``limits``: body limits and width limits (too-large, too-wide, special-address); limits.go
- ``canonical``: the one parser of CIDR text, canonical lists and their digest; canonical.go
- ``signature``: HMAC-SHA256 signatures and the signing keys of a cluster; signature.go
- ``decode``: one body's JSON and schema, as a receiver must check them
- ``assembly``: the chunks of one sequence joined into the snapshot's list
- ``receive``: one hook event's checks up to the store, in docs/protocol.md's order
"""
