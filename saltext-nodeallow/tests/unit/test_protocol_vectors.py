# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""saltext.nodeallow.protocol against the shared protocol v1 vectors and JSON Schema (test/protocol/v1)."""

import json
import re

import jsonschema
import pytest

from saltext.nodeallow.protocol.assembly import assemble
from saltext.nodeallow.protocol.canonical import check_canonical, digest
from saltext.nodeallow.protocol.decode import decode
from saltext.nodeallow.protocol.limits import check_width
from saltext.nodeallow.protocol.refusal import BAD_SIGNATURE, MISSING_SIGNATURE, Refusal
from saltext.nodeallow.protocol.signature import sign, verify_signature, verify_signature_any
from saltext.nodeallow.protocol.wire import VERSION
from tests.support.master_side import load_schema, load_status_vectors, load_vectors

VECTORS = load_vectors()
SCHEMA = load_schema()


def _ecma_pattern(validator, pattern, instance, schema):  # pylint: disable=unused-argument
    """The ``pattern`` keyword with ECMA-262's '$' (end of string), as schema.json says it means.

    python-jsonschema uses re.search, where '$' also matches before a final
    newline, so "prod\n" would pass as a DNS label. The schema's patterns use '$'
    only as the final anchor.
    """
    if not validator.is_type(instance, "string"):
        return
    if re.search(re.sub(r"(?<!\\)\$", r"\\Z", pattern), instance) is None:
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


VALIDATOR = jsonschema.validators.extend(
    jsonschema.Draft202012Validator, {"pattern": _ecma_pattern}
)(SCHEMA)


def _ids(items):
    """Test ids from the vectors' names."""
    return [item["name"] for item in items]


def test_vectors_cover_every_section():
    """The vectors file has the sections these tests read, each non-empty (a truncated file fails here)."""
    assert VECTORS["protocol"] == VERSION
    for section in ("signatures", "signatureChecks", "snapshots", "invalid", "keyRingChecks", "limitChecks"):
        assert VECTORS[section], section


