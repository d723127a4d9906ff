# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""What a default salt-api (rest_cherrypy) and event bus do with big and broken bodies, measured for real.

salt-api 3008 enforces no body size (its max_request_body_size default never reaches CherryPy), and
the master's event bus replaces event values with "VALUE_TRIMMED" once the hook event, which carries
the body twice (``body`` and ``post``), exceeds max_event_size (default 1 MiB). These tests pin that
behaviour down, so docs/protocol.md and docs/salt.md stay true, and check that
``check_whole`` names a trimmed body ``too-large`` before a signature check would call it
``bad-signature``.
"""

import pytest

from saltext.nodeallow.protocol.decode import decode
from saltext.nodeallow.protocol.limits import TRIMMED_PLACEHOLDER, check_whole
from saltext.nodeallow.protocol.refusal import BAD_SIGNATURE, TOO_LARGE, Refusal
from saltext.nodeallow.protocol.signature import sign, verify_signature
from saltext.nodeallow.protocol.wire import SIGNATURE_HEADER
from tests.support.events import EventTimeout
from tests.support.master_side import encode_body

KEY = b"nodeallow-body-limit-test-key"
MIB = 1 << 20
# The controller's default spec.salt.maxBodyBytes and the CRD's maximum (api/v1alpha1).
DEFAULT_MAX_BODY_BYTES = 262144
CRD_MAX_BODY_BYTES = 480000


@pytest.fixture(autouse=True)
def default_limits(salt_master):
    """These measurements mean something only with salt-api's and the master's defaults."""
    assert salt_master.config["max_event_size"] == MIB
    assert "max_request_body_size" not in salt_master.config["rest_cherrypy"]


def largest_real_body(limit):
    """The largest single nodeallow body of IPv4 host routes that is at most ``limit`` bytes."""

    def body(count):
        """The body of the first ``count`` host routes 10.0.0.1/32, 10.0.0.2/32, ..."""
        addresses = [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}/32" for i in range(1, count + 1)]
        return encode_body("prod", "big", 1, addresses)

    low, high = 1, limit // 10
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if len(body(mid).encode()) <= limit else (low, mid)
    return body(low)


def padded_body(size):
    """A JSON object of exactly ``size`` bytes: one long string (the shape does not matter to trimming)."""
    head, tail = '{"addresses":["', '"]}'
    return head + "a" * (size - len(head) - len(tail)) + tail


def post_and_receive(hook_client, master_events, name, body):
    """POST ``body`` signed to /hook/sizeprobe/<name>; return the HTTP response and the hook event's data."""
    response = hook_client.post(
        f"sizeprobe/{name}", body=body, headers={SIGNATURE_HEADER: sign(KEY, body)}, timeout=60
    )
    event = master_events.wait_for(f"salt/netapi/hook/sizeprobe/{name}", timeout=15)
    return response, event["data"]


@pytest.mark.parametrize("limit", [DEFAULT_MAX_BODY_BYTES, CRD_MAX_BODY_BYTES], ids=["default-chunk", "largest-chunk"])
def test_the_controllers_chunks_arrive_whole(salt_api, hook_client, master_events, limit):
    """A chunk as big as the controller sends (default and CRD maximum) reaches the bus byte for byte."""
    body = largest_real_body(limit)
    assert limit - 20 <= len(body.encode()) <= limit
    response, data = post_and_receive(hook_client, master_events, f"real{limit}", body)
    assert response.status_code == 200 and response.json() == {"success": True}
    assert data["body"] == body
    check_whole(data["body"], data["headers"])
    verify_signature(KEY, data["body"], data["headers"][SIGNATURE_HEADER])
    assert decode(data["body"])["addresses"][-1] == decode(body)["addresses"][-1]


@pytest.mark.parametrize("size", [MIB - 1, MIB, MIB + 1])
def test_bodies_around_one_mib_are_accepted_by_salt_api_and_trimmed_by_the_bus(
    salt_api, hook_client, master_events, size
):
    """salt-api answers 200 (not 413) at and above 1 MiB; the bus trims the body; check_whole says too-large."""
    body = padded_body(size)
    response, data = post_and_receive(hook_client, master_events, f"pad{size}", body)
    assert response.status_code == 200 and response.json() == {"success": True}
    assert data["body"] == TRIMMED_PLACEHOLDER
    assert data["headers"]["Content-Length"] == str(size)
    with pytest.raises(Refusal) as refused:
        check_whole(data["body"], data["headers"])
    assert refused.value.reason == TOO_LARGE
    assert "max_event_size" in refused.value.detail and "max_request_body_size" in refused.value.detail
    # What a runner checking the signature first would have reported instead.
    with pytest.raises(Refusal) as misnamed:
        verify_signature(KEY, data["body"], data["headers"][SIGNATURE_HEADER])
    assert misnamed.value.reason == BAD_SIGNATURE


def test_trimming_starts_near_half_of_max_event_size(salt_api, hook_client, master_events):
    """The event holds the body twice: 500000 bytes arrive whole, 530000 do not (measured edge: about 524100)."""
    _, data = post_and_receive(hook_client, master_events, "edge-below", padded_body(500000))
    assert data["body"] != TRIMMED_PLACEHOLDER
    _, data = post_and_receive(hook_client, master_events, "edge-above", padded_body(530000))
    assert data["body"] == TRIMMED_PLACEHOLDER


@pytest.mark.parametrize(
    "name,body",
    [
        ("deep-nesting", b"[" * 100000 + b"]" * 100000),
        ("deep-objects", b'{"a":' * 5000 + b"1" + b"}" * 5000),
        ("not-utf-8", b'{"protocol":"\xff\xfe"}'),
    ],
)
def test_salt_api_answers_500_and_fires_no_event(salt_api, hook_client, master_events, name, body):
    """salt-api's own JSON processor fails (RecursionError, UnicodeDecodeError): 500, and nothing of ours runs."""
    response = hook_client.post(f"sizeprobe/{name}", body=body, timeout=60)
    assert response.status_code == 500
    assert "Traceback" not in response.text  # rest_cherrypy runs as "production" unless debug: True
    with pytest.raises(EventTimeout):
        master_events.wait_for(f"salt/netapi/hook/sizeprobe/{name}", timeout=3)
