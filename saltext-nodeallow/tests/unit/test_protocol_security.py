# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""saltext.nodeallow.protocol's receiver policy: width limits, special sources, key rings, trimmed bodies."""

import pytest

from saltext.nodeallow.protocol.decode import decode
from saltext.nodeallow.protocol.limits import (
    DEFAULT_REFUSE_SPECIAL,
    MAX_BODY_SIZE,
    TRIMMED_PLACEHOLDER,
    check_whole,
    check_width,
    width_limits,
)
from saltext.nodeallow.protocol.receive import receive_body
from saltext.nodeallow.protocol.refusal import (
    BAD_SIGNATURE,
    BAD_TAG,
    MALFORMED_JSON,
    MISSING_SIGNATURE,
    SPECIAL_ADDRESS,
    TOO_LARGE,
    TOO_WIDE,
    UNKNOWN_CLUSTER,
    Refusal,
)
from saltext.nodeallow.protocol.signature import sign, signing_keys, verify_signature_any
from saltext.nodeallow.protocol.wire import SIGNATURE_HEADER


def refusal(func, *args, **kwargs):
    """The Refusal ``func(*args, **kwargs)`` raises (fails the test when it raises none)."""
    with pytest.raises(Refusal) as refused:
        func(*args, **kwargs)
    return refused.value


def test_default_width_limits():
    """The defaults are /16 and /48, and a span of one /14 (IPv4) and one /44 (IPv6)."""
    assert width_limits() == {4: (16, 1 << 18), 6: (48, 1 << 84)}


def test_width_limits_from_master_config():
    """A family left out keeps its default; spans are addresses or "/P"."""
    got = width_limits({"ipv4": 24}, {"ipv4": 1000, "ipv6": "/40"})
    assert got == {4: (24, 1000), 6: (48, 1 << 88)}


@pytest.mark.parametrize(
    "min_prefix,max_span,names",
    [
        ({"ipv4": 0}, None, "min_prefix:ipv4"),
        ({"ipv6": 129}, None, "min_prefix:ipv6"),
        ({"ipv4": True}, None, "min_prefix:ipv4"),
        ({"ipv4": "16"}, None, "min_prefix:ipv4"),
        ({"v4": 16}, None, "unknown keys"),
        ([16, 48], None, "min_prefix must be a mapping"),
        (None, {"ipv4": "/0"}, "max_span:ipv4"),
        (None, {"ipv4": 1 << 32}, "max_span:ipv4"),
        (None, {"ipv4": 0}, "max_span:ipv4"),
        (None, {"ipv6": "44"}, "max_span:ipv6"),
    ],
)
def test_width_limits_refuse_settings_that_allow_a_whole_family(min_prefix, max_span, names):
    """No setting may open a whole family; the error names the setting."""
    with pytest.raises(ValueError, match=names):
        width_limits(min_prefix, max_span)


def test_two_slash_1_prefixes_are_too_wide_even_with_a_low_minimum():
    """0.0.0.0/1 + 128.0.0.0/1 passes a minimum of /1 but not the span limit."""
    got = refusal(check_width, ["0.0.0.0/1", "128.0.0.0/1"], {"ipv4": 1}, None, [])
    assert got.reason == TOO_WIDE
    assert "max_span:ipv4" in got.detail and "4294967296" in got.detail


def test_many_narrow_prefixes_add_up():
    """Seventeen /48s exceed the default IPv6 span of one /44 although each passes the minimum."""
    entries = [f"2001:db8:{i:x}::/48" for i in range(17)]
    got = refusal(check_width, entries, refuse_special=[])
    assert got.reason == TOO_WIDE and "IPv6 entries cover" in got.detail
    check_width(entries[:16], refuse_special=[])


def test_prefix_minimum_names_the_entry():
    """The detail names the first offending entry and the setting that refused it."""
    got = refusal(check_width, ["10.0.0.1/32", "10.8.0.0/13"])
    assert got.reason == TOO_WIDE
    assert "addresses[1] 10.8.0.0/13" in got.detail and "min_prefix:ipv4" in got.detail


