# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Validate the minion's ``nodeallow`` pillar (untrusted) and compute the firewall it asks for.

Nothing here runs a command: the result is a :class:`Desired` that the backends render.
"""

import dataclasses
import datetime
import functools
import itertools
import re

from saltext.nodeallow import records
from saltext.nodeallow.firewall import naming
from saltext.nodeallow.protocol.canonical import AddressError, parse_list
from saltext.nodeallow.protocol.limits import DEFAULT_REFUSE_SPECIAL, check_width
from saltext.nodeallow.protocol.refusal import Refusal

BACKENDS = ("nftables", "ipset", "iptables")
POLICIES = ("restrict", "accept")
PROTOS = ("tcp", "udp")
MAX_RULES = 1000
MAX_PORT_ITEMS = 64
MAX_COMMENT = 200

_NFT_TABLE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
_PORT_RANGE_RE = re.compile(r"([0-9]{1,5})-([0-9]{1,5})")
_RULE_KEYS = {"allowlist", "proto", "ports", "comment", "sources", "sources_limits"}
# A rule's local sources are few, written by the admin: more is a mistake (the allowlists hold the many).
MAX_SOURCES = 256
_HOST_SUFFIX = {4: "/32", 6: "/128"}


class PillarError(ValueError):
    """The ``nodeallow`` pillar is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems):
        """Collect ``problems`` (human sentences naming the pillar path that is wrong)."""
        self.problems = list(problems)
        super().__init__("invalid nodeallow pillar: " + "; ".join(self.problems))


@dataclasses.dataclass(frozen=True)
class Rule:
    """One subscription: accept ``proto`` traffic to ``ports`` from ``sources`` and the addresses of ``allowlist``.

    From its first apply the rule's ports accept only loopback, ``sources`` and the allowlist's
    addresses (policy restrict), also while the allowlist is held or retired: only removing the
    rule from pillar lifts the restriction (fail closed).
    """

    allowlist: str
    proto: str
    ports: tuple  # ((low, high), ...) sorted, merged
    comment: str = ""
    # The admin's local sources (a bastion, monitoring, ...): canonical CIDRs, IPv4 first.
    sources: tuple = ()

    def ports_text(self, sep=",", range_sep="-"):
        """The ports as text, e.g. ``5432,8000-8100``."""
        return sep.join(str(lo) if lo == hi else f"{lo}{range_sep}{hi}" for lo, hi in self.ports)

    def describe(self):
        """A short description such as ``tcp:5432,8000-8100 prod/workers``."""
        return f"{self.proto}:{self.ports_text()} {self.allowlist}"

    def sources_label(self):
        """The name of this rule's local sources in the firewall and the state's changes."""
        return naming.sources_label(self.describe())


@dataclasses.dataclass(frozen=True)
class Allowlist:
    """The addresses of one allowlist and where they came from (``pillar`` or ``last-good``)."""

    name: str
    sequence: int
    digest: str
    addresses: tuple  # canonical CIDR strings, IPv4 first
    retired: bool = False
    source: str = "pillar"
    # Why the pillar copy was not used (this is then the last-known-good copy), or "".
    held: str = ""
    # The snapshot's generatedAt (RFC 3339 UTC, seconds), kept so a later copy can be ordered against it.
    generated_at: str = None

    @classmethod
    def of(cls, record, source="pillar", held=""):
        """The allowlist of a validated :class:`saltext.nodeallow.records.Record`."""
        return cls(
            record.name,
            record.sequence,
            record.digest,
            record.addresses,
            record.retired,
            source,
            held,
            record.generated_at,
        )

    @functools.cached_property
    def _families(self):
        """``{4: (all, hosts, prefixes), 6: (...)}``: the entries, host routes and shorter prefixes per family.

        Whole-text operations on the joined list, not one call per entry (100k on a full apply):
        prefixes are few, so they are found line by line and the host routes are the slices between.
        """
        joined = "\n".join(self.addresses) + "\n"
        first6 = joined.find(":")
        count4 = len(self.addresses) if first6 < 0 else joined.count("\n", 0, first6)
        start6 = len(joined) if first6 < 0 else joined.rfind("\n", 0, first6) + 1
        out = {}
        for family, entries, text in (
            (4, self.addresses[:count4], joined[:start6]),
            (6, self.addresses[count4:], joined[start6:]),
        ):
            stripped = text.replace(_HOST_SUFFIX[family] + "\n", "\n")
            if "/" not in stripped:
                out[family] = (entries, entries, ())  # host routes only, the usual node list
                continue
            others = []
            index, last, pos = 0, 0, stripped.find("/")
            while pos >= 0:
                index += stripped.count("\n", last, pos)
                last = pos
                others.append(index)
                pos = stripped.find("/", pos + 1)
            bounds = zip([-1, *others], [*others, len(entries)], strict=True)
            hosts = tuple(itertools.chain.from_iterable(entries[low + 1 : high] for low, high in bounds))
            out[family] = (entries, hosts, tuple(entries[i] for i in others))
        return out

    def family(self, family):
        """The addresses of ``family`` (4 or 6), in canonical order."""
        return self._families[family][0]

    def hosts(self, family):
        """The host routes (/32, /128) of ``family``."""
        return self._families[family][1]

    def prefixes(self, family):
        """The entries of ``family`` shorter than a host route."""
        return self._families[family][2]

    def record(self):
        """The JSON-able record stored in the last-known-good file."""
        return {
            "sequence": self.sequence,
            "digest": self.digest,
            "addresses": list(self.addresses),
        }


