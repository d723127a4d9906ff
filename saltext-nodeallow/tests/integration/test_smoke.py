# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Smoke test of the real Salt pipeline: master, minion, and salt-api's webhook onto the event bus."""

import json


def test_minion_answers_ping(salt_cli, salt_minion):
    """The master reaches the minion (key accepted, transport working)."""
    ret = salt_cli.run("test.ping", minion_tgt=salt_minion.id)
    assert ret.returncode == 0, ret
    assert ret.data is True, ret


def test_hook_post_lands_on_master_event_bus(salt_api, hook_client, master_events):
    """A JSON POST to /hook/nodeallow/smoke becomes event salt/netapi/hook/nodeallow/smoke."""
    payload = {"allowlist": "smoke/workers", "sequence": 1, "addresses": ["192.0.2.10/32"]}
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True)

    response = hook_client.post("nodeallow/smoke", body=body)

    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}
    event = master_events.wait_for("salt/netapi/hook/nodeallow/smoke", timeout=15)
    assert event["data"]["post"] == payload
    # The raw text is what a signature is computed over.
    assert event["data"]["body"] == body
    assert event["data"]["headers"]["Content-Length"] == str(len(body))
