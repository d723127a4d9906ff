# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Signatures (api/protocol/signature.go): HMAC-SHA256 of the exact body bytes, and a cluster's signing keys."""

import hashlib
import hmac
import re

from saltext.nodeallow.protocol.refusal import BAD_SIGNATURE, MISSING_SIGNATURE, Refusal
from saltext.nodeallow.protocol.wire import SIGNATURE_HEADER, as_bytes

# Starts every signature header value (GitHub's webhook format).
SIGNATURE_PREFIX = "sha256="
_SIGNATURE_HEX_RE = re.compile(r"[0-9a-f]{64}")


def sign(key, body):
    """Return the ``X-Hub-Signature-256`` value for ``body`` (bytes or str) under ``key`` (bytes or str)."""
    return SIGNATURE_PREFIX + hmac.new(as_bytes(key), as_bytes(body), hashlib.sha256).hexdigest()


def verify_signature(key, body, header):
    """Check ``header`` against the HMAC-SHA256 of the exact ``body`` bytes in constant time.

    Raises :class:`Refusal` (``missing-signature`` or ``bad-signature``). Only the
    lowercase ``sha256=<64 hex>`` form is accepted, as the controller writes it.
    """
    verify_signature_any([key], body, header)


def _signed_parts(body, header):
    """Return ``(body bytes, given hex)`` of a well-formed signature header, or refuse (bad-signature)."""
    if header is None:
        raise Refusal(MISSING_SIGNATURE, f"the request has no {SIGNATURE_HEADER} header")
    if not isinstance(header, str) or not header.startswith(SIGNATURE_PREFIX):
        raise Refusal(BAD_SIGNATURE, f"{SIGNATURE_HEADER} is not 'sha256=<hex>'")
    given = header[len(SIGNATURE_PREFIX) :]
    if _SIGNATURE_HEX_RE.fullmatch(given) is None:
        raise Refusal(BAD_SIGNATURE, f"{SIGNATURE_HEADER} is not 64 lowercase hex digits after 'sha256='")
    try:
        return as_bytes(body), given.encode("ascii")
    except UnicodeEncodeError as exc:
        raise Refusal(BAD_SIGNATURE, "the body is not valid UTF-8 text, so no signature matches") from exc


def signing_keys(entry):
    """Return the signing keys (bytes, newest first) of one ``nodeallow:clusters:<cluster>`` entry.

    Accepts ``signing_key: "<key>"``, ``signing_keys: ["<new>", "<old>"]`` or both (``signing_key``
    first). Empty keys are dropped: an empty key would make every signature forgeable. Returns ``[]``
    when the entry has no key; raises ValueError naming the setting when it is of the wrong type.
    """
    if not isinstance(entry, dict):
        return []
    keys = []
    single = entry.get("signing_key")
    many = entry.get("signing_keys")
    if many is not None and not isinstance(many, (list, tuple)):
        raise ValueError("signing_keys must be a list of keys, newest first, e.g. [<new>, <old>]")
    for key in ([single] if single is not None else []) + list(many or []):
        if not isinstance(key, (str, bytes)):
            raise ValueError(f"a signing key is a {type(key).__name__}, not a string; quote it in the master config")
        key = key if isinstance(key, bytes) else key.encode("utf-8")
        if key and key not in keys:
            keys.append(key)
    return keys


def verify_signature_any(keys, body, header):
    """Check ``header`` against every key in ``keys`` (newest first); return the index of the first match.

    Every key is checked, also after a match, so the time taken does not say which key matched
    (a cluster holds its new and its old key during a rotation, docs/security.md). Raises
    :class:`Refusal`: ``missing-signature`` without a header, ``bad-signature`` when the header is
    malformed, no non-empty key is given (an empty key would make every signature forgeable) or
    no key matches.
    """
    body_bytes, given = _signed_parts(body, header)
    keys = [as_bytes(key) for key in keys or () if key]
    if not keys:
        raise Refusal(BAD_SIGNATURE, "the cluster's signing key is empty")
    match = None
    for index, key in enumerate(keys):
        expected = hmac.new(key, body_bytes, hashlib.sha256).hexdigest().encode("ascii")
        if hmac.compare_digest(expected, given) and match is None:
            match = index
    if match is None:
        which = "the signing key" if len(keys) == 1 else f"any of the cluster's {len(keys)} signing keys"
        raise Refusal(BAD_SIGNATURE, f"the HMAC-SHA256 of the body under {which} does not match the signature header")
    return match
