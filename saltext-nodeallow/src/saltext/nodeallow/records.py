# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The one validator of an allowlist record as the ext_pillar serves it and the minion keeps it.

The same record passes three places: the ext_pillar (a record from the master's store), the
minion's pillar copy, and the minion's last-known-good store. Each calls :func:`validate`; what
differs is only how much of the address list is parsed (``parse``), and whether an identical
list validated before (``known``) can stand in for parsing it again.
"""

import dataclasses

from saltext.nodeallow.protocol.canonical import DIGEST_RE, EMPTY_DIGEST, AddressError, AddressList, digest, parse_list
from saltext.nodeallow.protocol.limits import MAX_ADDRESSES
from saltext.nodeallow.protocol.wire import is_dns_label

KEYS = frozenset({"cluster", "allowlist", "sequence", "digest", "generated_at", "stored_at", "addresses", "retired"})
# What the master's store adds (ingest.py); accepted only in complete records, never from pillar.
STORE_KEYS = KEYS | {"signed_with_key"}
REQUIRED_IN_STORE = ("cluster", "allowlist", "sequence", "digest", "addresses", "retired")


class RecordError(ValueError):
    """A record is invalid; ``problems`` lists every problem found (sentences naming ``where``)."""

    def __init__(self, problems):
        """Collect ``problems``."""
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclasses.dataclass(frozen=True)
class Record:
    """A validated allowlist record: ``addresses`` is its canonical list (IPv4 first)."""

    name: str
    sequence: int
    digest: str
    addresses: tuple
    retired: bool = False
    generated_at: str = None
    # The parsed list when this run parsed it (width checks reuse it), else None.
    parsed: AddressList = dataclasses.field(default=None, compare=False, repr=False)

    def pillar(self):
        """The record as the ext_pillar serves it (docs/salt.md)."""
        cluster, _, allowlist = self.name.partition("/")
        return {
            "cluster": cluster,
            "allowlist": allowlist,
            "sequence": self.sequence,
            "digest": self.digest,
            "generated_at": self.generated_at,
            "addresses": list(self.addresses),
            "retired": self.retired,
        }


def valid_name(name):
    """Whether ``name`` is ``<dns-label>/<dns-label>`` (cluster/allowlist, as the wire protocol names them)."""
    if not isinstance(name, str) or name.count("/") != 1:
        return False
    cluster, allowlist = name.split("/")
    return is_dns_label(cluster) and is_dns_label(allowlist)


def validate(name, raw, where, *, parse=True, known=None, complete=False, hashed=None):
    """Validate record ``raw`` of allowlist ``name``; return a :class:`Record` or raise :class:`RecordError`.

    ``where`` names the record in messages (``nodeallow:allowlists:prod/workers``). Checked:
    the keys (``complete``: a record of the master's store, with every key and the store's own),
    ``cluster``/``allowlist`` against the name, ``sequence``, ``retired`` (a retired record lists no
    addresses), the digest
    against the addresses, and with ``parse`` every address (strict CIDR, collapsed and sorted
    if the list was not canonical). Without ``parse`` the list must hash to its digest and be
    strings only: for records this code validated before it stored them. ``known`` is a
    :class:`Record` validated earlier (the last-known-good copy); when the list hashes to its
    digest, that one is reused instead of parsing the same addresses again. ``hashed`` (without
    ``parse``) is the digest the caller computed of the very text the list was split from (the
    last-known-good store's file), so the list is not joined and hashed again.
    """
    if not valid_name(name):
        raise RecordError([f"{where}: the name is not <cluster>/<allowlist> (DNS labels)"])
    if not isinstance(raw, dict):
        raise RecordError([f"{where} must be a mapping"])
    problems = []
    unknown = sorted(str(k)[:40] for k in raw if k not in (STORE_KEYS if complete else KEYS))
    if unknown:
        problems.append(f"{where}: unknown keys {unknown}")
    if complete:
        problems += [f"{where}: {key} is missing" for key in REQUIRED_IN_STORE if key not in raw]
    cluster, _, short = name.partition("/")
    for key, expected in (("cluster", cluster), ("allowlist", short)):
        if key in raw and raw[key] != expected:
            problems.append(f"{where}: {key} {str(raw[key])[:80]!r} does not match the name")
    sequence = raw.get("sequence", 0)
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 0:
        problems.append(f"{where}: sequence must be a non-negative integer")
    retired = raw.get("retired", False)
    if not isinstance(retired, bool):
        problems.append(f"{where}: retired must be true or false")
    given = raw.get("digest")
    if given is not None and (not isinstance(given, str) or not DIGEST_RE.fullmatch(given)):
        problems.append(f"{where}: digest must be sha256:<64 hex>")
    values = raw.get("addresses", [])
    if not isinstance(values, list):
        problems.append(f"{where}:addresses must be a list, not {type(values).__name__}")
    elif len(values) > MAX_ADDRESSES:
        problems.append(f"{where}:addresses has {len(values)} entries, more than {MAX_ADDRESSES}")
    elif retired is True and values:
        problems.append(f"{where}: a retired record lists no addresses")
    if problems:
        raise RecordError(problems)
    generated_at = raw.get("generated_at")
    if not isinstance(generated_at, str):
        # Informational only (the minion orders copies by it, firewall/desired.py's rollback): a
        # hand-written pillar may give none, or YAML a timestamp; that copy is then not known to be later.
        generated_at = None
    if retired:
        return Record(name, sequence, given or EMPTY_DIGEST, (), True, generated_at)
    if hashed is not None and not parse:
        computed = hashed
    elif values and set(map(type, values)) != {str}:  # exactly str, as JSON and YAML load it
        bad = next(i for i, v in enumerate(values) if type(v) is not str)
        raise RecordError([f"{where}:addresses[{bad}]: not an address string: {str(values[bad])[:60]!r}"])
    else:
        computed = digest(values)
    parsed = None
    if known is not None and computed == known.digest:
        addresses = known.addresses
    elif not parse:
        addresses = tuple(values)
    else:
        try:
            parsed = parse_list(values)
        except AddressError as exc:
            raise RecordError([f"{where}:addresses[{i}]: {str(v)[:60]!r} {r}" for i, v, r in exc.problems]) from exc
        addresses = parsed.entries
        if list(addresses) != values:
            computed = digest(addresses)
    if given is not None and given != computed:
        raise RecordError(
            [f"{where}: digest {given} does not match its addresses ({computed}); the copy is corrupt or not canonical"]
        )
    return Record(name, sequence, computed, addresses, False, generated_at, parsed)