@dataclasses.dataclass
class Desired:
    """What the firewall should hold: backend, policy, active rules and the allowlists they use.

    Each allowlist stands alone: one whose pillar copy is unknown, empty or invalid is *held* (its
    last-known-good copy stays in effect; without one its rules' ports admit only loopback and
    their local sources) while the others apply. A retired allowlist admits nobody either.
    One whose pillar copy is older than the copy applied last is *ahead*: that copy stays in
    effect, and it is no failure of this minion (see :func:`rollback`).
    """

    backend: str
    policy: str
    nft_table: str
    rules: list  # [Rule] every valid rule of pillar; those of held or retired allowlists keep their ports closed
    allowlists: dict  # name -> Allowlist, only those the rules use (retired ones included)
    held: dict  # name -> why its pillar copy is not applied (also when it is not in allowlists)
    limits: dict = None  # pillar nodeallow:limits the allowlists were checked against
    # name -> why the pillar copy is older than the copy kept in effect; these are in allowlists,
    # not in held (ahead_of gives the pillar copy's sequence).
    ahead: dict = dataclasses.field(default_factory=dict)
    ahead_of: dict = dataclasses.field(default_factory=dict)

    def active(self):
        """The allowlists that the firewall uses (not retired), by name."""
        return {n: a for n, a in self.allowlists.items() if not a.retired}

    def admits(self, rule):
        """Whether ``rule``'s allowlist is in effect (else its ports admit loopback and its sources only)."""
        allowlist = self.allowlists.get(rule.allowlist)
        return allowlist is not None and not allowlist.retired

    def local(self):
        """``{label: Allowlist}`` of the rules' local sources (rules with the same description share one)."""
        merged = {}
        for rule in self.rules:
            if rule.sources:
                merged.setdefault(rule.sources_label(), []).append(rule.sources)
        out = {}
        for label, lists in sorted(merged.items()):
            # Two rules with the same description admit the union of their sources.
            addresses = lists[0] if len(lists) == 1 else parse_list([a for x in lists for a in x]).entries
            out[label] = Allowlist(label, 0, records.digest(addresses), addresses, source="rule")
        return out

    def groups(self):
        """``{label: Allowlist}`` of every address group in the firewall: active allowlists, then local sources."""
        return {**dict(sorted(self.active().items())), **self.local()}

    def proto_ports(self):
        """``{proto: merged port ranges}`` over all rules, for loopback and drop lines."""
        out = {}
        for rule in self.rules:
            out.setdefault(rule.proto, []).extend(rule.ports)
        return {proto: merge_ranges(ranges) for proto, ranges in sorted(out.items())}


def merge_ranges(ranges):
    """Sort and merge overlapping or adjacent (low, high) port ranges."""
    merged = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return tuple(merged)


# Keys of the pillar's nodeallow:limits: the master's setting names (saltext.nodeallow.protocol.limits.check_width).
LIMIT_KEYS = ("min_prefix", "max_span", "refuse_special")


