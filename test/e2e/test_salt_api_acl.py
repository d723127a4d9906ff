# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The controller's salt-api user (docs/salt.md's external_auth) may post hooks and read nodeallow.status, no more.

Against the real salt-api of the end-to-end system, logged in as that user with the password the controllers use.
"""

import pytest
import requests

from harness.salt import API_EAUTH, API_USER
from topology import SUBSCRIBER

ALPHA = "alpha/workers"


@pytest.fixture
def token(system):
    """A salt-api token of the controllers' user."""
    response = requests.post(
        f"{system.salt.api_url}/login",
        json={"username": API_USER, "password": system.salt.api_password, "eauth": API_EAUTH},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()["return"][0]["token"]


def _call(system, token, lowstate):
    """POST one lowstate chunk to salt-api's root endpoint as the controllers' user; return the response."""
    return requests.post(
        f"{system.salt.api_url}/",
        json=[lowstate],
        headers={"X-Auth-Token": token, "Accept": "application/json"},
        timeout=120,
    )


def test_it_reads_nodeallow_status(system, token):
    """The one permitted runner answers with the report (under ``data``, its outputter beside it)."""
    response = _call(system, token, {"client": "runner", "fun": "nodeallow.status"})
    assert response.status_code == 200, response.text
    answer = response.json()["return"][0]
    assert answer["outputter"] == "nodeallow_status"
    subscribers = answer["data"][ALPHA]["subscribers"]
    assert SUBSCRIBER["alpha"] in subscribers, answer


@pytest.mark.parametrize(
    "lowstate",
    [
        {"client": "runner", "fun": "nodeallow.reconcile"},
        {"client": "runner", "fun": "nodeallow.reindex"},
        {"client": "runner", "fun": "cache.flush", "bank": "nodeallow/allowlists", "key": "alpha.workers"},
        {"client": "runner", "fun": "state.event"},
        {"client": "wheel", "fun": "key.list_all"},
        {"client": "local", "tgt": "*", "fun": "test.ping"},
        {"client": "local", "tgt": "*", "fun": "cmd.run", "arg": ["id"]},
        {"client": "local_async", "tgt": "*", "fun": "state.apply"},
    ],
    ids=lambda low: f"{low['client']}:{low['fun']}",
)
def test_it_can_do_nothing_else(system, token, lowstate):
    """Every other runner is refused by the user's eauth list; wheel and minion clients are not even enabled."""
    response = _call(system, token, lowstate)
    if lowstate["client"] == "runner":
        assert response.status_code == 401, (response.status_code, response.text[:500])
    else:
        assert response.status_code == 400, (response.status_code, response.text[:500])
        assert f"Client disabled: '{lowstate['client']}'" in response.text
