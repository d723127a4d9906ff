# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""One body's JSON and schema, checked as a v1 receiver must (docs/protocol.md, "Receiving")."""

import datetime
import json
import re

from saltext.nodeallow.protocol.canonical import DIGEST_RE, EMPTY_DIGEST, check_canonical, digest
from saltext.nodeallow.protocol.limits import (
    MAX_ADDRESSES_PER_CHUNK,
    MAX_BODY_SIZE,
    MAX_CHUNKS,
    MAX_SEQUENCE,
    TOO_LARGE_ADVICE,
)
from saltext.nodeallow.protocol.refusal import (
    DIGEST_MISMATCH,
    MALFORMED_JSON,
    SCHEMA,
    TOO_LARGE,
    TOO_MANY_ADDRESSES,
    Refusal,
    shorten,
)
from saltext.nodeallow.protocol.wire import (
    BODY_MEMBERS,
    KIND_RETIREMENT,
    KIND_SNAPSHOT,
    VERSION,
    as_bytes,
    is_dns_label,
)

_TIME_RE = re.compile(
    r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z"
)


class _NotAnInteger:
    """A JSON number written with a fraction or exponent (the wire only writes plain integers)."""

    def __init__(self, text):
        """Remember the number's text."""
        self.text = text


def _reject_constant(name):
    """Refuse NaN/Infinity, which Python's json accepts and JSON does not."""
    raise ValueError(f"{name} is not JSON")


def _no_repeats(pairs):
    """object_pairs_hook: refuse an object that names a member twice (parsers disagree on which wins)."""
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise Refusal(MALFORMED_JSON, f"member {shorten(key)} appears more than once in one object")
        obj[key] = value
    return obj