def test_schema_is_a_valid_draft_2020_12_schema():
    """schema.json itself is a valid JSON Schema."""
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("vector", VECTORS["signatures"], ids=_ids(VECTORS["signatures"]))
def test_signature_vectors_verify(vector):
    """Every signature vector verifies, and flipping any one body byte or header digit makes it fail."""
    key = bytes.fromhex(vector["keyHex"])
    assert sign(key, vector["body"]) == vector["header"]
    verify_signature(key, vector["body"], vector["header"])
    body = vector["body"].encode("utf-8")
    for position in {0, len(body) // 2, len(body) - 1} if body else set():
        flipped = bytearray(body)
        flipped[position] ^= 0x01
        with pytest.raises(Refusal) as refused:
            verify_signature(key, bytes(flipped), vector["header"])
        assert refused.value.reason == BAD_SIGNATURE
    header = vector["header"]
    last = "0" if header[-1] != "0" else "1"
    with pytest.raises(Refusal) as refused:
        verify_signature(key, vector["body"], header[:-1] + last)
    assert refused.value.reason == BAD_SIGNATURE


@pytest.mark.parametrize("vector", VECTORS["signatureChecks"], ids=_ids(VECTORS["signatureChecks"]))
def test_signature_checks(vector):
    """Each header form is accepted or refused exactly as the vectors say (lowercase 'sha256=<hex>' only)."""
    key = bytes.fromhex(vector["keyHex"])
    if vector["valid"]:
        verify_signature(key, vector["body"], vector["header"])
        return
    with pytest.raises(Refusal) as refused:
        verify_signature(key, vector["body"], vector["header"])
    assert refused.value.reason == BAD_SIGNATURE


def test_missing_signature_header_is_its_own_reason():
    """No header at all is 'missing-signature', not 'bad-signature'."""
    with pytest.raises(Refusal) as refused:
        verify_signature(b"key", "{}", None)
    assert refused.value.reason == MISSING_SIGNATURE


@pytest.mark.parametrize("vector", VECTORS["snapshots"], ids=_ids(VECTORS["snapshots"]))
def test_snapshot_vectors_validate_assemble_and_digest(vector):
    """Every valid body decodes; its chunks assemble in any order to the canonical list with the digest."""
    assert digest(vector["canonical"]) == vector["digest"]
    decoded = [decode(body) for body in vector["bodies"]]
    assert [len(body.encode()) for body in vector["bodies"]] == vector["bodyBytes"]
    for body in decoded:
        assert body["sequence"] == vector["sequence"]
        assert body["digest"] == vector["digest"]
        assert body["kind"] == vector["kind"]
        assert (body["cluster"], body["allowlist"]) == (vector["cluster"], vector["allowlist"])
    assert assemble(decoded) == vector["canonical"]
    # Reversed and with a duplicate: chunks may arrive in any order and more than once.
    assert assemble(list(reversed(decoded)) + decoded[:1]) == vector["canonical"]
    check_canonical(vector["canonical"])


@pytest.mark.parametrize("vector", VECTORS["snapshots"], ids=_ids(VECTORS["snapshots"]))
def test_snapshot_vectors_match_the_schema(vector):
    """Every valid body validates against schema.json."""
    for body in vector["bodies"]:
        VALIDATOR.validate(json.loads(body))


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=_ids(VECTORS["invalid"]))
def test_invalid_bodies_are_refused_with_the_expected_reason(vector):
    """Every invalid body is refused with exactly the reason the vectors name."""
    with pytest.raises(Refusal) as refused:
        decode(vector["body"])
    assert refused.value.reason == vector["reason"], refused.value.detail


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=_ids(VECTORS["invalid"]))
def test_invalid_bodies_against_the_schema(vector):
    """schema.json accepts or refuses each invalid body as the vectors' schemaAccepts says."""
    try:
        document = json.loads(vector["body"])
    except ValueError:
        assert not vector["schemaAccepts"]
        return
    # Some schema-reason refusals are beyond JSON Schema (index < total, real dates, integers
    # written as 5.0); the vectors mark those with schemaAccepts, and the receiver's own checks
    # (test above) refuse them.
    assert VALIDATOR.is_valid(document) == vector["schemaAccepts"]


@pytest.mark.parametrize("vector", VECTORS["keyRingChecks"], ids=_ids(VECTORS["keyRingChecks"]))
def test_key_ring_checks(vector):
    """verify_signature_any returns the index of the first key that matches, or refuses bad-signature."""
    keys = [bytes.fromhex(k) for k in vector["keysHex"]]
    if vector["match"] < 0:
        with pytest.raises(Refusal) as refused:
            verify_signature_any(keys, vector["body"], vector["header"])
        assert refused.value.reason == BAD_SIGNATURE
    else:
        assert verify_signature_any(keys, vector["body"], vector["header"]) == vector["match"]


@pytest.mark.parametrize("vector", VECTORS["limitChecks"], ids=_ids(VECTORS["limitChecks"]))
def test_limit_checks(vector):
    """check_width accepts or refuses (too-wide) each list under the vector's limits, with no special ranges refused."""
    limits = vector["limits"]
    kwargs = {
        "min_prefix": limits["minPrefix"],
        "max_span": {family: f"/{p}" for family, p in limits["maxSpanPrefix"].items()},
        "refuse_special": [],
    }
    assert check_canonical(vector["addresses"]) is not None
    if vector["reason"]:
        with pytest.raises(Refusal) as refused:
            check_width(vector["addresses"], **kwargs)
        assert refused.value.reason == vector["reason"]
    else:
        check_width(vector["addresses"], **kwargs)


def test_status_answers_match_the_entry_schema():
    """Every nodeallow.status answer the Go decoder is tested with holds entries the runner could write."""
    vectors = load_status_vectors()
    checked = 0
    for answer in vectors["answers"]:
        body = answer.get("body") or {}
        for ret in body.get("return", []):
            if isinstance(ret, dict):
                for entry in ret["data"].values():
                    jsonschema.validate(entry, vectors["entrySchema"])
                    checked += 1
    assert checked >= 3
