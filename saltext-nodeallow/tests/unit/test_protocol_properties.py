# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Property tests of the receiver's decode path: any input is stored exactly as signed or refused for a known reason.

The path is ``receive_body`` (tag, keys, whole body, signature, decode, tag match) and, for a
complete snapshot, ``check_width``. Hypothesis drives arbitrary and near-valid bodies, tags and
headers through it; the only exception allowed out is :class:`Refusal` with a reason listed in
docs/protocol.md's table.
"""

import ipaddress
import json
import pathlib
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saltext.nodeallow.protocol import refusal as refusal_module
from saltext.nodeallow.protocol.canonical import _sort_key, parse_entry
from saltext.nodeallow.protocol.decode import decode
from saltext.nodeallow.protocol.limits import MAX_SEQUENCE, TRIMMED_PLACEHOLDER, check_width
from saltext.nodeallow.protocol.receive import receive_body
from saltext.nodeallow.protocol.refusal import BAD_SIGNATURE, TOO_LARGE, TOO_WIDE, Refusal
from saltext.nodeallow.protocol.signature import sign
from saltext.nodeallow.protocol.wire import BODY_MEMBERS, SIGNATURE_HEADER
from tests.support.master_side import encode_body

KEY = b"nodeallow-property-key"
OLD_KEY = b"nodeallow-property-old-key"
CLUSTERS = {"prod": {"signing_keys": [KEY.decode(), OLD_KEY.decode()]}}
TAG = "salt/netapi/hook/nodeallow/prod/workers"
PROTOCOL_DOC = pathlib.Path(__file__).resolve().parents[3] / "docs" / "protocol.md"


def documented_reasons():
    """The refusal reasons of docs/protocol.md's table (first column of the "Refusal reasons" section)."""
    section = PROTOCOL_DOC.read_text(encoding="utf-8").split("## Refusal reasons", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z-]+)` \|", section, flags=re.MULTILINE))


REASONS = documented_reasons()
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_the_doc_lists_every_reason_the_module_defines():
    """The table and the module's reason constants are the same set."""
    defined = {
        value
        for name, value in vars(refusal_module).items()
        if name.isupper() and isinstance(value, str) and re.fullmatch(r"[a-z]+(-[a-z]+)+|schema", value)
    }
    assert REASONS == defined


def receive(tag, body, headers):
    """The receiver path; returns the decoded body, or the Refusal (any other exception fails the test)."""
    try:
        _, _, decoded, _ = receive_body(tag, body, headers, CLUSTERS)
        if decoded["chunk"]["total"] == 1:
            check_width(decoded["addresses"])
        return decoded
    except Refusal as refusal:
        assert refusal.reason in REASONS, refusal
        assert isinstance(refusal.detail, str) and refusal.detail
        return refusal


def signed_headers(body, key=KEY):
    """Headers as the hook event carries them for a body signed with ``key``."""
    return {
        SIGNATURE_HEADER: sign(key, body),
        "Content-Length": str(len(body.encode("utf-8", "surrogatepass"))),
    }


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30,
)

ipv4_hosts = st.integers(min_value=0x0B000000, max_value=0x0BFFFFFF).map(
    lambda n: f"{n >> 24}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}/32"
)
ipv6_hosts = st.integers(min_value=1, max_value=(1 << 64) - 1).map(
    lambda n: str(ipaddress.IPv6Network(((0x20010DB8 << 96) | n, 128)))
)


def canonical(entries):
    """Sort and deduplicate host routes into the canonical order."""
    return [str(n) for n in sorted({parse_entry(e) for e in entries}, key=_sort_key)]


valid_bodies = st.builds(
    lambda v4, v6, seq: encode_body("prod", "workers", seq, canonical(v4 + v6)),
    st.lists(ipv4_hosts, min_size=1, max_size=30),
    st.lists(ipv6_hosts, max_size=10),
    st.integers(min_value=1, max_value=MAX_SEQUENCE),
)


@SETTINGS
@given(tag=st.one_of(st.just(TAG), st.text(max_size=80), st.none()), body=st.one_of(
    st.text(max_size=300),
    # Lone surrogates: a str that is not encodable as UTF-8 (no wire bytes decode to one, a caller might pass one).
    st.text(alphabet=st.characters(blacklist_categories=()), max_size=50),
    st.binary(max_size=100),
), headers=st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(["X-Hub-Signature-256", "x-hub-signature-256", "Content-Length", "X-Other"]),
                    st.one_of(st.text(max_size=80), st.integers(), st.none()), max_size=4),
))
def test_arbitrary_input_is_refused_for_a_documented_reason(tag, body, headers):
    """Random tags, bodies and headers: never an exception other than a documented Refusal."""
    got = receive(tag, body, headers)
    assert isinstance(got, Refusal)


@SETTINGS
@given(value=json_values)
def test_signed_arbitrary_json_decodes_or_is_refused(value):
    """A correctly signed body of any JSON (and raw text of it) is refused with a documented reason."""
    body = json.dumps(value)
    got = receive(TAG, body, signed_headers(body))
    assert isinstance(got, Refusal)


@SETTINGS
@given(body=valid_bodies, use_old=st.booleans())
def test_valid_bodies_decode_to_exactly_what_was_signed(body, use_old):
    """A valid body signed with the new or the old key decodes to its members, byte for byte."""
    got = receive(TAG, body, signed_headers(body, OLD_KEY if use_old else KEY))
    assert not isinstance(got, Refusal), got
    sent = json.loads(body)
    assert {name: got[name] for name in BODY_MEMBERS} == sent
    assert got["addresses"] == sent["addresses"]


@SETTINGS
@given(body=valid_bodies, data=st.data())
def test_any_change_to_a_signed_body_is_refused(body, data):
    """Flipping, inserting or deleting characters of a signed body: refused, never decoded as something else."""
    headers = signed_headers(body)
    position = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    edit = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
    if edit == "flip":
        changed = body[:position] + chr(ord(body[position]) ^ data.draw(st.integers(1, 127))) + body[position + 1 :]
    elif edit == "insert":
        changed = body[:position] + data.draw(st.text(min_size=1, max_size=3)) + body[position:]
    elif edit == "delete":
        changed = body[:position] + body[position + 1 :]
    else:
        changed = body[:position]
    got = receive(TAG, changed, headers)
    assert isinstance(got, Refusal)
    assert got.reason in (BAD_SIGNATURE, TOO_LARGE), got


@SETTINGS
@given(body=valid_bodies, junk=st.one_of(st.binary(max_size=40), st.text(max_size=40)))
def test_trimmed_or_cut_bodies_are_too_large(body, junk):
    """The bus's placeholder, or a body of another length than Content-Length, is too-large before the signature."""
    headers = signed_headers(body)
    got = receive(TAG, TRIMMED_PLACEHOLDER, headers)
    assert got.reason == TOO_LARGE
    cut = body[: len(body) // 2]
    assert receive(TAG, cut, headers).reason == TOO_LARGE


@SETTINGS
@given(raw=st.binary(max_size=300))
def test_decode_of_any_bytes_is_a_documented_refusal_or_a_body(raw):
    """decode alone, on any bytes: a dict of the body's members or a documented Refusal."""
    try:
        got = decode(raw)
    except Refusal as refusal:
        assert refusal.reason in REASONS
    else:
        assert set(got) == set(BODY_MEMBERS)


@SETTINGS
@given(
    entries=st.lists(
        st.one_of(
            st.builds(
                lambda n, length: str(ipaddress.IPv4Network((n, length), strict=False)),
                st.integers(0, (1 << 32) - 1),
                st.integers(0, 32),
            ),
            st.builds(
                lambda n, length: str(ipaddress.IPv6Network((n, length), strict=False)),
                st.integers(0, (1 << 128) - 1),
                st.integers(0, 128),
            ),
        ),
        max_size=20,
    )
)
def test_width_check_never_lets_more_than_the_span_through(entries):
    """Whatever the canonical list, check_width accepts it only within both limits, refusing for documented reasons."""
    ipv4 = [ipaddress.ip_network(e) for e in entries if ":" not in e]
    networks = ipaddress.collapse_addresses(ipv4)
    v4 = [str(n) for n in networks]
    try:
        check_width(v4, refuse_special=[])
    except Refusal as refusal:
        assert refusal.reason == TOO_WIDE
    else:
        assert all(ipaddress.ip_network(e).prefixlen >= 16 for e in v4)
        assert sum(ipaddress.ip_network(e).num_addresses for e in v4) <= 1 << 18
