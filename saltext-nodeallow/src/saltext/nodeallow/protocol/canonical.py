# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Canonical address lists (api/protocol/canonical.go): the one parser of CIDR text in Python, the digest.

Shared by the master (wire entries) and the minion (pillar copies, its last-known-good store, what
firewalls list back). A canonical list is sorted (IPv4 first, then network address, then prefix
length), without overlaps, each entry spelled as docs/protocol.md says.
"""

import bisect
import hashlib
import ipaddress
import itertools
import operator
import re
import socket

from saltext.nodeallow.protocol.refusal import BAD_ADDRESS, NOT_CANONICAL, Refusal, shorten

# Bits of an address of each IP version.
BITS = {4: 32, 6: 128}
# A list with more bad entries than this reports only the first ones.
MAX_PROBLEMS = 20
# The digest of the empty list (and of every retirement).
EMPTY_DIGEST = "sha256:" + hashlib.sha256(b"").hexdigest()
# A digest as the protocol writes it (docs/protocol.md), checked on the master and the minion.
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")

# Checked before parsing: Python's ipaddress accepts IPv6 zones ("%eth0"), whose text is free-form.
_ADDRESS_CHARS_RE = re.compile(r"[0-9A-Fa-f.:/]{2,49}")
_AF = {4: socket.AF_INET, 6: socket.AF_INET6}
_HOST_LENGTH = {4: "32", 6: "128"}
_MAPPED_PREFIX = b"\0" * 10 + b"\xff\xff"
_ZERO_PREFIX = b"\0" * 12


class AddressError(ValueError):
    """A list of addresses has bad entries; ``problems`` is ``[(index, value, reason)]`` (at most 20)."""

    def __init__(self, problems):
        """Collect ``problems``, each naming the entry's index, its value and what is wrong."""
        self.problems = list(problems)
        super().__init__("; ".join(f"[{i}] {shorten(v)} {r}" for i, v, r in self.problems))


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
    bits = BITS[version]
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
        count = self._count4 if version == 4 else len(self.entries) - self._count4
        return count - len(nets) + sum(last - first + 1 for _, _, first, last in nets)

    def first_overlap(self, version, low, high):
        """Index in ``entries`` of the first entry overlapping ``low`` … ``high`` (ints), or ``None``."""
        size = BITS[version] // 8
        if self._packed is None:
            # Made by :func:`checked`: bisect the entries by their address (a few dozen parsed), not all packed.
            keys = self.family(version)
            key = lambda entry: socket.inet_pton(_AF[version], entry.partition("/")[0])  # noqa: E731
        else:
            keys, key = self._packed[version], None
        first = bisect.bisect_left(keys, low.to_bytes(size, "big"), key=key)
        if first > 0:
            # The entry starting before ``low`` may be a prefix reaching into the range.
            ends = {index: last for index, _, _, last in self._nets[version]}
            if ends.get(first - 1, -1) >= low:
                return self.offset(version) + first - 1
        if first < len(keys) and (key or bytes)(keys[first]) <= high.to_bytes(size, "big"):
            return self.offset(version) + first
        return None


def _fast_family(version, entries):
    """``(packed, nets)`` of one family's entries when they are canonical and in order, else ``None``."""
    if not entries:
        return [], []
    bits = BITS[version]
    text = "\n".join(entries) + "\n"
    if text.count("/") != len(entries) or text.count("\n") != len(entries):
        return None  # each entry has exactly one "/" and no line break
    # Whole-text operations, not one call per entry: host routes lose their length in one
    # replace, and what still holds a "/" is a shorter prefix (few), found line by line.
    stripped = text.replace(f"/{_HOST_LENGTH[version]}\n", "\n")
    addrs = stripped.split("\n")
    addrs.pop()
    lengths = {}
    index, last, pos = 0, 0, stripped.find("/")
    while pos >= 0:
        index += stripped.count("\n", last, pos)
        last = pos
        addr, _, length = addrs[index].partition("/")
        if not (
            length.isdigit()
            and length.isascii()
            and (length == "0" or not length.startswith("0"))
            and int(length) <= bits
        ):
            return None
        addrs[index] = addr
        lengths[index] = int(length)
        pos = stripped.find("/", pos + 1)
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


