# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Warn when another firewall on the host would drop what nodeallow lets through.

netfilter runs every base chain on a hook, and a drop in any of them is final: nodeallow's accept for
an allowlisted source cannot get through firewalld's zone, ufw's or an nftables.conf's policy-drop
input chain unless they accept the port too. This module reads the ruleset once in the terse form
the state already reads (``nft -j -t list ruleset``: no set elements) and, for every other base
chain on the input hook, follows its rules, jumps and gotos for the first packet of a new
connection from an allowlisted (or the rule's local) source to each port of each rule (IPv4, IPv6). When no path
through the chain accepts it, the chain drops that traffic and :func:`warnings` says so, naming the
table, the chain and where the packet ends (a ``reject`` rule, a policy).

It is a heuristic, documented in docs/firewall.md ("Beside your host firewall"): the packet is
a TCP SYN or UDP datagram to a local address, arriving on an interface other than loopback, in
connection-tracking state ``new``, without DNAT. What the listing does not say is decided in the
packet's favour (both ways are followed and one accept is enough): the source address (it is one
of many allowlisted ones) and set lookups (terse listings have no elements), the input interface's
name, rate limits, and iptables-nft matches shown only by name (``xt``), with one exception:
connection-tracking state matches of iptables-nft (``xt conntrack``/``state``) decide as ``new``
would only on a rule that also matches the port (``-p tcp --dport 5432 -m conntrack --ctstate NEW
-j ACCEPT``), and count as not matching elsewhere (the ``RELATED,ESTABLISHED`` accepts and
``INVALID`` drops every such firewall starts with). A port range the other chain opens only in
part is given the benefit of the doubt as well. So a warning means the other chain drops the
traffic for certain, as far as its listing shows; no warning is no proof it passes (iptables-legacy
rules are not in the nft listing at all).
"""

import dataclasses
import json

HOOK = "input"
# Outcomes of following a chain: the packet is accepted, or the chain ends (falls off its end or
# returns), or the next rule is evaluated (a jumped-to chain returned). Drops are ("drop", where).
ACCEPT = "accept"
RETURN = "return"
NEXT = "next"
_PROTO_NUMBERS = {"tcp": 6, "udp": 17}
# The address families whose packets a table family's input hook sees (bridge, arp, netdev: none of ours).
_FAMILIES = {"inet": (4, 6), "ip": (4,), "ip6": (6,)}
_NFPROTO = {4: "ipv4", 6: "ipv6"}
_ETHERTYPE = {4: "ip", 6: "ip6"}
# Payload protocols a TCP or UDP packet never carries: nft adds a protocol dependency to such a
# match, so the rule cannot match whatever its operator.
_OTHER_L4 = {"icmp", "icmpv6", "sctp", "dccp", "udplite", "esp", "ah", "comp", "igmp", "gre"}
# iptables-nft matches whose options the listing does not show, decided by name.
_XT_NEVER = {"icmp", "icmp6"}  # an ICMP type match never matches TCP or UDP
_XT_STATE = {"conntrack", "state"}
# At most this many (family, protocol, port range) packets are followed per run: a thousand rules of 64
# distinct ports each would otherwise take seconds for advice. The rest are named as not checked.
MAX_PACKETS = 512


@dataclasses.dataclass(frozen=True)
class Packet:
    """The first packet of a new connection from an allowlisted source to ``ports`` (``(low, high)``)."""

    family: int
    proto: str
    ports: tuple


class _Unknown:
    """The listing does not decide this match (for this packet); both ways are followed."""

    def __repr__(self):
        return "UNKNOWN"


UNKNOWN = _Unknown()


def read(executor):
    """The terse ruleset (``nft -j -t list ruleset``) as a list of its JSON items."""
    return json.loads(executor.run(["nft", "-j", "-t", "list", "ruleset"]).stdout).get("nftables", [])


def warnings(items, want):
    """Sentences naming each other base chain on the input hook that drops traffic ``want`` accepts.

    ``items`` is the terse ruleset (:func:`read`), ``want`` the :class:`desired.Desired` in effect.
    Our own objects are skipped: the nftables backend's table, or the ipset/iptables backends'
    ``NODEALLOW`` chain (which accepts the allowlisted sources, so an INPUT chain that jumps to it
    first does not drop them).
    """
    chains = _index(items)
    ours = {("inet", want.nft_table)} if want.backend == "nftables" else set()
    packets = _packets(want)
    skipped = len(packets) - MAX_PACKETS
    packets = dict(sorted(packets.items(), key=lambda item: dataclasses.astuple(item[0]))[:MAX_PACKETS])
    found = {}
    for key, chain in chains.items():
        family, table, name = key
        base = chain["base"]
        if base is None or base.get("hook") != HOOK or family not in _FAMILIES or (family, table) in ours:
            continue
        walker = _Walker(chains, family, table, xtables_ours=want.backend != "nftables")
        for packet, allowlists in packets.items():
            if packet.family not in _FAMILIES[family]:
                continue
            outcomes = walker.base_outcomes(name, packet)
            if ACCEPT in outcomes:
                continue
            where = _where(o[1] for o in outcomes if isinstance(o, tuple))
            entry = found.setdefault((key, where), {"ports": {}, "families": set(), "allowlists": set()})
            entry["ports"].setdefault(packet.proto, set()).add(packet.ports)
            entry["families"].add(packet.family)
            entry["allowlists"] |= allowlists
    out = [_sentence(key, chains[key]["base"], where, entry) for (key, where), entry in sorted(found.items())]
    if skipped > 0:
        out.append(f"{skipped} more port ranges were not checked against the other firewalls (at most {MAX_PACKETS})")
    return out


def _where(drops):
    """Where the packet ends: the chain's policy first (the usual end), then rejects and drops, at most three."""
    ranked = sorted(set(drops), key=lambda text: (not text.startswith("policy"), not text.startswith("reject"), text))
    return " or ".join(ranked[:3]) or "no rule accepts it"


