# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Sample minions' nft sets every ~200 ms while a fault runs, and check what was seen.

The checks the fault tests make: a set that held addresses is never seen empty, and an address
removed from the stored snapshot is gone from every live subscriber within a bound.
"""

import ipaddress
import threading
import time

from saltext.nodeallow.firewall import naming
from tests.support.netns import NetnsError

INTERVAL = 0.2


def nft_reader(ns, allowlist, table=naming.DEFAULT_NFT_TABLE):
    """Return ``read() -> frozenset of CIDRs or None``: our nft sets of ``allowlist`` in ``ns``.

    Both families, the host and the prefix set of each.
    """

    def read():
        """The CIDRs the sets hold now, or ``None`` when neither exists."""
        found = set()
        exists = False
        for family in (4, 6):
            for set_name in naming.nft_sets(allowlist, family):
                try:
                    elements = ns.nft_set_elements("inet", table, set_name)
                except NetnsError:
                    continue
                exists = True
                found |= {str(ipaddress.ip_network(element)) for element in elements}
        return frozenset(found) if exists else None

    return read


class SetSampler:
    """Reads every target every :data:`INTERVAL` seconds in a thread, while entered.

    ``targets`` maps a label to ``(netns, allowlist)`` (our nft sets there) or to a ``read()``
    callable returning the CIDRs a firewall allows now (``None`` when it has no such set).
    """

    def __init__(self, targets):
        """Remember what to sample."""
        self.targets = {
            label: target if callable(target) else nft_reader(*target) for label, target in targets.items()
        }
        # [(monotonic time, label, frozenset of CIDRs or None when the set does not exist)]
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="nodeallow-set-sampler", daemon=True)

    def __enter__(self):
        """Start sampling."""
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        """Stop sampling."""
        self._stop.set()
        self._thread.join(timeout=10)

    def read(self, label):
        """What ``label``'s firewall allows now (``None`` when it has no such set)."""
        return self.targets[label]()

    def _loop(self):
        """Sample until stopped."""
        while not self._stop.is_set():
            for label in self.targets:
                try:
                    value = self.read(label)
                except Exception as exc:  # pylint: disable=broad-except  # keep sampling; record the failure
                    value = exc
                self.samples.append((time.monotonic(), label, value))
            self._stop.wait(INTERVAL)

    def series(self, label):
        """``[(time, value)]`` of one label."""
        return [(t, v) for t, name, v in self.samples if name == label]

    def assert_never_empty(self):
        """Once a label's set held addresses, it was never seen empty or missing (nor unreadable)."""
        for label in self.targets:
            seen = False
            for moment, value in self.series(label):
                assert not isinstance(value, Exception), f"{label}: reading its set failed: {value}"
                if value:
                    seen = True
                elif seen:
                    state = "empty" if value is not None else "missing"
                    raise AssertionError(f"{label}: its set was {state} at {moment:.1f}")

    def last_holding(self, label, address):
        """The last time ``label``'s set was seen holding ``address`` (``None`` if never)."""
        times = [moment for moment, value in self.series(label) if value and address in value]
        return times[-1] if times else None
