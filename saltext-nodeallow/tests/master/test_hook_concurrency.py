# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""salt-api's webhook under concurrent POSTs (docs/salt.md, "Troubleshooting": HTTP 500 on every hook).

A fresh real salt-master with the documented settings (engine ingest) and salt-api per test. rest_cherrypy
fires every hook's event through one event sender (``Webhook.event``) shared by all its request threads;
POSTs that arrive at the same time run its asyncio loop twice at once (``RuntimeError: This event loop is
already running``), answer HTTP 500, and on Salt 3008.4 leave the hook failing every later POST. So the
controller sends one hook POST at a time to each salt-api (controllers/publisher/hookgate.go). Measured
(printed with ``-s``):

- 32 POSTs at once, then the failed ones and fresh ones again one at a time (whether salt-api recovers);
- POSTs from 32 threads one at a time through a shared gate (the controller's way): no 500 at all;
- 32 POSTs at once to a salt-api with the documented ``thread_pool: 1``: no 500 at all.

The first two run salt-api with Salt's default of 100 request threads, as a salt-api without the documented
setting has.

``NODEALLOW_HOOK_DEBUG=1`` runs salt-api with ``debug: True`` so a 500's body carries Salt's traceback.
"""

import collections
import concurrent.futures
import contextlib
import os
import threading
import time

import pytest
import requests
from pytestshellutils.utils import ports
from saltfactories.utils import random_string

from saltext.nodeallow.protocol.wire import SIGNATURE_HEADER
from tests.master.conftest import nodeallow_master_config
from tests.support.hooks import HookClient
from tests.support.master_side import PillarFiles, encode_body, signature, stored

DEBUG = bool(os.environ.get("NODEALLOW_HOOK_DEBUG"))
THREADS = 32
ALLOWLISTS = 32
ROUNDS = 4
# The controller retries a 500 after its backoff (0.5 s first); the test waits less, it only counts.
RETRY_WAIT = 0.05
MAX_ATTEMPTS = 20
# A hook that hangs (Salt 3006.29) counts as failed after this many seconds.
HTTP_TIMEOUT = 10
# salt-api's own default number of request threads (rest_cherrypy thread_pool), where the hook breaks.
SALT_DEFAULT_THREADS = {"thread_pool": 100}


@pytest.fixture
def hook_api(request, salt_factories, signing_keys, salt_factories_default_root_dir):
    """A fresh nodeallow master (documented settings) with salt-api; yields ``(master, base URL)``.

    Fresh per test: one burst of concurrent POSTs leaves salt-api's hook failing every later POST.
    ``@pytest.mark.parametrize("hook_api", [{...}], indirect=True)`` adds ``rest_cherrypy`` settings.
    """
    pillar = PillarFiles(salt_factories_default_root_dir / "nodeallow-hook-concurrency-pillar")
    config = nodeallow_master_config(ports.get_unused_localhost_port(), pillar.root, signing_keys)
    config["rest_cherrypy"].update(getattr(request, "param", {}))
    if DEBUG:
        config["rest_cherrypy"]["debug"] = True
    factory = salt_factories.salt_master_daemon(random_string("na-hooks-"), overrides=config)
    with factory.started(), factory.salt_api_daemon().started():
        yield factory, f"http://127.0.0.1:{factory.config['rest_cherrypy']['port']}"


class Poster:
    """Signed hook POSTs from many threads (one HTTP connection each), retried on HTTP 500 like the controller.

    With ``gate`` every POST holds it while on the wire: one at a time, as the controller sends them.
    """

    def __init__(self, base_url, keys, gate=None):
        """POST to salt-api at ``base_url``, signing with ``keys`` ({cluster: key})."""
        self.base_url = base_url
        self.keys = keys
        self.gate = gate or contextlib.nullcontext()
        self.local = threading.local()
        self.clients = []
        self.lock = threading.Lock()
        self.first_codes = collections.Counter()
        self.codes = collections.Counter()
        self.failures = collections.Counter()

    def client(self):
        """This thread's HookClient."""
        if not hasattr(self.local, "client"):
            self.local.client = HookClient(self.base_url, timeout=HTTP_TIMEOUT)
            with self.lock:
                self.clients.append(self.local.client)
        return self.local.client

    def post(self, allowlist, sequence):
        """POST one body until salt-api answers anything but 500; returns that answer's status."""
        body = encode_body("prod", allowlist, sequence, [f"10.7.{sequence}.{n}/32" for n in range(4)]).encode()
        headers = {SIGNATURE_HEADER: signature(self.keys["prod"], body)}
        for attempt in range(MAX_ATTEMPTS):
            with self.gate:
                try:
                    response = self.client().post(f"nodeallow/prod/{allowlist}", body=body, headers=headers)
                    code, text = response.status_code, response.text
                except requests.Timeout:
                    # Salt 3006.29's hook hangs instead of answering 500 (docs/salt.md).
                    code, text = "timeout", ""
            with self.lock:
                self.codes[code] += 1
                if attempt == 0:
                    self.first_codes[code] += 1
                if code == 500:
                    self.failures[text[-1500:]] += 1
            if code not in (500, "timeout"):
                return code
            time.sleep(RETRY_WAIT)
        return code

    def burst(self, names, sequence):
        """POST ``sequence`` of every allowlist in ``names`` from THREADS threads at once."""
        start = threading.Barrier(THREADS)

        def one(allowlist):
            if len(names) <= THREADS:
                start.wait(timeout=30)
            return self.post(allowlist, sequence)

        with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
            return list(pool.map(one, names))

    def close(self):
        """Close every thread's connections."""
        for client in self.clients:
            client.close()


def run_rounds(master, poster, prefix):
    """ROUNDS bursts over ALLOWLISTS allowlists; returns the last sequence, after asserting all landed."""
    names = [f"{prefix}-{n:02d}" for n in range(ALLOWLISTS)]
    try:
        for sequence in range(1, ROUNDS + 1):
            answers = poster.burst(names, sequence)
            assert answers == [200] * ALLOWLISTS, (
                f"round {sequence}: {collections.Counter(answers)}; HTTP 500 bodies: {poster.failures.most_common(2)}"
            )
    finally:
        poster.close()
    deadline = time.monotonic() + 60
    missing = names
    while missing and time.monotonic() < deadline:
        missing = [n for n in missing if (stored(master.config, "prod", n) or {}).get("sequence") != ROUNDS]
        time.sleep(0.2)
    assert not missing, f"not stored at sequence {ROUNDS}: {missing}"


def report(capsys, what, poster):
    """Print the counts (and with NODEALLOW_HOOK_DEBUG the distinct 500 bodies)."""
    posts = sum(poster.first_codes.values())
    with capsys.disabled():
        print(
            f"\n{what}: {posts} POSTs (bursts of {ALLOWLISTS} from {THREADS} threads): "
            f"first attempts {dict(poster.first_codes)}, all attempts {dict(poster.codes)}"
        )
        if DEBUG:
            for text, count in poster.failures.most_common(3):
                print(f"--- {count}x HTTP 500:\n{text}")


@pytest.mark.parametrize("hook_api", [SALT_DEFAULT_THREADS], indirect=True)
def test_concurrent_hook_posts(hook_api, signing_keys, capsys):
    """POSTs at once: count the 500s; then the failed ones again one at a time: does salt-api recover?"""
    _, base_url = hook_api
    poster = Poster(base_url, signing_keys)
    names = [f"at-once-{n:02d}" for n in range(ALLOWLISTS)]
    global MAX_ATTEMPTS
    saved, MAX_ATTEMPTS = MAX_ATTEMPTS, 1
    try:
        answers = poster.burst(names, 1)
        failed = [n for n, a in zip(names, answers, strict=True) if a != 200]
        gated = Poster(base_url, signing_keys, gate=threading.Lock())
        later = [gated.post(n, 1) for n in failed[:8]]
        later_fresh = [gated.post(f"fresh-{n:02d}", 1) for n in range(4)]
    finally:
        MAX_ATTEMPTS = saved
    poster.close()
    gated.close()
    report(capsys, "at once", poster)
    with capsys.disabled():
        print(f"failed ones again, one at a time: {collections.Counter(later)}, attempts {dict(gated.codes)}")
        print(f"fresh ones after: {later_fresh}")
    assert set(poster.codes) <= {200, 500, "timeout"}, poster.codes


@pytest.mark.parametrize("hook_api", [SALT_DEFAULT_THREADS], indirect=True)
def test_hook_posts_one_at_a_time_never_fail(hook_api, signing_keys, capsys):
    """The controller's way (one hook POST at a time per salt-api, from many threads): no HTTP 500 at all."""
    master, base_url = hook_api
    poster = Poster(base_url, signing_keys, gate=threading.Lock())
    run_rounds(master, poster, "gated")
    report(capsys, "one at a time", poster)
    assert poster.codes == {200: ALLOWLISTS * ROUNDS}, poster.codes


def test_one_salt_api_thread_takes_concurrent_posts(hook_api, signing_keys, capsys):
    """salt-api as documented (``thread_pool: 1``) queues POSTs that arrive at once: no 500, all land."""
    assert hook_api[0].config["rest_cherrypy"]["thread_pool"] == 1
    master, base_url = hook_api
    poster = Poster(base_url, signing_keys)
    run_rounds(master, poster, "one-thread")
    report(capsys, "thread_pool 1, at once", poster)
    assert poster.codes == {200: ALLOWLISTS * ROUNDS}, poster.codes