def parse_canonical(entries):
    """The :class:`AddressList` of a tuple of strings ``entries``, or ``None`` when it is not canonical."""
    joined = "\n".join(entries)
    first6 = joined.find(":")
    count4 = len(entries) if first6 < 0 else joined.count("\n", 0, first6)
    if not all(map(operator.contains, itertools.islice(entries, count4, None), itertools.repeat(":"))):
        return None
    v4 = _fast_family(4, entries[:count4])
    v6 = _fast_family(6, entries[count4:])
    if v4 is None or v6 is None:
        return None
    return AddressList(entries, count4, {4: v4[0], 6: v6[0]}, {4: v4[1], 6: v6[1]})


def checked(entries):
    """The :class:`AddressList` of ``entries``, a list already found canonical, for the width checks only.

    Ingest checks every body when it decodes it and the chunks' boundaries when it joins them, so
    the joined list is not parsed again (45 ms at 100k): only the prefixes shorter than a host route
    (found in the joined text, few) are parsed, and :meth:`AddressList.first_overlap` bisects the
    entries by address. Never call it on a list that was not checked.
    """
    entries = tuple(entries)
    joined = "\n".join(entries)
    first6 = joined.find(":")
    count4 = len(entries) if first6 < 0 else joined.count("\n", 0, first6)
    nets = {}
    for version, family in ((4, entries[:count4]), (6, entries[count4:])):
        stripped = ("\n".join(family) + "\n").replace(f"/{_HOST_LENGTH[version]}\n", "\n")
        nets[version] = []
        index, last, pos = 0, 0, stripped.find("/")
        while pos >= 0:
            index += stripped.count("\n", last, pos)
            last = pos
            _, number, prefixlen, _ = parse_prefix(family[index])
            nets[version].append((index, prefixlen, number, number + (1 << (BITS[version] - prefixlen)) - 1))
            pos = stripped.find("/", pos + 1)
    return AddressList(entries, count4, None, nets)


def parse_list(values, allow_everyone=False):
    """Validate a list of CIDR strings; return it as an :class:`AddressList`, collapsed and sorted if it was not.

    A canonical list (what the master stores) is checked in a few passes of C-level maps; any
    other list is parsed entry by entry with :func:`parse_prefix` and collapsed with
    ``ipaddress``. A ``/0`` is a problem unless ``allow_everyone``. Raises :class:`AddressError`
    listing up to :data:`MAX_PROBLEMS` bad entries.
    """
    entries = tuple(values)
    if not entries or set(map(type, entries)) == {str}:  # exactly str: a subclass may override methods
        built = parse_canonical(entries)
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
    built = parse_canonical(tuple(out))
    if built is None:
        raise AssertionError(f"the collapsed list is not canonical: {out[:5]}")
    return built


def digest(entries):
    """Return ``sha256:<hex>`` of the canonical list ``entries`` (strings), each followed by a newline.

    One join and one hash call (a fifth of the time of one call per entry at 100k); an entry
    that is not ASCII raises UnicodeEncodeError.
    """
    if not entries:
        return EMPTY_DIGEST
    return "sha256:" + hashlib.sha256(("\n".join(entries) + "\n").encode("ascii")).hexdigest()


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
    """Check that ``entries`` is a canonical list (or a contiguous run of one); return what was checked.

    Raises :class:`Refusal` ``bad-address`` or ``not-canonical`` naming the first
    bad entry; ``offset`` is added to indexes in messages (for chunks). A canonical list (every
    body the controller sends) passes the C-level checks of :func:`parse_list` (~40 ms at 100k
    instead of ~1 s entry by entry) and its :class:`AddressList` is returned; anything else is
    checked entry by entry to name the first bad one (the networks are returned).
    """
    built = parse_canonical(tuple(entries)) if set(map(type, entries)) <= {str} else None
    if built is not None:
        return built
    networks = []
    for i, entry in enumerate(entries):
        network = parse_entry(entry)
        if network is None:
            raise Refusal(
                BAD_ADDRESS,
                f"addresses[{i + offset}] {shorten(entry)} is not a canonical prefix (CIDR with host bits "
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
