# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""saltext.nodeallow.protocol beyond the shared vectors: tags, headers, limits and chunk assembly."""

import ipaddress
import random

import pytest

from saltext.nodeallow.protocol.assembly import assemble
from saltext.nodeallow.protocol.canonical import checked, digest, parse_canonical, parse_entry
from saltext.nodeallow.protocol.decode import decode
from saltext.nodeallow.protocol.limits import MAX_ADDRESSES_PER_CHUNK, MAX_BODY_SIZE, check_width
from saltext.nodeallow.protocol.refusal import (
    BAD_SIGNATURE,
    BAD_TAG,
    DIGEST_MISMATCH,
    MALFORMED_JSON,
    NOT_CANONICAL,
    SEQUENCE_CONFLICT,
    TAG_MISMATCH,
    TOO_LARGE,
    TOO_MANY_ADDRESSES,
    Refusal,
)
from saltext.nodeallow.protocol.signature import sign, verify_signature
from saltext.nodeallow.protocol.wire import SIGNATURE_HEADER, check_tag, header_value, parse_tag
from tests.support.master_side import chunked_bodies, encode_body


def refusal(func, *args):
    """The reason of the Refusal ``func(*args)`` raises (fails the test when it raises none)."""
    with pytest.raises(Refusal) as refused:
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
    assert refusal(parse_tag, tag) == BAD_TAG


def test_tag_with_other_hook_path():
    """The hook path is configurable."""
    assert parse_tag("salt/netapi/hook/fw/prod-eu1/workers", "fw") == ("prod-eu1", "workers")


def test_header_lookup_ignores_case():
    """HTTP header names are case-insensitive; cherrypy may title-case them."""
    assert header_value({"X-Hub-Signature-256": "a"}, "x-hub-signature-256") == "a"
    assert header_value({"x-hub-signature-256": "b"}, SIGNATURE_HEADER) == "b"
    assert header_value({}, SIGNATURE_HEADER) is None
    assert header_value(None, SIGNATURE_HEADER) is None


def test_empty_key_never_verifies():
    """A cluster configured with an empty key accepts nothing (an empty HMAC key is public)."""
    body = "{}"
    assert refusal(verify_signature, b"", body, sign(b"", body)) == BAD_SIGNATURE


def test_body_over_one_mib_is_too_large():
    """The size check comes first, before parsing."""
    assert refusal(decode, "x" * (MAX_BODY_SIZE + 1)) == TOO_LARGE


def test_too_many_addresses_in_one_chunk():
    """More than 100000 entries in one body is refused by count, before any entry is parsed."""
    # 100001 real prefixes need more than 1 MiB (too-large first); short junk entries fit.
    body = encode_body("prod", "big", 1, [""] * (MAX_ADDRESSES_PER_CHUNK + 1))
    assert len(body) < MAX_BODY_SIZE
    assert refusal(decode, body) == TOO_MANY_ADDRESSES


def test_tag_mismatch():
    """The body's cluster/allowlist must be the tag's."""
    decoded = decode(encode_body("prod", "workers", 1, ["10.0.0.1/32"]))
    check_tag(decoded, "prod", "workers")
    assert refusal(check_tag, decoded, "staging", "workers") == TAG_MISMATCH
    assert refusal(check_tag, decoded, "prod", "other") == TAG_MISMATCH


def test_nan_and_infinity_are_not_json():
    """Python's json accepts NaN; JSON (and the Go side) does not."""
    body = encode_body("prod", "workers", 1, ["10.0.0.1/32"]).replace('"sequence":1', '"sequence":NaN')
    assert refusal(decode, body) == MALFORMED_JSON


def test_chunks_whose_union_is_not_canonical():
    """Each chunk can be sorted while the joined list is not: the boundary is checked on assembly."""
    whole = ["10.0.0.2/32", "10.0.0.1/32"]
    bodies = [
        encode_body("prod", "w", 3, [entry], digest=digest(whole), chunk=(i, 2))
        for i, entry in enumerate(whole)
    ]
    chunks = [decode(body) for body in bodies]
    assert refusal(assemble, chunks) == NOT_CANONICAL


