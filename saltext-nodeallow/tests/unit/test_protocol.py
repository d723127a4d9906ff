# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""saltext.nodeallow.protocol beyond the shared vectors: tags, headers, limits and chunk assembly."""

import pytest

from saltext.nodeallow import protocol
from tests.support.master_side import chunked_bodies, encode_body


def refusal(func, *args):
    """The reason of the Refusal ``func(*args)`` raises (fails the test when it raises none)."""
    with pytest.raises(protocol.Refusal) as refused:
        func(*args)
    return refused.value.reason


@pytest.mark.parametrize(
    "tag",
    [
        "salt/netapi/hook/nodeallow/prod",
        "salt/netapi/hook/nodeallow/prod/workers/extra",
        "salt/netapi/hook/nodeallow/prod/x; flush ruleset",
        "salt/netapi/hook/nodeallow/Prod/workers",
        "salt/netapi/hook/other/prod/workers",
        "salt/netapi/hook/nodeallow/prod/",
        "salt/netapi/hook/nodeallow/../workers",
        None,
    ],
)
def test_bad_tags(tag):
    """Only salt/netapi/hook/<hook_path>/<dns-label>/<dns-label> is a tag."""
    assert refusal(protocol.parse_tag, tag) == protocol.BAD_TAG


def test_tag_with_other_hook_path():
    """The hook path is configurable."""
    assert protocol.parse_tag("salt/netapi/hook/fw/prod-eu1/workers", "fw") == ("prod-eu1", "workers")


def test_header_lookup_ignores_case():
    """HTTP header names are case-insensitive; cherrypy may title-case them."""
    assert protocol.header_value({"X-Hub-Signature-256": "a"}, "x-hub-signature-256") == "a"
    assert protocol.header_value({"x-hub-signature-256": "b"}, protocol.SIGNATURE_HEADER) == "b"
    assert protocol.header_value({}, protocol.SIGNATURE_HEADER) is None
    assert protocol.header_value(None, protocol.SIGNATURE_HEADER) is None


def test_empty_key_never_verifies():
    """A cluster configured with an empty key accepts nothing (an empty HMAC key is public)."""
    body = "{}"
    assert refusal(protocol.verify_signature, b"", body, protocol.sign(b"", body)) == protocol.BAD_SIGNATURE


def test_body_over_one_mib_is_too_large():
    """The size check comes first, before parsing."""
    assert refusal(protocol.decode, "x" * (protocol.MAX_BODY_SIZE + 1)) == protocol.TOO_LARGE


def test_too_many_addresses_in_one_chunk():
    """More than 100000 entries in one body is refused by count, before any entry is parsed."""
    # 100001 real prefixes need more than 1 MiB (too-large first); short junk entries fit.
    body = encode_body("prod", "big", 1, [""] * (protocol.MAX_ADDRESSES_PER_CHUNK + 1))
    assert len(body) < protocol.MAX_BODY_SIZE
    assert refusal(protocol.decode, body) == protocol.TOO_MANY_ADDRESSES


def test_tag_mismatch():
    """The body's cluster/allowlist must be the tag's."""
    decoded = protocol.decode(encode_body("prod", "workers", 1, ["10.0.0.1/32"]))
    protocol.check_tag(decoded, "prod", "workers")
    assert refusal(protocol.check_tag, decoded, "staging", "workers") == protocol.TAG_MISMATCH
    assert refusal(protocol.check_tag, decoded, "prod", "other") == protocol.TAG_MISMATCH


def test_nan_and_infinity_are_not_json():
    """Python's json accepts NaN; JSON (and the Go side) does not."""
    body = encode_body("prod", "workers", 1, ["10.0.0.1/32"]).replace('"sequence":1', '"sequence":NaN')
    assert refusal(protocol.decode, body) == protocol.MALFORMED_JSON


def test_chunks_whose_union_is_not_canonical():
    """Each chunk can be sorted while the joined list is not: the boundary is checked on assembly."""
    whole = ["10.0.0.2/32", "10.0.0.1/32"]
    bodies = [
        encode_body("prod", "w", 3, [entry], digest=protocol.digest(whole), chunk=(i, 2))
        for i, entry in enumerate(whole)
    ]
    chunks = [protocol.decode(body) for body in bodies]
    assert refusal(protocol.assemble, chunks) == protocol.NOT_CANONICAL


def test_chunks_with_wrong_digest():
    """The digest of a split snapshot is checked only once the chunks are joined."""
    bodies = chunked_bodies("prod", "w", 3, ["10.0.0.1/32", "10.0.0.2/32"], 1)
    bodies[1] = bodies[1].replace("10.0.0.2/32", "10.0.0.3/32")
    chunks = [protocol.decode(body) for body in bodies]
    assert refusal(protocol.assemble, chunks) == protocol.DIGEST_MISMATCH


def test_chunks_that_disagree():
    """Chunks of one sequence with different digests, or one index twice with other addresses, conflict."""
    first = protocol.decode(encode_body("prod", "w", 3, ["10.0.0.1/32"], digest="sha256:" + "0" * 64, chunk=(0, 2)))
    other = protocol.decode(encode_body("prod", "w", 3, ["10.0.0.2/32"], digest="sha256:" + "1" * 64, chunk=(1, 2)))
    assert refusal(protocol.assemble, [first, other]) == protocol.SEQUENCE_CONFLICT
    again = protocol.decode(encode_body("prod", "w", 3, ["10.0.0.3/32"], digest="sha256:" + "0" * 64, chunk=(0, 2)))
    assert refusal(protocol.assemble, [first, again]) == protocol.SEQUENCE_CONFLICT


@pytest.mark.parametrize(
    "entry,ok",
    [
        ("10.0.0.1/32", True),
        ("0.0.0.0/0", True),
        ("::/0", True),
        ("2001:db8::/32", True),
        ("fe80::1%eth0/128", False),
        ("10.0.0.0/255.0.0.0", False),
        ("10.0.0.1", False),
        ("::ffff:0:0/96", False),
        ("2001:db8:0:1:1:1:1:1/128", True),
        ("2001:db8::1:1:1:1:1/128", False),
        ("１0.0.0.1/32", False),
    ],
)
def test_parse_entry(entry, ok):
    """Only the exact canonical spelling of a prefix is an entry."""
    assert (protocol.parse_entry(entry) is not None) == ok
