# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Read events from a running salt-master's event bus, the way the reactor sees them."""

import calendar
import fnmatch
import json
import time
import uuid

import salt.utils.event


class QueuedBus:
    """A stand-in for the engine's master bus in unit tests: hands out queued events one per ``get_event``."""

    def __init__(self, events):
        """Queue ``events`` (``{"tag", "data"}``)."""
        self.events = list(events)

    def get_event(self, **_):
        """The next queued event, or ``None``."""
        return self.events.pop(0) if self.events else None

    def fire_event(self, data, tag):
        """Events the engine fires are not looked at here."""


class EventTimeout(AssertionError):
    """No event matching the expected tag arrived on the master bus in time."""


class MasterEvents:
    """Subscription to a salt-master's event bus; enter it before causing the events you wait for.

    Events published while no subscription exists are lost, so a test opens
    this first, then acts (POSTs to salt-api, runs a command), then calls
    :meth:`wait_for`. Entering waits until the subscription provably receives
    events, so nothing fired after ``__enter__`` returns can be missed.
    """

    def __init__(self, master_opts, ready_timeout=10.0):
        """Remember the master's options (its ``sock_dir`` locates the bus)."""
        self._opts = master_opts
        self._ready_timeout = ready_timeout
        self._event = None
        # Every event received, in order, for later waits and for messages.
        self.seen = []

    def __enter__(self):
        """Connect to the master's event publisher and wait until it delivers to us."""
        self._event = salt.utils.event.get_master_event(
            self._opts, self._opts["sock_dir"], listen=True
        )
        if not self._event.cpub:
            self._event.destroy()
            raise RuntimeError(
                f"could not connect to the master event bus in {self._opts['sock_dir']}; "
                "is the salt_master fixture running?"
            )
        # The publisher registers a new subscriber asynchronously; an event
        # of our own coming back proves the subscription is live.
        probe = f"nodeallow/test/listener-ready/{uuid.uuid4().hex}"
        try:
            with salt.utils.event.get_master_event(
                self._opts, self._opts["sock_dir"], listen=False
            ) as sender:
                deadline = time.monotonic() + self._ready_timeout
                while True:
                    sender.fire_event({}, probe)
                    try:
                        self.wait_for(probe, timeout=0.5)
                        break
                    except EventTimeout:
                        if time.monotonic() > deadline:
                            raise
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info):
        """Disconnect from the bus."""
        if self._event is not None:
            self._event.destroy()
            self._event = None

    def wait_for(self, tag, timeout=10.0):
        """Return the first not yet returned event whose tag equals (or fnmatch-matches) ``tag``.

        The result is the full event: ``{"tag": ..., "data": {...}}``.
        Raises :class:`EventTimeout` listing the tags seen when none arrives in time.
        """
        if self._event is None:
            raise RuntimeError("MasterEvents.wait_for() called outside 'with MasterEvents(...)'")
        for event in self.seen:
            if _matches(event["tag"], tag) and not event.get("_consumed"):
                event["_consumed"] = True
                return {"tag": event["tag"], "data": event["data"]}
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            # get_event(wait=0) would block forever: keep the wait positive.
            event = self._event.get_event(wait=max(remaining, 0.01), full=True)
            if event is None:
                continue
            record = {"tag": event["tag"], "data": event["data"]}
            self.seen.append(record)
            if _matches(record["tag"], tag):
                record["_consumed"] = True
                return {"tag": record["tag"], "data": record["data"]}
        seen_tags = [event["tag"] for event in self.seen if "listener-ready" not in event["tag"]]
        raise EventTimeout(
            f"no event tagged {tag!r} on the master bus within {timeout:.1f}s; "
            f"tags seen since subscribing: {seen_tags[-20:] or 'none'}"
        )

    def drain(self, seconds):
        """Receive every event for ``seconds`` into :attr:`seen`, so a test can count all that arrived."""
        if self._event is None:
            raise RuntimeError("MasterEvents.drain() called outside 'with MasterEvents(...)'")
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            event = self._event.get_event(wait=max(remaining, 0.01), full=True)
            if event is not None:
                self.seen.append({"tag": event["tag"], "data": event["data"]})
        return self.seen

    def matching(self, tag):
        """Every event received so far whose tag equals (or fnmatch-matches) ``tag``, consumed or not."""
        return [{"tag": e["tag"], "data": e["data"]} for e in self.seen if _matches(e["tag"], tag)]


def _matches(actual, wanted):
    """Whether tag ``actual`` is ``wanted`` exactly or matches it as an fnmatch pattern."""
    return actual == wanted or fnmatch.fnmatchcase(actual, wanted)


def stamp(event):
    """The master's ``_stamp`` of an event, as seconds since the epoch."""
    text = event["data"]["_stamp"]
    return calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")) + float("0." + (text[20:26] or "0"))


def ingest_times(events, hook_path="nodeallow"):
    """Seconds from each hook event to its body's outcome event (``stored``, ``unchanged``, ...), master stamps.

    The engine ingests hook events in batches and fires one outcome event per body, carrying its sequence;
    a hook and an outcome are paired by allowlist and sequence, in order.
    """
    prefix = f"salt/netapi/hook/{hook_path}/"
    posted = {}
    times = []
    for event in events.seen:
        tag, data = event["tag"], event["data"]
        if "__peer_id" in data:
            continue
        if tag.startswith(prefix):
            try:
                sequence = json.loads(data.get("body") or "")["sequence"]
            except (ValueError, KeyError, TypeError):
                continue
            posted.setdefault((tag[len(prefix) :], sequence), []).append(stamp(event))
            continue
        parts = tag.split("/")
        if len(parts) == 4 and parts[0] == "nodeallow" and parts[1] in ("stored", "retired", "unchanged", "chunk"):
            waiting = posted.get((f"{parts[2]}/{parts[3]}", data.get("sequence")))
            if waiting:
                times.append(stamp(event) - waiting.pop(0))
    return times