def _packets(want):
    """``{Packet: {whose sources}}`` for every rule's ports, in each family its allowlist or local sources have."""
    out = {}
    active = want.active()
    for rule in want.rules:
        allowlist = active.get(rule.allowlist)
        for family in (4, 6):
            who = set()
            if allowlist is not None and allowlist.family(family):
                who.add(rule.allowlist)
            if any((":" in source) == (family == 6) for source in rule.sources):
                who.add(f"the local sources of {rule.describe()}")
            for ports in rule.ports if who else ():
                out.setdefault(Packet(family, rule.proto, tuple(ports)), set()).update(who)
    return out


def _sentence(key, base, where, entry):
    """One warning: the chain, what it drops for whom, where, and what to do."""
    family, table, name = key
    ports = " and ".join(
        f"{proto} " + ", ".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in sorted(ranges))
        for proto, ranges in sorted(entry["ports"].items())
    )
    families = " and ".join(f"IPv{f}" for f in sorted(entry["families"]))
    return (
        f"table {family} {table} chain {name} (hook {HOOK}, priority {base.get('prio')}) drops {ports} "
        f"({families}) for {', '.join(sorted(entry['allowlists']))}: {where}; nodeallow's "
        "accept cannot override another table's drop, so this traffic does not get through: open the port "
        'there (docs/firewall.md, "Beside your host firewall")'
    )


def _index(items):
    """``{(family, table, chain): {"base": chain item or None, "rules": [rule items in order]}}``."""
    chains = {}
    for item in items:
        if "chain" in item:
            body = item["chain"]
            key = (body.get("family"), body.get("table"), body.get("name"))
            chains.setdefault(key, {"base": None, "rules": []})
            if "hook" in body:
                chains[key]["base"] = body
        elif "rule" in item:
            body = item["rule"]
            key = (body.get("family"), body.get("table"), body.get("chain"))
            chains.setdefault(key, {"base": None, "rules": []})["rules"].append(body)
    return chains


