# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""What a receiver allows (api/protocol/limits.go and protocol.go's limits): body limits, width limits.

Body limits: a body's size, chunks, addresses and sequence (too-large, schema, too-many-addresses),
and a hook event the event bus trimmed (:func:`check_whole`). Width limits (docs/protocol.md,
"Width limits"): the shortest prefix, the span of a family and the special source ranges
(too-wide, special-address, :func:`check_width`).
"""

import ipaddress
import socket

from saltext.nodeallow.protocol.canonical import BITS, AddressList, parse_canonical, parse_prefix
from saltext.nodeallow.protocol.refusal import SPECIAL_ADDRESS, TOO_LARGE, TOO_WIDE, Refusal
from saltext.nodeallow.protocol.wire import SIGNATURE_HEADER, as_bytes, header_value

# Body limits: the same numbers as api/protocol/protocol.go.
# The largest body a receiver accepts (too-large).
MAX_BODY_SIZE = 1 << 20
# The most chunks one sequence may be split into.
MAX_CHUNKS = 1000
# The most addresses one body may carry (too-many-addresses).
MAX_ADDRESSES_PER_CHUNK = 100000
# The most addresses one snapshot may hold in all its chunks (too-many-addresses).
MAX_ADDRESSES = 500000
# The largest sequence number (2^53-1, exact in every JSON implementation).
MAX_SEQUENCE = (1 << 53) - 1

# Width limits (docs/protocol.md, "Width limits"): the same numbers as api/protocol/limits.go. A span is
# a number of addresses, or "/P" for as many as one /P holds; node addresses are host routes, so these
# mainly bound static CIDRs. Master config: nodeallow:min_prefix and nodeallow:max_span.
DEFAULT_MIN_PREFIX = {"ipv4": 16, "ipv6": 48}
DEFAULT_MAX_SPAN = {"ipv4": "/14", "ipv6": "/44"}

# Source ranges that are a choice, not an accident (docs/security.md). Master config:
# nodeallow:refuse_special, a list of these names. Private ranges are allowed by default because node
# InternalIPs are private; the others never name a remote node.
SPECIAL_SOURCES = {
    "loopback": ("127.0.0.0/8", "::1/128"),
    "link-local": ("169.254.0.0/16", "fe80::/10"),
    "multicast": ("224.0.0.0/4", "ff00::/8"),
    "unspecified": ("0.0.0.0/8", "::/128"),
    "private": ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"),
}
DEFAULT_REFUSE_SPECIAL = ("loopback", "link-local", "multicast", "unspecified")

# The placeholder salt.utils.dicttrim writes over event values when an event exceeds max_event_size.
TRIMMED_PLACEHOLDER = "VALUE_TRIMMED"
TOO_LARGE_ADVICE = (
    "the hook event carries the body twice (body and post), so salt-api's max_request_body_size and "
    "the master's max_event_size must both hold twice the controller's spec.salt.maxBodyBytes; lower "
    "maxBodyBytes (default 262144) or raise max_event_size"
)


def check_whole(body, headers):
    """Refuse (too-large) a hook event whose body the event bus trimmed or that is not the length sent.

    Call it before the signature check: a trimmed body never verifies, and calling it a bad
    signature sends the operator after the wrong cause. ``headers`` is the event's ``headers``
    (``Content-Length`` and the signature header are read, matched case-insensitively); a
    missing or malformed Content-Length is left to the signature check, which such a body
    fails anyway.
    """
    trimmed = ["body"] if body == TRIMMED_PLACEHOLDER else []
    trimmed += [
        f"header {name}"
        for name in ("Content-Length", SIGNATURE_HEADER)
        if header_value(headers, name) == TRIMMED_PLACEHOLDER
    ]
    if trimmed:
        raise Refusal(
            TOO_LARGE,
            f"the event bus replaced the {' and the '.join(trimmed)} with {TRIMMED_PLACEHOLDER!r}: the event "
            f"exceeded the master's max_event_size; {TOO_LARGE_ADVICE}",
        )
    length = header_value(headers, "Content-Length")
    if isinstance(length, str) and length.isdigit() and length.isascii():
        try:
            got = len(as_bytes(body))
        except UnicodeEncodeError:
            return
        if got != int(length):
            raise Refusal(
                TOO_LARGE,
                f"the body has {got} bytes, the request's Content-Length says {length}: salt-api or the "
                f"event bus cut it (salt-api's max_request_body_size, the master's max_event_size); "
                f"{TOO_LARGE_ADVICE}",
            )


_FAMILIES = {"ipv4": (4, 32, socket.AF_INET), "ipv6": (6, 128, socket.AF_INET6)}


def width_limits(min_prefix=None, max_span=None):
    """Return ``{4: (shortest prefix, most addresses), 6: (...)}`` from the master's settings.

    ``min_prefix`` is ``nodeallow:min_prefix`` (``{ipv4: 16, ipv6: 48}``), ``max_span`` is
    ``nodeallow:max_span`` (``{ipv4: <addresses or "/P">, ipv6: ...}``); a family left out keeps its
    default. Raises ValueError naming the setting when a value is missing its bounds: no setting
    may allow a whole family (a /0, or a span of every address).
    """
    out = {}
    for name, (version, bits, _) in _FAMILIES.items():
        length = _setting(min_prefix, "min_prefix", name, DEFAULT_MIN_PREFIX)
        if isinstance(length, bool) or not isinstance(length, int) or not 1 <= length <= bits:
            raise ValueError(f"nodeallow:min_prefix:{name} is {length!r}, must be a prefix length 1 … {bits}")
        span = _setting(max_span, "max_span", name, DEFAULT_MAX_SPAN)
        if isinstance(span, str) and span.startswith("/") and span[1:].isdigit() and 1 <= int(span[1:]) <= bits:
            addresses = 1 << (bits - int(span[1:]))
        elif not isinstance(span, bool) and isinstance(span, int) and 1 <= span <= 1 << (bits - 1):
            addresses = span
        else:
            raise ValueError(
                f"nodeallow:max_span:{name} is {span!r}, must be a number of addresses 1 … 2^{bits - 1} "
                f"or a prefix-equivalent \"/P\" with P 1 … {bits}"
            )
        out[version] = (length, addresses)
    return out


def _setting(value, setting, family, default):
    """``value[family]``, or the default when ``value`` or the family is not given."""
    if value is None:
        return default[family]
    if not isinstance(value, dict):
        raise ValueError(f"nodeallow:{setting} must be a mapping with ipv4 and/or ipv6, not {value!r}")
    unknown = sorted(str(k) for k in value if k not in _FAMILIES)
    if unknown:
        raise ValueError(f"nodeallow:{setting} has unknown keys {unknown}; use ipv4 and ipv6")
    return value.get(family, default[family])


def special_networks(refuse_special=DEFAULT_REFUSE_SPECIAL):
    """Return ``[(name, version, first, last)]`` of the special source ranges named in ``refuse_special``.

    ``refuse_special`` is ``nodeallow:refuse_special``, a list of :data:`SPECIAL_SOURCES` names
    (``[]`` refuses none). Raises ValueError naming an unknown name.
    """
    if refuse_special is None:
        refuse_special = DEFAULT_REFUSE_SPECIAL
    if isinstance(refuse_special, str) or not isinstance(refuse_special, (list, tuple)):
        raise ValueError(
            f"nodeallow:refuse_special must be a list of {sorted(SPECIAL_SOURCES)}, not {refuse_special!r}"
        )
    out = []
    for name in refuse_special:
        if name not in SPECIAL_SOURCES:
            raise ValueError(f"nodeallow:refuse_special names {name!r}; known: {sorted(SPECIAL_SOURCES)}")
        for cidr in SPECIAL_SOURCES[name]:
            network = ipaddress.ip_network(cidr)
            out.append((name, network.version, int(network.network_address), int(network.broadcast_address)))
    return out


def _too_wide(index, entry, version, shortest):
    """The too-wide refusal of entry ``index`` shorter than ``/shortest``."""
    return Refusal(
        TOO_WIDE,
        f"addresses[{index}] {entry} is wider than the shortest allowed IPv{version} prefix, "
        f"/{shortest} (nodeallow:min_prefix:ipv{version})",
    )


def _too_much(version, span, most):
    """The too-wide refusal of a family whose entries cover ``span`` addresses, more than ``most``."""
    return Refusal(
        TOO_WIDE,
        f"the IPv{version} entries cover {span} addresses together, more than "
        f"{most} (nodeallow:max_span:ipv{version}): many narrow prefixes must not "
        "add up to a wide one",
    )


def _special(index, entry, name):
    """The special-address refusal of entry ``index`` overlapping special range ``name``."""
    return Refusal(
        SPECIAL_ADDRESS,
        f"addresses[{index}] {entry} overlaps the {name} range (refused by "
        "nodeallow:refuse_special); allow it there if it is meant",
    )


def check_width(entries, min_prefix=None, max_span=None, refuse_special=DEFAULT_REFUSE_SPECIAL):
    """Refuse a complete canonical address list that opens more than the receiver allows.

    ``too-wide``: an entry shorter than the family's ``min_prefix``, or the entries of one family
    together covering more than its ``max_span`` addresses (many narrow prefixes must not add up
    to the world). ``special-address``: an entry overlapping a range named in ``refuse_special``.
    Checked in that order; the settings are those of :func:`width_limits` and
    :func:`special_networks` (ValueError when they are invalid). Call it on the assembled snapshot
    (a list of strings, or the :class:`AddressList` that :func:`parse_list` made of it).
    """
    limits = width_limits(min_prefix, max_span)
    specials = special_networks(refuse_special)
    parsed = entries if isinstance(entries, AddressList) else parse_canonical(tuple(entries))
    if parsed is None:
        _check_width_slowly(entries, limits, specials)
        return
    for version in (4, 6):
        shortest = limits[version][0]
        for index, prefixlen, _, _ in parsed.nets(version):
            if prefixlen < shortest:
                where = parsed.offset(version) + index
                raise _too_wide(where, parsed.entries[where], version, shortest)
    for version in (4, 6):
        span = parsed.span(version)
        if span > limits[version][1]:
            raise _too_much(version, span, limits[version][1])
    hits = []
    for order, (name, version, low, high) in enumerate(specials):
        index = parsed.first_overlap(version, low, high)
        if index is not None:
            hits.append((index, order, name))
    if hits:
        index, _, name = min(hits)
        raise _special(index, parsed.entries[index], name)


def _check_width_slowly(entries, limits, specials):
    """:func:`check_width` of a list that is not canonical, entry by entry (ValueError for a bad entry)."""
    spans = {4: 0, 6: 0}
    ranges = []
    for index, entry in enumerate(entries):
        version, first, prefixlen, _ = parse_prefix(entry)
        last = first + (1 << (BITS[version] - prefixlen)) - 1
        shortest = limits[version][0]
        if prefixlen < shortest:
            raise _too_wide(index, entry, version, shortest)
        spans[version] += last - first + 1
        ranges.append((index, entry, version, first, last))
    for version, span in spans.items():
        if span > limits[version][1]:
            raise _too_much(version, span, limits[version][1])
    for index, entry, version, first, last in ranges:
        for name, special_version, low, high in specials:
            if version == special_version and first <= high and low <= last:
                raise _special(index, entry, name)