@pytest.mark.parametrize(
    "entry,name",
    [
        ("127.0.0.1/32", "loopback"),
        ("::1/128", "loopback"),
        ("169.254.169.254/32", "link-local"),
        ("fe80::1/128", "link-local"),
        ("224.0.0.1/32", "multicast"),
        ("ff02::1/128", "multicast"),
        ("0.0.0.0/32", "unspecified"),
        ("::/128", "unspecified"),
        ("169.254.0.0/16", "link-local"),
    ],
)
def test_special_sources_are_refused_by_default(entry, name):
    """Loopback, link-local, multicast and unspecified sources are refused unless allowed by setting."""
    got = refusal(check_width, ["10.0.0.1/32", entry] if ":" not in entry else [entry])
    assert got.reason == SPECIAL_ADDRESS and name in got.detail
    check_width([entry], refuse_special=[n for n in DEFAULT_REFUSE_SPECIAL if n != name])


def test_a_prefix_containing_a_special_range_overlaps_it():
    """A prefix that contains the loopback range (not only one inside it) is refused."""
    got = refusal(check_width, ["126.0.0.0/7"], {"ipv4": 7}, {"ipv4": "/7"})
    assert got.reason == SPECIAL_ADDRESS and "loopback" in got.detail


def test_private_sources_are_a_choice():
    """Private ranges (node InternalIPs) are allowed by default and refused when listed."""
    check_width(["10.0.0.1/32", "192.168.1.0/24", "fd00::1/128"])
    got = refusal(check_width, ["192.168.1.0/24"], refuse_special=["private"])
    assert got.reason == SPECIAL_ADDRESS and "private" in got.detail


@pytest.mark.parametrize("setting", ["loopback", ["localhost"], {"loopback": True}])
def test_refuse_special_setting_is_checked(setting):
    """nodeallow:refuse_special must be a list of known names."""
    with pytest.raises(ValueError, match="refuse_special"):
        check_width(["10.0.0.1/32"], refuse_special=setting)


def test_width_limits_are_checked_before_special_sources():
    """A wide prefix that also overlaps a special range is too-wide, the first check that applies."""
    assert refusal(check_width, ["0.0.0.0/1"]).reason == TOO_WIDE


@pytest.mark.parametrize(
    "entry,keys",
    [
        ({"signing_key": "k1"}, [b"k1"]),
        ({"signing_keys": ["new", "old"]}, [b"new", b"old"]),
        ({"signing_key": "new", "signing_keys": ["old"]}, [b"new", b"old"]),
        ({"signing_keys": ["same", "same", ""]}, [b"same"]),
        ({"signing_key": ""}, []),
        ({}, []),
        (None, []),
        ({"signing_key": b"raw"}, [b"raw"]),
    ],
)
def test_signing_keys_normalises_both_spellings(entry, keys):
    """signing_key and signing_keys both work, newest first, empties and repeats dropped."""
    assert signing_keys(entry) == keys


@pytest.mark.parametrize("entry", [{"signing_keys": "one-key"}, {"signing_key": 12345}, {"signing_keys": [None]}])
def test_signing_keys_refuses_wrong_types(entry):
    """A key that YAML made a number or a list given as one string is a configuration error."""
    with pytest.raises(ValueError, match="signing.key"):
        signing_keys(entry)


def test_rotation_accepts_old_and_new_until_the_old_is_removed():
    """During a rotation both keys verify; afterwards only the new one does."""
    body = '{"x":1}'
    old, new = b"old-key", b"new-key"
    assert verify_signature_any([new, old], body, sign(old, body)) == 1
    assert verify_signature_any([new, old], body, sign(new, body)) == 0
    got = refusal(verify_signature_any, [new], body, sign(old, body))
    assert got.reason == BAD_SIGNATURE
    got = refusal(verify_signature_any, [new, old], body, sign(b"x", body))
    assert got.reason == BAD_SIGNATURE and "2 signing keys" in got.detail