def check_limits(addresses, where, limits=None, setting="nodeallow:limits"):
    """Return the problems (sentences naming ``where``) that keep ``addresses`` out of the firewall.

    ``addresses`` is an allowlist's canonical list, or the :class:`saltext.nodeallow.protocol.canonical.AddressList`
    parsed from it;
    ``limits`` is the pillar's ``nodeallow:limits`` mapping with the master's keys ``min_prefix``,
    ``max_span`` and ``refuse_special`` (each optional, see saltext.nodeallow.protocol.limits.check_width),
    ``None`` for the defaults. An empty list means the allowlist may be applied; otherwise the
    caller holds that one allowlist (its last applied set stays) and reports the sentences.
    ``setting`` names the pillar key the limits come from, for the messages.
    """
    if limits is None:
        limits = {}
    if not isinstance(limits, dict):
        return [f"{setting} must be a mapping with {list(LIMIT_KEYS)}, not {type(limits).__name__}"]
    unknown = sorted(str(k)[:40] for k in limits if k not in LIMIT_KEYS)
    if unknown:
        return [f"{setting}: unknown keys {unknown}; allowed: {list(LIMIT_KEYS)}"]
    try:
        check_width(
            addresses,
            limits.get("min_prefix"),
            limits.get("max_span"),
            limits.get("refuse_special", DEFAULT_REFUSE_SPECIAL),
        )
    except Refusal as refusal:
        return [f"{where}: {refusal.reason}: {refusal.detail}"]
    except ValueError as exc:
        return [f"{where}: the limits are invalid: {exc} (pillar {setting})"]
    return []


def _sources(raw, where, limits, problems):
    """Validate a rule's ``sources`` (the admin's local CIDRs) into a canonical tuple.

    The same parser and the same ``nodeallow:limits`` as the allowlists; the rule's own
    ``sources_limits`` (same keys) replaces the keys it names, for this rule only.
    """
    value = raw.get("sources")
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.append(f'{where}: sources must be a list of CIDR prefixes such as ["192.0.2.10/32"]')
        return ()
    if len(value) > MAX_SOURCES:
        problems.append(f"{where}: {len(value)} sources, more than {MAX_SOURCES}")
        return ()
    try:
        parsed = parse_list(value)
    except AddressError as exc:
        problems.extend(f"{where}:sources[{i}]: {str(v)[:60]!r} {r}" for i, v, r in exc.problems)
        return ()
    setting = "nodeallow:limits"
    own = raw.get("sources_limits")
    if own is not None:
        setting = f"{where}:sources_limits"
        if not isinstance(own, dict):
            problems.append(f"{setting} must be a mapping with {list(LIMIT_KEYS)}, not {type(own).__name__}")
            return ()
        limits = {**(limits if isinstance(limits, dict) else {}), **own}
    found = check_limits(parsed, f"{where}:sources", limits, setting)
    if found:
        problems.extend(f"{p} (to admit it anyway, widen {where}:sources_limits)" for p in found)
        return ()
    return parsed.entries


def _ports(value, where, problems):
    """Validate a rule's ``ports`` (ints 1-65535 or "a-b" ranges) into merged (low, high) tuples."""
    if not isinstance(value, list) or not value:
        problems.append(f'{where}: ports must be a non-empty list such as [5432, "8000-8100"]')
        return ()
    if len(value) > MAX_PORT_ITEMS:
        problems.append(f"{where}: {len(value)} port items, more than {MAX_PORT_ITEMS}")
        return ()
    ranges = []
    for item in value:
        if isinstance(item, bool):
            lo = hi = None
        elif isinstance(item, int):
            lo = hi = item
        elif isinstance(item, str) and item.isdigit() and len(item) <= 5:
            lo = hi = int(item)
        elif isinstance(item, str) and _PORT_RANGE_RE.fullmatch(item):
            lo, hi = (int(x) for x in _PORT_RANGE_RE.fullmatch(item).groups())
        else:
            lo = hi = None
        if lo is None or not (1 <= lo <= hi <= 65535):
            problems.append(f'{where}: {str(item)[:40]!r} is not a port 1-65535 or a range "a-b" with a <= b')
            continue
        ranges.append((lo, hi))
    return merge_ranges(ranges)


