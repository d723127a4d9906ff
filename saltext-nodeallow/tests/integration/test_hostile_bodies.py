# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The probes of issue 10 through a real salt-api and event bus, then the receiver path on the event it fired.

Each body goes to salt-api's /hook as the controller would send it (signed, with Content-Length); the
hook event that arrives on the master bus is fed to ``receive_body`` and, for a complete
snapshot, ``check_width`` — what the runner does — and must be refused for the right reason.
"""

import json

import pytest

from saltext.nodeallow.protocol.limits import check_width
from saltext.nodeallow.protocol.receive import receive_body
from saltext.nodeallow.protocol.refusal import BAD_SIGNATURE, SPECIAL_ADDRESS, TOO_LARGE, TOO_WIDE, Refusal
from saltext.nodeallow.protocol.signature import sign
from saltext.nodeallow.protocol.wire import BODY_MEMBERS, SIGNATURE_HEADER
from tests.support.master_side import encode_body

NEW_KEY, OLD_KEY = "nodeallow-probe-new-key", "nodeallow-probe-old-key"
CLUSTERS = {"prod": {"signing_keys": [NEW_KEY, OLD_KEY]}}
HOOK_PATH = "nodeallow-probe"


def deliver(hook_client, master_events, body, key=NEW_KEY, allowlist="workers"):
    """POST ``body`` signed with ``key``; return the hook event's tag and data as the reactor gets them."""
    path = f"{HOOK_PATH}/prod/{allowlist}"
    headers = {SIGNATURE_HEADER: sign(key, body)}
    response = hook_client.post(path, body=body, headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    event = master_events.wait_for(f"salt/netapi/hook/{path}", timeout=15)
    return event["tag"], event["data"]


def ingest(tag, data, **limits):
    """The receiver path on one event; the decoded body, or the Refusal's reason."""
    try:
        _, _, decoded, _ = receive_body(tag, data["body"], data["headers"], CLUSTERS, HOOK_PATH)
        check_width(decoded["addresses"], **limits)
    except Refusal as refusal:
        return refusal.reason
    return decoded


@pytest.mark.parametrize(
    "name,addresses",
    [
        ("ipv4-two-slash-1", ["0.0.0.0/1", "128.0.0.0/1"]),
        ("ipv6-two-slash-1", ["::/1", "8000::/1"]),
        ("ipv4-slash-0", ["0.0.0.0/0"]),
        ("seventeen-slash-48", [f"2001:db8:{i:x}::/48" for i in range(1, 18)]),
        ("five-slash-16", [f"11.{i}.0.0/16" for i in range(5)]),
    ],
)
def test_world_opening_snapshots_are_too_wide(salt_api, hook_client, master_events, name, addresses):
    """Correctly signed snapshots that add up to the world (or more than the span) are refused too-wide."""
    tag, data = deliver(hook_client, master_events, encode_body("prod", name, 7, addresses), allowlist=name)
    assert ingest(tag, data) == TOO_WIDE


def test_special_sources_are_refused_and_can_be_allowed(salt_api, hook_client, master_events):
    """A loopback or link-local source is special-address by default, accepted when the setting allows it."""
    body = encode_body("prod", "workers", 8, ["127.0.0.1/32", "169.254.169.254/32"])
    tag, data = deliver(hook_client, master_events, body)
    assert ingest(tag, data) == SPECIAL_ADDRESS
    assert ingest(tag, data, refuse_special=[])["addresses"] == ["127.0.0.1/32", "169.254.169.254/32"]


@pytest.mark.parametrize("size", [1 << 20, (1 << 20) + 1, 600000])
def test_oversize_bodies_are_too_large_not_bad_signature(salt_api, hook_client, master_events, size):
    """Bodies of exactly 1 MiB, just over it, and over half of max_event_size: too-large, as the issue asked."""
    head = encode_body("prod", "workers", 9, ["10.0.0.1/32"])
    body = head[:-1] + ',"pad":"' + "x" * (size - len(head) - 9) + '"}'
    assert len(body) == size
    tag, data = deliver(hook_client, master_events, body)
    assert ingest(tag, data) == TOO_LARGE


def test_rotation_accepts_both_keys_and_the_store_gets_exactly_what_was_signed(salt_api, hook_client, master_events):
    """During a rotation a body signed with the old key and one with the new key both decode to what was sent."""
    for sequence, key in ((10, OLD_KEY), (11, NEW_KEY)):
        body = encode_body("prod", "workers", sequence, ["10.0.0.1/32", "fd00::1/128"])
        tag, data = deliver(hook_client, master_events, body, key=key)
        decoded = ingest(tag, data)
        assert {name: decoded[name] for name in BODY_MEMBERS} == json.loads(body)
    body = encode_body("prod", "workers", 12, ["10.0.0.1/32"])
    tag, data = deliver(hook_client, master_events, body, key="a-key-nobody-configured")
    assert ingest(tag, data) == BAD_SIGNATURE