def _parse_json(body):
    """Parse ``body`` (str) as one JSON object, strictly; raise :class:`Refusal` ``malformed-json``."""
    try:
        value = json.loads(
            body,
            object_pairs_hook=_no_repeats,
            parse_float=_NotAnInteger,
            parse_constant=_reject_constant,
        )
    except Refusal:
        raise
    except (ValueError, RecursionError) as exc:
        raise Refusal(MALFORMED_JSON, f"the body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise Refusal(MALFORMED_JSON, f"the body is a JSON {_json_type(value)}, not an object")
    return value


def _json_type(value):
    """The JSON type name of a parsed value, for refusal details."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def _integer(value, name, low, high):
    """Return ``value`` if it is a JSON integer within ``low`` … ``high``; else refuse (schema)."""
    if isinstance(value, _NotAnInteger):
        raise Refusal(SCHEMA, f"{name} {value.text} is not written as an integer (no fraction or exponent)")
    if isinstance(value, bool) or not isinstance(value, int):
        raise Refusal(SCHEMA, f"{name} is a JSON {_json_type(value)}, not an integer")
    if not low <= value <= high:
        raise Refusal(SCHEMA, f"{name} {value} is outside {low} … {high}")
    return value


def _string(members, name):
    """Return member ``name``, which must be a string; else refuse (schema)."""
    value = members[name]
    if not isinstance(value, str):
        raise Refusal(SCHEMA, f"{name} is a JSON {_json_type(value)}, not a string")
    return value


def decode(body):
    """Parse and validate one raw body (str or bytes) as a v1 receiver must; return it as a dict.

    Checks, in this order (the same as the Go side): size (too-large); one JSON
    object without repeated members (malformed-json); members, types, ranges and
    names (schema); the address count (too-many-addresses); every entry
    (bad-address); order and overlap within the body (not-canonical); and, when
    the body is the whole snapshot, the digest (digest-mismatch). The signature
    and the tag are checked by the caller, before and after.

    The result has the body's members, with ``sequence`` and ``chunk`` as checked integers.
    """
    try:
        raw = as_bytes(body) if isinstance(body, str) else body
    except UnicodeEncodeError as exc:
        # Only a str with lone surrogates gets here; no byte sequence on the wire decodes to one.
        raise Refusal(MALFORMED_JSON, "the body is not valid UTF-8 text") from exc
    if not isinstance(raw, bytes):
        raise Refusal(MALFORMED_JSON, f"the body is a {type(body).__name__}, not text")
    if len(raw) > MAX_BODY_SIZE:
        raise Refusal(
            TOO_LARGE, f"the body has {len(raw)} bytes, more than {MAX_BODY_SIZE}; {TOO_LARGE_ADVICE}"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refusal(MALFORMED_JSON, "the body is not valid UTF-8") from exc
    members = _parse_json(text)
    for name in members:
        if name not in BODY_MEMBERS:
            if name == "arg":
                raise Refusal(SCHEMA, 'unknown member "arg" (salt-api rewrites it)')
            raise Refusal(SCHEMA, f"unknown member {shorten(name)}")
    for name in BODY_MEMBERS:
        if name not in members:
            raise Refusal(SCHEMA, f"member {name!r} is missing")
    if _string(members, "protocol") != VERSION:
        raise Refusal(SCHEMA, f"protocol {shorten(members['protocol'])} is not {VERSION!r}")
    kind = _string(members, "kind")
    if kind not in (KIND_SNAPSHOT, KIND_RETIREMENT):
        raise Refusal(SCHEMA, f"kind {shorten(kind)} is neither {KIND_SNAPSHOT!r} nor {KIND_RETIREMENT!r}")
    for name in ("cluster", "allowlist"):
        if not is_dns_label(_string(members, name)):
            raise Refusal(
                SCHEMA, f"{name} {shorten(members[name])} is not a DNS label (1-63 of a-z, 0-9 and '-')"
            )
    sequence = _integer(members["sequence"], "sequence", 1, MAX_SEQUENCE)
    body_digest = _string(members, "digest")
    if DIGEST_RE.fullmatch(body_digest) is None:
        raise Refusal(SCHEMA, f"digest {shorten(body_digest)} is not 'sha256:' and 64 lowercase hex digits")
    generated_at = _string(members, "generatedAt")
    if _TIME_RE.fullmatch(generated_at) is None:
        raise Refusal(
            SCHEMA,
            f"generatedAt {shorten(generated_at)} is not RFC 3339 UTC with seconds precision, "
            "like 2026-01-02T15:04:05Z",
        )
    try:
        datetime.datetime.strptime(generated_at, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError as exc:
        raise Refusal(SCHEMA, f"generatedAt {generated_at!r} is not a real time: {exc}") from exc
    index, total = _chunk(members["chunk"])
    entries = members["addresses"]
    if not isinstance(entries, list):
        raise Refusal(SCHEMA, f"addresses is a JSON {_json_type(entries)}, not an array")
    if not set(map(type, entries)) <= {str}:  # one C-level pass; the loop only names the first offender
        for i, entry in enumerate(entries):
            if not isinstance(entry, str):
                raise Refusal(SCHEMA, f"addresses[{i}] is a JSON {_json_type(entry)}, not a string")
    if kind == KIND_RETIREMENT and (entries or body_digest != EMPTY_DIGEST or total != 1):
        raise Refusal(
            SCHEMA,
            f'a retirement must have addresses [], digest {EMPTY_DIGEST} and chunk {{"index":0,"total":1}}',
        )
    if total > 1 and not entries:
        raise Refusal(
            SCHEMA,
            f"chunk {index} of {total} holds no addresses; every chunk of a split snapshot holds at least one",
        )
    if len(entries) > MAX_ADDRESSES_PER_CHUNK:
        raise Refusal(
            TOO_MANY_ADDRESSES, f"the body holds {len(entries)} addresses, more than {MAX_ADDRESSES_PER_CHUNK}"
        )
    check_canonical(entries)
    if total == 1:
        got = digest(entries)
        if got != body_digest:
            raise Refusal(DIGEST_MISMATCH, f"the addresses hash to {got}, the body says {body_digest}")
    result = {name: members[name] for name in BODY_MEMBERS}
    result["sequence"] = sequence
    result["chunk"] = {"index": index, "total": total}
    return result


def _chunk(value):
    """Return ``(index, total)`` of a chunk member ``{"index": i, "total": n}``, 0 <= i < n <= 1000."""
    if not isinstance(value, dict):
        raise Refusal(SCHEMA, f"chunk is a JSON {_json_type(value)}, not an object")
    for name in value:
        if name not in ("index", "total"):
            raise Refusal(SCHEMA, f"unknown member {shorten(name)} in chunk")
    for name in ("index", "total"):
        if name not in value:
            raise Refusal(SCHEMA, f"chunk.{name} is missing")
    index = _integer(value["index"], "chunk.index", 0, MAX_CHUNKS - 1)
    total = _integer(value["total"], "chunk.total", 1, MAX_CHUNKS)
    if index >= total:
        raise Refusal(SCHEMA, f"chunk.index {index} is not below chunk.total {total}")
    return index, total
