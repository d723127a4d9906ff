# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""nodeallow wire protocol v1, receiver side (docs/protocol.md): signatures, body validation, digests.

A plain module (not loaded by Salt's loader) so the runner, the ext_pillar and the
tests share one implementation. Every check refuses with a :class:`Refusal`
whose ``reason`` is one of the protocol's refusal reasons; nothing is repaired.
"""

import bisect
import datetime
import hashlib
import hmac
import ipaddress
import itertools
import json
import operator
import re
import socket

VERSION = "nodeallow/v1"
SIGNATURE_HEADER = "X-Hub-Signature-256"
SIGNATURE_PREFIX = "sha256="
DEFAULT_HOOK_PATH = "nodeallow"
HOOK_TAG_PREFIX = "salt/netapi/hook/"

MAX_BODY_SIZE = 1 << 20
MAX_CHUNKS = 1000
MAX_ADDRESSES_PER_CHUNK = 100000
MAX_ADDRESSES = 500000
MAX_SEQUENCE = (1 << 53) - 1
EMPTY_DIGEST = "sha256:" + hashlib.sha256(b"").hexdigest()

KIND_SNAPSHOT = "snapshot"
KIND_RETIREMENT = "retirement"

BODY_MEMBERS = (
    "protocol",
    "kind",
    "cluster",
    "allowlist",
    "sequence",
    "digest",
    "generatedAt",
    "chunk",
    "addresses",
)

# Refusal reasons of docs/protocol.md.
BAD_TAG = "bad-tag"
UNKNOWN_CLUSTER = "unknown-cluster"
MISSING_SIGNATURE = "missing-signature"
BAD_SIGNATURE = "bad-signature"
TOO_LARGE = "too-large"
MALFORMED_JSON = "malformed-json"
SCHEMA = "schema"
TAG_MISMATCH = "tag-mismatch"
BAD_ADDRESS = "bad-address"
NOT_CANONICAL = "not-canonical"
DIGEST_MISMATCH = "digest-mismatch"
SEQUENCE_CONFLICT = "sequence-conflict"
TOO_MANY_ADDRESSES = "too-many-addresses"
TOO_WIDE = "too-wide"
SPECIAL_ADDRESS = "special-address"

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
_TOO_LARGE_ADVICE = (
    "the hook event carries the body twice (body and post), so salt-api's max_request_body_size and "
    "the master's max_event_size must both hold twice the controller's spec.salt.maxBodyBytes; lower "
    "maxBodyBytes (default 262144) or raise max_event_size"
)

# fullmatch everywhere: Python's '$' also matches before a trailing newline.
_DNS_LABEL_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
_TIME_RE = re.compile(
    r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z"
)
_SIGNATURE_HEX_RE = re.compile(r"[0-9a-f]{64}")


class Refusal(Exception):
    """A body (or its tag or headers) that must be refused; ``reason`` is a docs/protocol.md reason."""

    def __init__(self, reason, detail):
        """Refuse with ``reason`` (e.g. ``"schema"``) and a human ``detail`` naming what is wrong."""
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def is_dns_label(value):
    """Whether ``value`` is a DNS label (1-63 of a-z, 0-9, '-', no '-' at either end)."""
    return (
        isinstance(value, str) and 1 <= len(value) <= 63 and _DNS_LABEL_RE.fullmatch(value) is not None
    )


def parse_tag(tag, hook_path=DEFAULT_HOOK_PATH):
    """Return ``(cluster, allowlist)`` from ``salt/netapi/hook/<hook_path>/<cluster>/<allowlist>``.

    Raises :class:`Refusal` ``bad-tag`` for anything else.
    """
    prefix = f"{HOOK_TAG_PREFIX}{hook_path}/"
    if not isinstance(tag, str) or not tag.startswith(prefix):
        raise Refusal(BAD_TAG, f"the tag does not start with {prefix!r}")
    parts = tag[len(prefix) :].split("/")
    if len(parts) != 2 or not all(is_dns_label(part) for part in parts):
        raise Refusal(
            BAD_TAG, f"the tag must end in <cluster>/<allowlist>, two DNS labels, after {prefix!r}"
        )
    return parts[0], parts[1]


def header_value(headers, name):
    """Return header ``name`` from a header dict, matched case-insensitively, or ``None``."""
    if not isinstance(headers, dict):
        return None
    wanted = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted:
            return value
    return None


def sign(key, body):
    """Return the ``X-Hub-Signature-256`` value for ``body`` (bytes or str) under ``key`` (bytes or str)."""
    return SIGNATURE_PREFIX + hmac.new(_bytes(key), _bytes(body), hashlib.sha256).hexdigest()


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
        return _bytes(body), given.encode("ascii")
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
    keys = [_bytes(key) for key in keys or () if key]
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
            f"exceeded the master's max_event_size; {_TOO_LARGE_ADVICE}",
        )
    length = header_value(headers, "Content-Length")
    if isinstance(length, str) and length.isdigit() and length.isascii():
        try:
            got = len(_bytes(body))
        except UnicodeEncodeError:
            return
        if got != int(length):
            raise Refusal(
                TOO_LARGE,
                f"the body has {got} bytes, the request's Content-Length says {length}: salt-api or the "
                f"event bus cut it (salt-api's max_request_body_size, the master's max_event_size); "
                f"{_TOO_LARGE_ADVICE}",
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
    parsed = entries if isinstance(entries, AddressList) else _build(tuple(entries))
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
        last = first + (1 << (_BITS[version] - prefixlen)) - 1
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


# Addresses: the one parser of CIDR text in Python, shared by the master (wire entries) and the minion
# (pillar copies, its last-known-good store, what firewalls list back).

# Checked before parsing: Python's ipaddress accepts IPv6 zones ("%eth0"), whose text is free-form.
_ADDRESS_CHARS_RE = re.compile(r"[0-9A-Fa-f.:/]{2,49}")
_BITS = {4: 32, 6: 128}
_AF = {4: socket.AF_INET, 6: socket.AF_INET6}
_HOST_LENGTH = {4: "32", 6: "128"}
_MAPPED_PREFIX = b"\0" * 10 + b"\xff\xff"
_ZERO_PREFIX = b"\0" * 12
# A list with more bad entries than this reports only the first ones.
MAX_PROBLEMS = 20


class AddressError(ValueError):
    """A list of addresses has bad entries; ``problems`` is ``[(index, value, reason)]`` (at most 20)."""

    def __init__(self, problems):
        """Collect ``problems``, each naming the entry's index, its value and what is wrong."""
        self.problems = list(problems)
        super().__init__("; ".join(f"[{i}] {_shorten(v)} {r}" for i, v, r in self.problems))


def parse_prefix(value):
    """``(version, network as int, prefix length, canonical text)`` of one CIDR string (no length: a host).

    Raises ValueError saying what is wrong: characters other than hex digits, '.', ':' and '/'
    (so no zone or nft syntax can pass), an unparsable address, a bad length, host bits set, or
    an IPv4-mapped IPv6 address. The canonical text is docs/protocol.md's (``str()`` of
    Python's ipaddress network), whatever spelling ``value`` used.
    """
    if not isinstance(value, str) or not _ADDRESS_CHARS_RE.fullmatch(value):
        raise ValueError("only hex digits, '.', ':' and '/' are allowed")
    addr, sep, length = value.partition("/")
    version = 6 if ":" in addr else 4
    bits = _BITS[version]
    try:
        packed = socket.inet_pton(_AF[version], addr)
    except OSError:
        raise ValueError(f"{addr!r} is not an IPv{version} address") from None
    if not sep:
        prefixlen = bits
    elif length.isdigit() and (length == "0" or not length.startswith("0")) and int(length) <= bits:
        prefixlen = int(length)
    else:
        raise ValueError(f"prefix length {length!r} is not 0-{bits}")
    number = int.from_bytes(packed, "big")
    if number & ((1 << (bits - prefixlen)) - 1):
        raise ValueError("host bits are set (strict CIDR: write the network address)")
    if version == 4:
        text = socket.inet_ntop(socket.AF_INET, packed)
    elif packed[:12] == _MAPPED_PREFIX:
        raise ValueError("IPv4-mapped IPv6 address: write the IPv4 form")
    elif packed[:12] == _ZERO_PREFIX:
        # inet_ntop may print these in mixed notation; RFC 5952 as Python writes it.
        text = str(ipaddress.IPv6Address(packed))
    else:
        text = socket.inet_ntop(socket.AF_INET6, packed)
    return version, number, prefixlen, f"{text}/{prefixlen}"


class AddressList:
    """A validated canonical address list (sorted, IPv4 first, no overlaps) and what width checks need.

    Made by :func:`parse_list`. ``entries`` is the tuple of canonical strings; per family it keeps
    the packed network addresses (sorted) and the entries shorter than a host route.
    """

    __slots__ = ("entries", "_count4", "_packed", "_nets")

    def __init__(self, entries, count4, packed, nets):
        """Wrap what :func:`parse_list` computed (use that instead)."""
        self.entries = entries
        self._count4 = count4
        self._packed = packed
        self._nets = nets

    def offset(self, version):
        """Index in ``entries`` of the first entry of ``version``."""
        return 0 if version == 4 else self._count4

    def family(self, version):
        """The entries of ``version`` (4 or 6)."""
        return self.entries[: self._count4] if version == 4 else self.entries[self._count4 :]

    def nets(self, version):
        """``[(index within the family, prefix length, first, last)]`` of the non-host entries of ``version``."""
        return self._nets[version]

    def span(self, version):
        """How many addresses the entries of ``version`` cover together."""
        nets = self._nets[version]
        return len(self._packed[version]) - len(nets) + sum(last - first + 1 for _, _, first, last in nets)

    def first_overlap(self, version, low, high):
        """Index in ``entries`` of the first entry overlapping ``low`` … ``high`` (ints), or ``None``."""
        keys = self._packed[version]
        size = _BITS[version] // 8
        first = bisect.bisect_left(keys, low.to_bytes(size, "big"))
        if first > 0:
            # The entry starting before ``low`` may be a prefix reaching into the range.
            ends = {index: last for index, _, _, last in self._nets[version]}
            if ends.get(first - 1, -1) >= low:
                return self.offset(version) + first - 1
        if first < len(keys) and keys[first] <= high.to_bytes(size, "big"):
            return self.offset(version) + first
        return None


def _fast_family(version, entries):
    """``(packed, nets)`` of one family's entries when they are canonical and in order, else ``None``."""
    if not entries:
        return [], []
    host = _HOST_LENGTH[version]
    bits = _BITS[version]
    if ("\n".join(entries)).count("/") != len(entries):
        return None  # each entry has exactly one "/"
    cut = len(host) + 1
    is_host = list(map(operator.methodcaller("endswith", f"/{host}"), entries))
    addrs = list(map(operator.itemgetter(slice(0, -cut)), entries))
    lengths = {}
    for index in itertools.compress(range(len(entries)), map(operator.not_, is_host)):
        addr, _, length = entries[index].partition("/")
        if not (
            length.isdigit()
            and length.isascii()
            and (length == "0" or not length.startswith("0"))
            and int(length) <= bits
        ):
            return None
        addrs[index] = addr
        lengths[index] = int(length)
    if len(addrs) != len(entries):
        return None
    family = _AF[version]
    try:
        packed = list(map(socket.inet_pton, itertools.repeat(family), addrs))
    except (OSError, ValueError):
        return None
    if version == 6:
        heads = list(map(operator.itemgetter(slice(0, 12)), packed))
        if _MAPPED_PREFIX in heads:
            return None
        texts = list(map(socket.inet_ntop, itertools.repeat(family), packed))
        if _ZERO_PREFIX in heads:
            # inet_ntop may print these in mixed notation; the canonical text is Python's.
            for index in (i for i, head in enumerate(heads) if head == _ZERO_PREFIX):
                texts[index] = str(ipaddress.IPv6Address(packed[index]))
        if texts != addrs:
            return None
    # IPv4 needs no round trip: inet_pton (glibc, musl) takes only the canonical dotted quad
    # (four decimal parts, no leading zeros, nothing around them); the tests check it.
    if not all(map(bytes.__lt__, packed, itertools.islice(packed, 1, None))):
        return None
    nets = []
    for index, prefixlen in sorted(lengths.items()):
        first = int.from_bytes(packed[index], "big")
        last = first + (1 << (bits - prefixlen)) - 1
        if first & ((1 << (bits - prefixlen)) - 1):
            return None
        if index + 1 < len(packed) and int.from_bytes(packed[index + 1], "big") <= last:
            return None
        nets.append((index, prefixlen, first, last))
    return packed, nets


def _build(entries):
    """The :class:`AddressList` of a tuple of strings ``entries``, or ``None`` when it is not canonical."""
    first6 = "\n".join(entries).find(":")
    count4 = len(entries) if first6 < 0 else "\n".join(entries).count("\n", 0, first6)
    if not all(map(operator.contains, itertools.islice(entries, count4, None), itertools.repeat(":"))):
        return None
    v4 = _fast_family(4, entries[:count4])
    v6 = _fast_family(6, entries[count4:])
    if v4 is None or v6 is None:
        return None
    return AddressList(entries, count4, {4: v4[0], 6: v6[0]}, {4: v4[1], 6: v6[1]})


def parse_list(values, allow_everyone=False):
    """Validate a list of CIDR strings; return it as an :class:`AddressList`, collapsed and sorted if it was not.

    A canonical list (what the master stores) is checked in a few passes of C-level maps; any
    other list is parsed entry by entry with :func:`parse_prefix` and collapsed with
    ``ipaddress``. A ``/0`` is a problem unless ``allow_everyone``. Raises :class:`AddressError`
    listing up to :data:`MAX_PROBLEMS` bad entries.
    """
    entries = tuple(values)
    if not entries or set(map(type, entries)) == {str}:  # exactly str: a subclass may override methods
        built = _build(entries)
        if built is not None and (allow_everyone or all(n[1] for v in (4, 6) for n in built.nets(v))):
            return built
    problems = []
    parsed = []
    for index, value in enumerate(entries):
        if not isinstance(value, str):
            problems.append((index, value, "is not an address string"))
        else:
            try:
                entry = parse_prefix(value)
            except ValueError as exc:
                problems.append((index, value, f"is not a CIDR prefix ({exc})"))
            else:
                if entry[2] == 0 and not allow_everyone:
                    problems.append((index, value, "would allow everyone; list real prefixes"))
                parsed.append(entry)
        if len(problems) >= MAX_PROBLEMS:
            break
    if problems:
        raise AddressError(problems)
    nets = {4: [], 6: []}
    for version, _, _, text in parsed:
        nets[version].append(ipaddress.ip_network(text))
    out = [str(n) for n in ipaddress.collapse_addresses(nets[4])]
    out += [str(n) for n in ipaddress.collapse_addresses(nets[6])]
    built = _build(tuple(out))
    if built is None:
        raise AssertionError(f"the collapsed list is not canonical: {out[:5]}")
    return built


def _bytes(value):
    """``value`` as bytes (str is encoded as UTF-8, strictly)."""
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")


def digest(entries):
    """Return ``sha256:<hex>`` of the canonical list ``entries`` (strings), each followed by a newline."""
    hasher = hashlib.sha256()
    for entry in entries:
        hasher.update(entry.encode("ascii") + b"\n")
    return "sha256:" + hasher.hexdigest()


def parse_entry(entry):
    """Return the network of one wire entry when it is spelled exactly canonically, else ``None``."""
    if not isinstance(entry, str) or "/" not in entry:
        return None
    try:
        version, number, prefixlen, text = parse_prefix(entry)
    except ValueError:
        return None
    if text != entry:
        return None
    return (ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network)((number, prefixlen))


def _sort_key(network):
    """The canonical order: IPv4 before IPv6, then network address, then prefix length."""
    return (network.version, int(network.network_address), network.prefixlen)


def check_canonical(entries, offset=0):
    """Check that ``entries`` is a canonical list (or a contiguous run of one); return the networks.

    Raises :class:`Refusal` ``bad-address`` or ``not-canonical`` naming the first
    bad entry; ``offset`` is added to indexes in messages (for chunks).
    """
    networks = []
    for i, entry in enumerate(entries):
        network = parse_entry(entry)
        if network is None:
            raise Refusal(
                BAD_ADDRESS,
                f"addresses[{i + offset}] {_shorten(entry)} is not a canonical prefix (CIDR with host bits "
                "zero, IPv4 dotted quad or RFC 5952 IPv6, no IPv4-mapped form, no zone)",
            )
        networks.append(network)
    for i in range(1, len(networks)):
        _check_order(networks[i - 1], networks[i], i + offset)
    return networks


def _check_order(prev, cur, index):
    """Refuse ``cur`` (entry ``index``) unless it strictly follows ``prev`` without overlap."""
    prev_key, cur_key = _sort_key(prev), _sort_key(cur)
    if prev_key == cur_key:
        raise Refusal(NOT_CANONICAL, f"addresses[{index}] {cur} repeats the entry before it")
    if prev_key > cur_key:
        raise Refusal(NOT_CANONICAL, f"addresses[{index}] {cur} sorts before the entry before it, {prev}")
    if prev.version == cur.version and cur.network_address in prev:
        raise Refusal(NOT_CANONICAL, f"addresses[{index}] {cur} overlaps the entry before it, {prev}")


def _shorten(value, limit=60):
    """``repr(value)`` cut to ``limit`` characters, for refusal details that end up in events."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
            raise Refusal(MALFORMED_JSON, f"member {_shorten(key)} appears more than once in one object")
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
        raw = _bytes(body) if isinstance(body, str) else body
    except UnicodeEncodeError as exc:
        # Only a str with lone surrogates gets here; no byte sequence on the wire decodes to one.
        raise Refusal(MALFORMED_JSON, "the body is not valid UTF-8 text") from exc
    if not isinstance(raw, bytes):
        raise Refusal(MALFORMED_JSON, f"the body is a {type(body).__name__}, not text")
    if len(raw) > MAX_BODY_SIZE:
        raise Refusal(
            TOO_LARGE, f"the body has {len(raw)} bytes, more than {MAX_BODY_SIZE}; {_TOO_LARGE_ADVICE}"
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
            raise Refusal(SCHEMA, f"unknown member {_shorten(name)}")
    for name in BODY_MEMBERS:
        if name not in members:
            raise Refusal(SCHEMA, f"member {name!r} is missing")
    if _string(members, "protocol") != VERSION:
        raise Refusal(SCHEMA, f"protocol {_shorten(members['protocol'])} is not {VERSION!r}")
    kind = _string(members, "kind")
    if kind not in (KIND_SNAPSHOT, KIND_RETIREMENT):
        raise Refusal(SCHEMA, f"kind {_shorten(kind)} is neither {KIND_SNAPSHOT!r} nor {KIND_RETIREMENT!r}")
    for name in ("cluster", "allowlist"):
        if not is_dns_label(_string(members, name)):
            raise Refusal(
                SCHEMA, f"{name} {_shorten(members[name])} is not a DNS label (1-63 of a-z, 0-9 and '-')"
            )
    sequence = _integer(members["sequence"], "sequence", 1, MAX_SEQUENCE)
    body_digest = _string(members, "digest")
    if _DIGEST_RE.fullmatch(body_digest) is None:
        raise Refusal(SCHEMA, f"digest {_shorten(body_digest)} is not 'sha256:' and 64 lowercase hex digits")
    generated_at = _string(members, "generatedAt")
    if _TIME_RE.fullmatch(generated_at) is None:
        raise Refusal(
            SCHEMA,
            f"generatedAt {_shorten(generated_at)} is not RFC 3339 UTC with seconds precision, "
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
            raise Refusal(SCHEMA, f"unknown member {_shorten(name)} in chunk")
    for name in ("index", "total"):
        if name not in value:
            raise Refusal(SCHEMA, f"chunk.{name} is missing")
    index = _integer(value["index"], "chunk.index", 0, MAX_CHUNKS - 1)
    total = _integer(value["total"], "chunk.total", 1, MAX_CHUNKS)
    if index >= total:
        raise Refusal(SCHEMA, f"chunk.index {index} is not below chunk.total {total}")
    return index, total


def check_tag(decoded, cluster, allowlist):
    """Refuse (tag-mismatch) a decoded body whose cluster/allowlist differ from the tag's."""
    if decoded["cluster"] != cluster or decoded["allowlist"] != allowlist:
        raise Refusal(
            TAG_MISMATCH,
            f"the body is for {decoded['cluster']}/{decoded['allowlist']}, the tag for {cluster}/{allowlist}",
        )


def assemble(chunks):
    """Join the decoded chunks (dicts from :func:`decode`) of one sequence, all present, any order.

    Returns the complete canonical address list (strings). Raises :class:`Refusal`
    (sequence-conflict, too-many-addresses, bad-address, not-canonical,
    digest-mismatch); the caller makes sure every index 0 … total-1 is present.
    """
    first = chunks[0]
    by_index = {}
    for chunk in chunks:
        for name in ("kind", "cluster", "allowlist", "sequence", "digest", "generatedAt"):
            if chunk[name] != first[name]:
                raise Refusal(SEQUENCE_CONFLICT, f"chunks of sequence {first['sequence']} disagree on {name}")
        if chunk["chunk"]["total"] != first["chunk"]["total"]:
            raise Refusal(SEQUENCE_CONFLICT, f"chunks of sequence {first['sequence']} disagree on chunk.total")
        index = chunk["chunk"]["index"]
        if index in by_index and by_index[index]["addresses"] != chunk["addresses"]:
            raise Refusal(
                SEQUENCE_CONFLICT,
                f"chunk {index} of sequence {first['sequence']} arrived twice with different addresses",
            )
        by_index[index] = chunk
    total = first["chunk"]["total"]
    missing = [i for i in range(total) if i not in by_index]
    if missing:
        raise ValueError(f"chunks {missing[:10]} of {total} are missing; assemble only complete sets")
    count = sum(len(by_index[i]["addresses"]) for i in range(total))
    if count > MAX_ADDRESSES:
        raise Refusal(TOO_MANY_ADDRESSES, f"the snapshot holds {count} addresses, more than {MAX_ADDRESSES}")
    entries = []
    for i in range(total):
        entries.extend(by_index[i]["addresses"])
    check_canonical(entries)
    got = digest(entries)
    if got != first["digest"]:
        raise Refusal(DIGEST_MISMATCH, f"the assembled addresses hash to {got}, the chunks say {first['digest']}")
    return entries


def receive_body(tag, body, headers, clusters, hook_path=DEFAULT_HOOK_PATH):
    """Run a receiver's checks of one hook event up to the store, in docs/protocol.md's order.

    ``tag``, ``body`` and ``headers`` are the hook event's; ``clusters`` is the master's
    ``nodeallow:clusters`` mapping (each entry with ``signing_key`` and/or ``signing_keys``).
    Checks the tag (bad-tag), the cluster's keys (unknown-cluster), that the body is whole
    (too-large, :func:`check_whole`), the signature under any of the keys (missing-signature,
    bad-signature), the body (:func:`decode`) and that it names the tag's allowlist
    (tag-mismatch). Returns ``(cluster, allowlist, decoded, key_index)``, ``key_index`` the
    position of the key that verified (0: the newest; it shows how far a rotation got); raises
    only :class:`Refusal`.
    The caller then orders, assembles and, on the complete list, calls :func:`check_width`.
    """
    cluster, allowlist = parse_tag(tag, hook_path)
    entry = clusters.get(cluster) if isinstance(clusters, dict) else None
    try:
        keys = signing_keys(entry)
    except ValueError as exc:
        raise Refusal(UNKNOWN_CLUSTER, f"nodeallow:clusters:{cluster} is misconfigured: {exc}") from exc
    if not keys:
        raise Refusal(
            UNKNOWN_CLUSTER,
            f"no nodeallow:clusters:{cluster}:signing_key (or signing_keys) in the master configuration",
        )
    check_whole(body, headers)
    key_index = verify_signature_any(keys, body, header_value(headers, SIGNATURE_HEADER))
    decoded = decode(body)
    check_tag(decoded, cluster, allowlist)
    return cluster, allowlist, decoded, key_index