class _Walker:
    """Follows the chains of one table for one packet at a time, remembering each chain's outcomes."""

    def __init__(self, chains, family, table, xtables_ours):
        """Walk ``chains`` of table ``family table``; ``xtables_ours``: chain NODEALLOW is ours."""
        self.chains = chains
        self.family = family
        self.table = table
        self.xtables_ours = xtables_ours
        self._memo = {}

    def base_outcomes(self, name, packet):
        """The verdicts base chain ``name`` can reach for ``packet`` (its policy where it ends)."""
        outcomes = self._outcomes(name, packet, ())
        if RETURN in outcomes:
            outcomes = outcomes - {RETURN}
            policy = self.chains[(self.family, self.table, name)]["base"].get("policy", "accept")
            outcomes |= {ACCEPT} if policy != "drop" else {("drop", f"policy drop of chain {name}")}
        return outcomes

    def _outcomes(self, name, packet, stack):
        """``{ACCEPT, RETURN, ("drop", where)}``: how chain ``name`` can end for ``packet``."""
        memo_key = (name, packet)
        if memo_key in self._memo:
            return self._memo[memo_key]
        chain = self.chains.get((self.family, self.table, name))
        if chain is None or name in stack or len(stack) > 64:
            # A chain the listing lacks (or a loop nft would refuse): anything may happen.
            return {ACCEPT, RETURN}
        if self.xtables_ours and name == "NODEALLOW" and self.family in ("ip", "ip6"):
            # The ipset/iptables backends' chain accepts the allowlisted sources on their ports.
            return {ACCEPT}
        result = set()
        for rule in chain["rules"]:
            matched = _rule_matches(rule["expr"], packet)
            if matched is False:
                continue
            verdicts = self._verdicts(rule["expr"], packet, (*stack, name), name)
            if verdicts is None:
                continue
            result |= verdicts - {NEXT}
            if matched is True and NEXT not in verdicts:
                break
        else:
            result.add(RETURN)
        self._memo[memo_key] = result
        return result

    def _verdicts(self, exprs, packet, stack, chain_name):
        """The outcomes of a matching rule's verdict (``None``: it has none, the next rule follows)."""
        for expr in exprs:
            kind = next(iter(expr)) if isinstance(expr, dict) and expr else None
            if kind == "accept" or kind == "queue":
                # queue: userspace decides; in the packet's favour.
                return {ACCEPT}
            if kind in ("drop", "reject"):
                return {("drop", f"{kind} in chain {chain_name}")}
            if kind == "xt" and expr["xt"].get("type") == "target" and expr["xt"].get("name") == "REJECT":
                return {("drop", f"REJECT in chain {chain_name}")}
            if kind == "return":
                return {RETURN}
            if kind == "continue":
                return {NEXT}
            if kind in ("jump", "goto"):
                return self._call(kind, expr[kind].get("target"), packet, stack)
            if kind == "vmap":
                return self._vmap(expr["vmap"], packet, stack, chain_name)
        return None

    def _call(self, kind, target, packet, stack):
        """Outcomes of ``jump``/``goto`` ``target``: after a jump its end is the next rule, after a goto ours."""
        called = self._outcomes(target, packet, stack)
        if kind == "jump" and RETURN in called:
            return (called - {RETURN}) | {NEXT}
        return called

    def _vmap(self, vmap, packet, stack, chain_name):
        """Outcomes of a verdict map: its entries the key can match (any, for a named map), or the next rule."""
        data = vmap.get("data")
        entries = data.get("set") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            return {ACCEPT, NEXT}
        out = set()
        for entry in entries:
            if not isinstance(entry, list) or len(entry) != 2:
                out |= {ACCEPT, NEXT}
                continue
            hit = _compare(vmap.get("key"), "==", entry[0], packet)
            if hit is False:
                continue
            verdict = self._verdicts([entry[1]], packet, stack, chain_name)
            out |= verdict if verdict is not None else {NEXT}
            if hit is True:
                return out
        return out | {NEXT}


def _rule_matches(exprs, packet):
    """``True``, ``False`` or ``UNKNOWN``: whether a rule's matches hold for ``packet``."""
    result = True
    port_match = False
    state_match = False
    for expr in exprs:
        kind = next(iter(expr)) if isinstance(expr, dict) and expr else None
        if kind == "match":
            body = expr["match"]
            hit = _compare(body.get("left"), body.get("op", "=="), body.get("right"), packet)
            if hit is True and _is_port(body.get("left")):
                port_match = True
        elif kind == "xt" and expr["xt"].get("type") == "match":
            name = expr["xt"].get("name")
            if name in _XT_NEVER:
                hit = False
            elif name in _XT_STATE:
                state_match = True
                hit = True
            else:
                hit = UNKNOWN
        elif kind in ("limit", "quota", "connlimit"):
            hit = UNKNOWN
        else:
            continue
        if hit is False:
            return False
        if hit is UNKNOWN:
            result = UNKNOWN
    if state_match and not port_match:
        # ESTABLISHED/RELATED accepts and INVALID drops, which a new connection does not match.
        return False
    return result


def _is_port(left):
    """Whether ``left`` is a destination port (``tcp dport``, ``udp dport``, ``th dport``)."""
    payload = left.get("payload") if isinstance(left, dict) else None
    return isinstance(payload, dict) and payload.get("field") == "dport"


def _compare(left, op, right, packet):
    """Evaluate ``left op right`` for ``packet``: ``True``, ``False`` or ``UNKNOWN``."""
    value = _value(left, packet)
    if value is False:
        return False
    if value is UNKNOWN or (isinstance(right, str) and right.startswith("@")):
        return UNKNOWN
    kind, have = value
    if kind == "range":
        return _compare_range(have, op, right)
    wanted = _flat(right)
    if wanted is UNKNOWN or op not in ("==", "in", "!="):
        return UNKNOWN
    if kind == "interface":
        # The packet comes in on some interface other than loopback: only loopback is decided.
        if not wanted <= have:
            return UNKNOWN
        return op == "!="
    # Known values: names or numbers of protocols, or flags (ct state "in": any of them is set).
    hit = bool(have & wanted)
    return not hit if op == "!=" else hit