def test_key_ring_without_keys_or_header():
    """No keys refuses bad-signature; no header refuses missing-signature first."""
    assert refusal(verify_signature_any, [], "{}", sign(b"k", "{}")).reason == BAD_SIGNATURE
    assert refusal(verify_signature_any, [b"k"], "{}", None).reason == MISSING_SIGNATURE


def test_trimmed_body_is_too_large_not_a_bad_signature():
    """The event bus's placeholder is named as what it is, and the detail names both settings."""
    got = refusal(check_whole, TRIMMED_PLACEHOLDER, {"Content-Length": "700000"})
    assert got.reason == TOO_LARGE
    assert "max_event_size" in got.detail and "max_request_body_size" in got.detail


def test_trimmed_headers_are_too_large():
    """When even the headers were trimmed (the parsed post alone is over max_event_size), it is too-large too."""
    got = refusal(check_whole, "{}", {"Content-Length": TRIMMED_PLACEHOLDER})
    assert got.reason == TOO_LARGE and "header Content-Length" in got.detail
    got = refusal(check_whole, "{}", {SIGNATURE_HEADER: TRIMMED_PLACEHOLDER})
    assert got.reason == TOO_LARGE


def test_body_shorter_than_content_length_is_too_large():
    """A body that is not the length salt-api received was cut on the way."""
    got = refusal(check_whole, '{"a":1}', {"content-length": "8"})
    assert got.reason == TOO_LARGE and "7 bytes" in got.detail and "says 8" in got.detail


@pytest.mark.parametrize(
    "body,headers",
    [
        ('{"a":1}', {"Content-Length": "7"}),
        ('{"a":"é"}', {"Content-Length": "10"}),
        ('{"a":1}', {}),
        ('{"a":1}', None),
        ('{"a":1}', {"Content-Length": "seven"}),
    ],
)
def test_whole_bodies_pass(body, headers):
    """A body of the stated length (in UTF-8 bytes) or without a usable Content-Length is left to the signature."""
    check_whole(body, headers)


def test_decode_too_large_names_the_settings():
    """A body over 1 MiB is too-large and the detail says what to change."""
    got = refusal(decode, "x" * (MAX_BODY_SIZE + 1))
    assert got.reason == TOO_LARGE and "maxBodyBytes" in got.detail


def test_decode_refuses_text_that_is_not_utf_8_encodable():
    """A str with a lone surrogate is malformed-json, not a UnicodeEncodeError."""
    assert refusal(decode, '{"a":"\ud800"}').reason == MALFORMED_JSON


TAG = "salt/netapi/hook/nodeallow/prod/workers"


@pytest.mark.parametrize(
    "clusters,needle",
    [
        ({}, "no nodeallow:clusters:prod:signing_key"),
        ({"prod": {"signing_key": ""}}, "no nodeallow:clusters:prod:signing_key"),
        ({"prod": {"signing_keys": "k"}}, "nodeallow:clusters:prod is misconfigured"),
        ({"staging": {"signing_key": "k"}}, "no nodeallow:clusters:prod"),
    ],
)
def test_receive_body_needs_a_key_for_the_tags_cluster(clusters, needle):
    """A cluster without a usable key is unknown-cluster, and the detail names the setting."""
    got = refusal(receive_body, TAG, "{}", {SIGNATURE_HEADER: sign(b"k", "{}")}, clusters)
    assert got.reason == UNKNOWN_CLUSTER and needle in got.detail


def test_receive_body_names_a_trimmed_body_before_the_signature():
    """The order of docs/protocol.md: too-large (trimmed) comes before bad-signature."""
    headers = {SIGNATURE_HEADER: sign(b"k", "{}"), "Content-Length": "600000"}
    got = refusal(receive_body, TAG, TRIMMED_PLACEHOLDER, headers, {"prod": {"signing_key": "k"}})
    assert got.reason == TOO_LARGE
    refused = refusal(receive_body, "salt/netapi/hook/nodeallow/prod", "{}", headers, {})
    assert refused.reason == BAD_TAG
