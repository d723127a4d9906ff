# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Whether a host firewall's reload kept the restriction: two clients sampled, and the issue's checks on them.

The host-firewall tests link an allowlisted and an outside client namespace to the minion's namespace, each
by a veth pair of its own (an interface and subnet each, IPv4 and IPv6; :class:`tests.support.probe.Link`),
and sample both clients' addresses every :data:`tests.support.probe.INTERVAL` seconds while a host firewall
is reloaded (:class:`tests.support.probe.Sampling`). :func:`settle` and :func:`assert_only_in_windows` turn
the samples into the issue's checks.
"""

import contextlib
import dataclasses
import time

from tests.support import firewall as fw
from tests.support import probe

# A dropped SYN is waited for this long: a rejected one is refused at once and an accepted one answers
# within a millisecond on a veth, so this only has to cover a busy machine's scheduling during a reload.
CONNECT_TIMEOUT = 0.3
# Label -> (client IPv4 subnet prefix, IPv6 prefix).
SUBNETS = {
    "allowlisted": ("10.202.1", "fd00:202:1::"),
    "outside": ("10.202.2", "fd00:202:2::"),
}


@dataclasses.dataclass(frozen=True)
class Client:
    """A client namespace and its addresses, with the host's addresses on the same link."""

    ns: object
    addresses: tuple  # (IPv4, IPv6) of the client
    host: tuple  # (IPv4, IPv6) of the host on this link

    def cidrs(self):
        """The client's addresses as host routes, for an allowlist."""
        return [f"{self.addresses[0]}/32", f"{self.addresses[1]}/128"]


@contextlib.contextmanager
def clients(host_ns, ports=(5432,)):
    """``{"allowlisted": Client, "outside": Client}`` linked to ``host_ns``, and a listener there on ``ports``."""
    with contextlib.ExitStack() as stack:
        out = {}
        for number, (label, (net4, net6)) in enumerate(SUBNETS.items()):
            host, client = (f"{net4}.1", f"{net6}1"), (f"{net4}.2", f"{net6}2")
            # The first link's listener (on every address) serves both.
            link = stack.enter_context(probe.Link(host_ns, host, client, ports, listen=number == 0))
            out[label] = Client(link.peer, client, host)
        yield out


def connects(client, family, port=5432):
    """Whether one TCP connection from ``client``'s address of ``family`` (4 or 6) to the host gets through."""
    index = 0 if family == 4 else 1
    return fw.tcp_connects(client.ns, client.addresses[index], client.host[index], port)


class Sampler:
    """While entered, every client connects from both addresses every interval; see :meth:`series`."""

    def __init__(self, clients_by_label, port=5432):
        """Probe ``port`` from each of ``clients_by_label`` (``{label: Client}``)."""
        self.clients = clients_by_label
        self.sampling = probe.Sampling(
            {c.ns.name: list(zip(c.addresses, c.host, strict=True)) for c in clients_by_label.values()},
            port,
            CONNECT_TIMEOUT,
        )

    def __enter__(self):
        """Start the probers (one per client)."""
        self.sampling.__enter__()  # pylint: disable=unnecessary-dunder-call
        return self

    def __exit__(self, *exc_info):
        """Stop the probers."""
        self.sampling.__exit__(*exc_info)

    def series(self, label, since=None):
        """``[(time, {"ipv4": bool, "ipv6": bool})]`` of client ``label`` from ``since`` on."""
        client = self.clients[label]
        v4, v6 = client.addresses
        return [(t, {"ipv4": ok[v4], "ipv6": ok[v6]}) for t, _, ok in self.sampling.rounds(since, ns=client.ns.name)]


def right(label, ok):
    """Whether a sample is what a holding firewall gives: allowlisted through, outside refused (both families)."""
    return all(ok.values()) if label == "allowlisted" else not any(ok.values())


def settle(sampler, since, bound, stable=1.0):
    """Wait until every label was right for ``stable`` seconds; return when that stretch began, relative to ``since``.

    Fails when the firewall did not hold again within ``bound`` seconds of ``since``.
    """
    deadline = time.monotonic() + bound + stable + 2 * CONNECT_TIMEOUT + 1
    while True:
        began = max(_last_wrong(sampler, label, since) for label in sampler.clients)
        newest = min((s[-1][0] if s else since) for s in (sampler.series(lbl, since) for lbl in sampler.clients))
        if newest - began >= stable:
            return began - since
        if time.monotonic() > deadline:
            raise AssertionError(
                f"the firewall did not hold again within {bound}s: "
                + "; ".join(f"{lbl}: {sampler.series(lbl, since)[-5:]}" for lbl in sampler.clients)
            )
        time.sleep(probe.INTERVAL)


def _last_wrong(sampler, label, since):
    """The time just after ``label``'s last wrong sample from ``since`` on (``since`` when none was wrong)."""
    wrong = [t for t, ok in sampler.series(label, since) if not right(label, ok)]
    return wrong[-1] + probe.INTERVAL if wrong else since


def assert_only_in_windows(sampler, events, bound):
    """Check every sample against the reload ``events`` (``[(name, start, end, deletes_ours)]``).

    The allowlisted client is refused only between an event's start and ``bound`` seconds after its end;
    the outside client gets through only there too, and only for events that delete nodeallow's objects.
    """
    for label in sampler.clients:
        for moment, ok in sampler.series(label):
            if right(label, ok):
                continue
            excused = [
                name for name, start, end, deletes in events
                if start <= moment <= end + bound and (label == "allowlisted" or deletes)
            ]
            assert excused, (
                f"the {label} client was {'refused' if label == 'allowlisted' else 'let through'} ({ok}) at "
                f"{moment:.2f}, outside every reload window: {[(n, round(s, 2), round(e, 2)) for n, s, e, _ in events]}"
            )