def test_chunks_that_overlap_across_a_boundary():
    """A prefix at one chunk's end that holds the next chunk's first entry is refused, naming that entry."""
    whole = ["10.0.0.0/32", "10.0.1.0/24", "10.0.1.7/32", "10.0.2.0/32"]
    bodies = chunked_bodies("prod", "w", 3, whole, 2)
    chunks = [decode(body) for body in bodies]
    with pytest.raises(Refusal) as refused:
        assemble(chunks)
    assert refused.value.reason == NOT_CANONICAL and "addresses[2] 10.0.1.7/32" in refused.value.detail


def test_chunks_with_wrong_digest():
    """The digest of a split snapshot is checked only once the chunks are joined."""
    bodies = chunked_bodies("prod", "w", 3, ["10.0.0.1/32", "10.0.0.2/32"], 1)
    bodies[1] = bodies[1].replace("10.0.0.2/32", "10.0.0.3/32")
    chunks = [decode(body) for body in bodies]
    assert refusal(assemble, chunks) == DIGEST_MISMATCH


def test_chunks_that_disagree():
    """Chunks of one sequence with different digests, or one index twice with other addresses, conflict."""
    first = decode(encode_body("prod", "w", 3, ["10.0.0.1/32"], digest="sha256:" + "0" * 64, chunk=(0, 2)))
    other = decode(encode_body("prod", "w", 3, ["10.0.0.2/32"], digest="sha256:" + "1" * 64, chunk=(1, 2)))
    assert refusal(assemble, [first, other]) == SEQUENCE_CONFLICT
    again = decode(encode_body("prod", "w", 3, ["10.0.0.3/32"], digest="sha256:" + "0" * 64, chunk=(0, 2)))
    assert refusal(assemble, [first, again]) == SEQUENCE_CONFLICT


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
    assert (parse_entry(entry) is not None) == ok


def _random_canonical_list(rng):
    """A canonical list of up to 60 prefixes near the special ranges and elsewhere, both families."""
    picked = {4: set(), 6: set()}
    for _ in range(rng.randint(1, 60)):
        if rng.random() < 0.6:
            base = rng.choice([0x7F000000, 0xA9FE0000, 0xE0000000, 0x0A000000, 0, 0xFFFFFF00, rng.getrandbits(32)])
            length = rng.choice([32, 32, 32, 31, 30, 24, 16, 8, 4])
            number = ((base + rng.randint(0, 300)) & 0xFFFFFFFF) & ~((1 << (32 - length)) - 1)
            picked[4].add(ipaddress.IPv4Network((number, length)))
        else:
            base = rng.choice([0, 1, 0xFE80 << 112, 0xFF00 << 112, 0x20010DB8 << 96, rng.getrandbits(128)])
            length = rng.choice([128, 128, 127, 64, 48, 10, 8])
            number = ((base + rng.randint(0, 300)) % (1 << 128)) & ~((1 << (128 - length)) - 1)
            picked[6].add(ipaddress.IPv6Network((number, length)))
    return [str(n) for version in (4, 6) for n in ipaddress.collapse_addresses(picked[version])]


def test_width_checks_of_a_checked_list_match_those_of_a_parsed_one():
    """``canonical.checked`` (what ingest hands check_width) refuses exactly what a full parse refuses."""
    rng = random.Random(25)
    settings = [
        {},
        {"refuse_special": ["loopback", "link-local", "multicast", "unspecified", "private"]},
        {"min_prefix": {"ipv4": 8, "ipv6": 16}, "max_span": {"ipv4": "/4", "ipv6": "/8"}},
    ]
    for _ in range(500):
        entries = _random_canonical_list(rng)
        for each in settings:
            outcomes = []
            for parsed in (parse_canonical(tuple(entries)), checked(entries)):
                try:
                    check_width(parsed, **each)
                    outcomes.append(None)
                except Refusal as refused:
                    outcomes.append((refused.reason, refused.detail))
            assert outcomes[0] == outcomes[1], (entries, each)