def _flat(right):
    """A right-hand side as a set of scalars, or ``UNKNOWN`` (ranges, prefixes, named sets)."""
    items = right["set"] if isinstance(right, dict) and "set" in right else right
    items = items if isinstance(items, list) else [items]
    out = set()
    for item in items:
        if isinstance(item, (str, int)) and not isinstance(item, bool):
            out.add(item)
        else:
            return UNKNOWN
    return out


def _compare_range(ports, op, right):
    """Compare the port range ``ports`` with ``right`` (a port, a range or an anonymous set of them)."""
    low, high = ports
    intervals = _intervals(right)
    if intervals is UNKNOWN:
        return UNKNOWN
    if op in ("==", "in", "!="):
        inside = any(lo <= low and high <= hi for lo, hi in intervals)
        disjoint = all(high < lo or hi < low for lo, hi in intervals)
        hit = True if inside else (False if disjoint else UNKNOWN)
        if op == "!=" and hit is not UNKNOWN:
            return not hit
        return hit
    if len(intervals) != 1 or intervals[0][0] != intervals[0][1]:
        return UNKNOWN
    bound = intervals[0][0]
    checks = {"<": (high < bound, low >= bound), "<=": (high <= bound, low > bound),
              ">": (low > bound, high <= bound), ">=": (low >= bound, high < bound)}
    if op not in checks:
        return UNKNOWN
    always, never = checks[op]
    return True if always else (False if never else UNKNOWN)


def _intervals(right):
    """Port intervals of a right-hand side, or ``UNKNOWN`` (named set, service names nft did not resolve)."""
    items = right["set"] if isinstance(right, dict) and "set" in right else right
    items = items if isinstance(items, list) else [items]
    out = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            out.append((item, item))
        elif isinstance(item, dict) and isinstance(item.get("range"), list) and len(item["range"]) == 2:
            low, high = item["range"]
            if not (isinstance(low, int) and isinstance(high, int)):
                return UNKNOWN
            out.append((low, high))
        else:
            return UNKNOWN
    return out


def _value(left, packet):
    """What the packet holds for ``left``: ``(kind, value)``, ``False`` (the match cannot hold) or ``UNKNOWN``."""
    if not isinstance(left, dict):
        return UNKNOWN
    if "payload" in left:
        return _payload(left["payload"], packet)
    if "meta" in left:
        return _meta(left["meta"].get("key"), packet)
    if "ct" in left:
        key = left["ct"].get("key")
        if key == "state":
            return ("value", {"new"})
        if key == "status":
            # Not DNATed, not SNATed, not expected: none of the status flags a rule tests.
            return ("value", set())
        return UNKNOWN
    if "fib" in left:
        fib = left["fib"]
        if fib.get("result") == "type" and "daddr" in (fib.get("flags") or []):
            return ("value", {"local"})
        return UNKNOWN
    # Bit operations, concatenations and the like: impossible when they read another protocol.
    return False if _foreign_protocol(left, packet) else UNKNOWN


def _payload(payload, packet):
    """A payload field of ``packet``."""
    proto = payload.get("protocol")
    field = payload.get("field")
    if proto in ("tcp", "udp", "th"):
        if proto != "th" and proto != packet.proto:
            return False
        return ("range", packet.ports) if field == "dport" else UNKNOWN
    if proto in _OTHER_L4:
        return False
    if proto == "ip":
        if packet.family != 4:
            return False
        return ("value", {packet.proto, _PROTO_NUMBERS[packet.proto]}) if field == "protocol" else UNKNOWN
    if proto == "ip6":
        if packet.family != 6:
            return False
        return ("value", {packet.proto, _PROTO_NUMBERS[packet.proto]}) if field == "nexthdr" else UNKNOWN
    return UNKNOWN


def _meta(key, packet):
    """A meta key of ``packet``."""
    if key == "l4proto":
        return ("value", {packet.proto, _PROTO_NUMBERS[packet.proto]})
    if key == "nfproto":
        return ("value", {_NFPROTO[packet.family]})
    if key == "protocol":
        return ("value", {_ETHERTYPE[packet.family]})
    if key in ("iifname", "iif"):
        # Some interface other than loopback (nodeallow accepts loopback itself): the value is what it is not.
        return ("interface", {"lo"})
    if key == "iiftype":
        return ("interface", {"loopback"})
    return UNKNOWN


def _foreign_protocol(expr, packet):
    """Whether ``expr`` reads a payload ``packet`` does not carry (another L4 protocol, the other IP family)."""
    if isinstance(expr, dict):
        payload = expr.get("payload")
        if isinstance(payload, dict) and _payload(payload, packet) is False:
            return True
        return any(_foreign_protocol(v, packet) for v in expr.values())
    if isinstance(expr, list):
        return any(_foreign_protocol(v, packet) for v in expr)
    return False