def _rules(value, problems, limits=None):
    """Validate ``nodeallow:rules`` into a list of :class:`Rule` (``limits``: pillar ``nodeallow:limits``)."""
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append("nodeallow:rules must be a list of rules")
        return []
    if len(value) > MAX_RULES:
        problems.append(f"nodeallow:rules has {len(value)} rules, more than {MAX_RULES}")
        return []
    rules = []
    for index, raw in enumerate(value):
        where = f"nodeallow:rules[{index}]"
        if not isinstance(raw, dict):
            problems.append(f"{where} must be a mapping with allowlist, proto, ports")
            continue
        unknown = sorted(str(k)[:40] for k in raw if k not in _RULE_KEYS)
        if unknown:
            problems.append(f"{where}: unknown keys {unknown}; allowed: {sorted(_RULE_KEYS)}")
        allowlist = raw.get("allowlist")
        if not records.valid_name(allowlist):
            problems.append(f"{where}: allowlist {str(allowlist)[:80]!r} is not <cluster>/<allowlist> (DNS labels)")
        proto = raw.get("proto", "tcp")
        if proto not in PROTOS:
            problems.append(f"{where}: proto {str(proto)[:20]!r} is not one of {list(PROTOS)}")
        ports = _ports(raw.get("ports"), where, problems)
        comment = raw.get("comment", "")
        if comment is None:
            comment = ""
        if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
            problems.append(f"{where}: comment must be a string of at most {MAX_COMMENT} characters")
            comment = ""
        sources = _sources(raw, where, limits, problems)
        if not problems:
            rules.append(Rule(allowlist, proto, ports, comment, sources))
    return rules


@dataclasses.dataclass(frozen=True)
class Settings:
    """The validated settings and rules of a ``nodeallow`` pillar, without its allowlists (:func:`settings`).

    Enough to know which firewall a run reads (backend, table, rules) before the address lists,
    the costly part of the pillar, are validated (engine.managed starts its reads with it).
    """

    backend: str
    policy: str
    nft_table: str
    rules: list  # [Rule]
    raw_lists: dict  # the pillar's allowlists mapping, not yet validated
    limits: dict  # pillar nodeallow:limits, checked when the allowlists are


def settings(pillar):
    """Validate the settings and rules of ``pillar`` (the value of pillar key ``nodeallow``): a :class:`Settings`.

    Raises :class:`PillarError` listing every problem of the settings and rules, which concern
    every allowlist at once.
    """
    if pillar is None:
        pillar = {}
    if not isinstance(pillar, dict):
        raise PillarError(["pillar key nodeallow must be a mapping"])
    problems = []
    backend = pillar.get("backend", "nftables")
    if backend not in BACKENDS:
        problems.append(f"nodeallow:backend {str(backend)[:40]!r} is not one of {list(BACKENDS)}")
    policy = pillar.get("policy", "restrict")
    if policy not in POLICIES:
        problems.append(f"nodeallow:policy {str(policy)[:40]!r} is not one of {list(POLICIES)}")
    if backend == "nftables" and policy == "accept":
        problems.append(
            "nodeallow:policy accept does not work with backend nftables: an accept in our own "
            "table cannot override a drop in another table; use backend ipset or iptables, "
            "or policy restrict"
        )
    nft_table = pillar.get("nft_table", naming.DEFAULT_NFT_TABLE)
    if not isinstance(nft_table, str) or not _NFT_TABLE_RE.fullmatch(nft_table):
        problems.append("nodeallow:nft_table must match [A-Za-z][A-Za-z0-9_]{0,31}")
    rules = _rules(pillar.get("rules"), problems, pillar.get("limits"))
    raw_lists = pillar.get("allowlists") or {}
    if not isinstance(raw_lists, dict):
        problems.append("nodeallow:allowlists must be a mapping of <cluster>/<allowlist> to records")
        raw_lists = {}
    if problems:
        raise PillarError(problems)
    return Settings(backend, policy, nft_table, rules, raw_lists, pillar.get("limits"))


def build(pillar, last_good, last_limits=None, retired=None, given=None):
    """Validate ``pillar`` (the value of pillar key ``nodeallow``) and return the :class:`Desired`.

    ``last_good`` maps allowlist names to the :class:`saltext.nodeallow.records.Record` of the last
    successful apply; it stands in for allowlists whose pillar copy is held (see
    :class:`Desired`), and a pillar copy with the same digest is not parsed again (nor
    width-checked again when ``last_limits``, the limits it was applied under, are the same).
    ``retired`` maps names to the retired records (tombstones) of retirements applied before.
    A pillar copy older than either is not applied (:func:`rollback`). ``given`` is the
    :func:`settings` of this same pillar when the caller has it already.
    Raises :class:`PillarError` listing every problem of the settings and rules, which concern
    every allowlist at once.
    """
    given = given or settings(pillar)
    rules, raw_lists, limits = given.rules, given.raw_lists, given.limits
    # Only the records the rules use are read: a record nobody subscribes to can do no harm,
    # and a bad one must not stop the others.
    wanted = {rule.allowlist for rule in rules}
    allowlists = {}
    held = {}
    ahead = {}
    ahead_of = {}
    for name in sorted(wanted):
        if name not in raw_lists:
            held[name] = "unknown: not in pillar (never published, or the master has no valid record of it)"
            continue
        where = f"nodeallow:allowlists:{name}"
        known = (last_good or {}).get(name)
        try:
            record = records.validate(name, raw_lists[name], where, known=known)
        except records.RecordError as exc:
            held[name] = "invalid pillar copy: " + "; ".join(exc.problems)
            continue
        reason = rollback(record, known or (retired or {}).get(name))
        if reason:
            ahead[name], ahead_of[name] = reason, record.sequence
            continue
        if not record.retired and not record.addresses:
            held[name] = f"sequence {record.sequence} is empty: refusing to apply an empty set"
            continue
        checked = known is not None and record.addresses is known.addresses and limits == last_limits
        if not record.retired and not checked:
            problems = check_limits(record.parsed or record.addresses, where, limits)
            if problems:
                held[name] = "wider than this minion allows: " + "; ".join(problems)
                continue
        allowlists[name] = Allowlist.of(record)
    for name, reason in sorted({**held, **ahead}.items()):
        # A retirement applied before stays in effect too (its tombstone is kept), so a master
        # that is behind cannot bring the allowlist back with an older copy.
        good = (last_good or {}).get(name) or (retired or {}).get(name)
        # Kept even if the limits were tightened since: it is what the firewall holds now, and
        # dropping its rules would lift the port's restriction altogether (wider, not narrower).
        if good:
            allowlists[name] = Allowlist.of(good, "last-good", reason)
    # Every rule stays in force: one whose allowlist is held without a copy or retired keeps its
    # ports closed to all but loopback and its local sources (Desired.admits).
    return Desired(given.backend, given.policy, given.nft_table, rules, allowlists, held, limits, ahead, ahead_of)


def _time(text):
    """``generated_at`` text (RFC 3339 UTC, seconds) as a datetime, or ``None`` if absent or not that form."""
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError):
        return None


def rollback(record, known):
    """Why applying pillar copy ``record`` would take its allowlist back behind ``known``, or ``""``.

    ``known`` is the record applied last (the last-known-good copy or the tombstone of a
    retirement), ``None`` if there is none. Sequences only grow (a retirement takes the next
    one; a key rotation changes the signature, not the sequence), so a lower sequence is a copy
    that was superseded: with several masters (classic multi-master, each with its own store), a
    master that missed publishes while it was down serves its older copy until the controller
    re-sends the current one. Applying it would re-open the firewall to addresses already removed.
    The one exception is an allowlist whose numbering started again (recreated after a deletion
    whose retirement the minion applied, or its record flushed on the master after a
    ``sequence-conflict``): its copy was generated after ``known``, so a lower sequence with a
    later ``generated_at`` is applied. An equal sequence is the same snapshot (masters refuse a
    different digest under a stored sequence).
    """
    if known is None or record.sequence >= known.sequence:
        return ""
    copy_time, known_time = _time(record.generated_at), _time(known.generated_at)
    if copy_time is not None and known_time is not None and copy_time > known_time:
        return ""
    kept = "its retirement" if known.retired else "the copy"
    return (
        f"the pillar copy has sequence {record.sequence} (generated {record.generated_at or 'at an unknown time'}),"
        f" older than {kept} this minion applied last (sequence {known.sequence}, generated"
        f" {known.generated_at or 'at an unknown time'}): the master that served this pillar is behind (with"
        " several masters, one that missed publishes while it was down, until the controller re-sends the"
        " current snapshot to it); refusing to go back"
    )
