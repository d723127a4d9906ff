# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""A salt-api fan-out on loopback: one URL for the controller, every hook POST delivered to each salt-api on its own.

It stands in for the controller's upcoming "several endpoints per allowlist" (issue 12, item 1): today a
NodeAllowlist names one salt-api URL, and with Salt's classic multi-master every master needs every snapshot.
What it does is what that feature is to do, so the Salt side can be proven against it now:

- each salt-api (*upstream*) gets every body independently, in order, from a queue of its own, with its
  own login token; a down or refusing upstream never delays the others;
- an upstream that fails is retried every :data:`RETRY` seconds until it answers, and then gets the
  current snapshot at once: bodies of a sequence lower than a newer one for the same allowlist are
  dropped from its queue (chunks of one sequence are kept together);
- the controller's request is answered as soon as one upstream accepted the body (``{"success": true}``
  from salt-api), with that answer; if none does within :data:`ANSWER_WITHIN` seconds, 503 (the
  controller retries).

The controller logs in through it as through salt-api: ``/login`` is passed to the upstreams (the first
that answers), the token it returns is accepted on hooks, and the fan-out logs in to each upstream with
the same credentials. Nothing else of salt-api is served (404).
"""

import dataclasses
import http.server
import json
import threading
import time

import requests

# Seconds between two attempts to deliver to an upstream that failed.
RETRY = 0.25
# Seconds the controller's request waits for the first upstream to accept its body.
ANSWER_WITHIN = 10.0
# Seconds one attempt to an upstream may take.
ATTEMPT_TIMEOUT = 5.0
_FORWARDED_HEADERS = ("Content-Type", "X-Hub-Signature-256")


@dataclasses.dataclass
class _Body:
    """One hook POST as received: where it goes, what it carries, and who waits for its first acceptance."""

    path: str
    headers: dict
    data: bytes
    sequence: object  # the body's sequence (int), or None when it is not protocol JSON
    answer: "_Answer"


class _Answer:
    """The first upstream answer accepting a body, which the controller's request waits for."""

    def __init__(self):
        """Nothing accepted yet."""
        self._event = threading.Event()
        self.status = None
        self.text = None

    def accept(self, status, text):
        """Record the first acceptance (later ones are ignored)."""
        if not self._event.is_set():
            self.status, self.text = status, text
            self._event.set()

    def wait(self, timeout):
        """Whether an upstream accepted the body within ``timeout`` seconds."""
        return self._event.wait(timeout)


class Upstream:
    """One salt-api: its queue of bodies, a worker thread delivering them in order, and what it delivered."""

    def __init__(self, fanout, url):
        """Deliver to salt-api at ``url`` with ``fanout``'s credentials."""
        self.fanout = fanout
        self.url = url.rstrip("/")
        self._queue = []
        self._wake = threading.Condition()
        self._stopped = False
        self._token = None
        # [(monotonic time, hook path, sequence)] of every body salt-api accepted.
        self.delivered = []
        # [(monotonic time, hook path, sequence, what failed)] of every failed attempt.
        self.failures = []
        # [(hook path, sequence)] of bodies dropped unsent because a newer sequence superseded them.
        self.superseded = []
        self._thread = threading.Thread(target=self._run, name=f"fanout-{self.url}", daemon=True)
        self._thread.start()

    def enqueue(self, body):
        """Queue ``body``, dropping queued bodies of the same allowlist with a lower sequence."""
        with self._wake:
            if isinstance(body.sequence, int):
                keep = []
                for queued in self._queue:
                    older = queued.path == body.path and isinstance(queued.sequence, int) and \
                        queued.sequence < body.sequence
                    if older:
                        self.superseded.append((queued.path, queued.sequence))
                    else:
                        keep.append(queued)
                self._queue = keep
            self._queue.append(body)
            self._wake.notify()

    def pending(self):
        """How many bodies wait for this upstream."""
        with self._wake:
            return len(self._queue)

    def stop(self):
        """End the worker (queued bodies are dropped)."""
        with self._wake:
            self._stopped = True
            self._wake.notify()
        self._thread.join(timeout=ATTEMPT_TIMEOUT + 5)

    def _run(self):
        """Deliver the head of the queue until it is accepted, then the next one."""
        session = requests.Session()
        session.trust_env = False
        try:
            while True:
                with self._wake:
                    while not self._queue and not self._stopped:
                        self._wake.wait()
                    if self._stopped:
                        return
                    body = self._queue[0]
                problem = self._deliver(session, body)
                if problem is None:
                    with self._wake:
                        if self._queue and self._queue[0] is body:
                            self._queue.pop(0)
                    continue
                self.failures.append((time.monotonic(), body.path, body.sequence, problem))
                with self._wake:
                    self._wake.wait(RETRY)
        finally:
            session.close()

    def _deliver(self, session, body):
        """POST ``body`` once; return ``None`` when salt-api accepted it, else what went wrong."""
        try:
            if self._token is None:
                self._token = self._login(session)
            headers = dict(body.headers, **{"X-Auth-Token": self._token, "Accept": "application/json"})
            response = session.post(self.url + body.path, data=body.data, headers=headers, timeout=ATTEMPT_TIMEOUT)
        except (requests.RequestException, RuntimeError) as exc:
            return f"{type(exc).__name__}: {exc}"
        if response.status_code == 401:
            # A restarted salt-api forgot its tokens: log in again on the next attempt.
            self._token = None
            return "401: token refused"
        try:
            accepted = response.status_code == 200 and response.json().get("success") is True
        except ValueError:
            accepted = False
        if not accepted:
            return f"HTTP {response.status_code}: {response.text[:200]}"
        self.delivered.append((time.monotonic(), body.path, body.sequence))
        body.answer.accept(response.status_code, response.text)
        return None

    def _login(self, session):
        """Log in to this salt-api with the controller's credentials; return the token."""
        credentials = self.fanout.credentials
        if credentials is None:
            raise RuntimeError("the controller has not logged in yet")
        response = session.post(self.url + "/login", json=credentials, headers={"Accept": "application/json"},
                                timeout=ATTEMPT_TIMEOUT)
        if response.status_code != 200:
            raise RuntimeError(f"login at {self.url} answered HTTP {response.status_code}")
        return response.json()["return"][0]["token"]


class FanOut:
    """The fan-out HTTP server on ``127.0.0.1`` (``url``) in front of the salt-apis at ``upstream_urls``."""

    def __init__(self, upstream_urls):
        """Start serving at once; :meth:`close` stops the server and the upstream workers."""
        self.credentials = None
        self._tokens = set()
        self._lock = threading.Lock()
        self.upstreams = [Upstream(self, url) for url in upstream_urls]
        handler = type("Handler", (_Handler,), {"fanout": self})
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fanout-server", daemon=True)
        self._thread.start()

    def __enter__(self):
        """The running fan-out."""
        return self

    def __exit__(self, *exc_info):
        """Stop it."""
        self.close()

    def close(self):
        """Stop serving and end the upstream workers."""
        self._server.shutdown()
        self._server.server_close()
        for upstream in self.upstreams:
            upstream.stop()

    def login(self, raw):
        """Pass the controller's ``/login`` body to the upstreams in turn; return the first answer's (status, text)."""
        last = (502, json.dumps({"error": "no salt-api answered the login"}))
        for upstream in self.upstreams:
            try:
                response = requests.post(upstream.url + "/login", data=raw, timeout=ATTEMPT_TIMEOUT,
                                         headers={"Content-Type": "application/json", "Accept": "application/json"})
            except requests.RequestException:
                continue
            last = (response.status_code, response.text)
            if response.status_code == 200:
                with self._lock:
                    self.credentials = json.loads(raw)
                    self._tokens.add(response.json()["return"][0]["token"])
                return last
            if response.status_code in (401, 403):
                return last
        return last

    def known_token(self, token):
        """Whether ``token`` came from a login through this fan-out."""
        with self._lock:
            return token in self._tokens

    def publish(self, path, headers, data):
        """Queue a hook body for every upstream; return the first acceptance as (status, text), or 503."""
        try:
            sequence = json.loads(data).get("sequence")
        except (ValueError, AttributeError):
            sequence = None
        answer = _Answer()
        for upstream in self.upstreams:
            upstream.enqueue(_Body(path, headers, data, sequence, answer))
        if answer.wait(ANSWER_WITHIN):
            return answer.status, answer.text
        return 503, json.dumps({"error": f"no salt-api accepted the body within {ANSWER_WITHIN:g}s; queued for all"})


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``/login`` and ``/hook/...`` for the controller; ``fanout`` is set on a subclass."""

    fanout = None
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin  # the base class's name
        """Stay quiet: the upstreams' delivery records say what happened."""

    def _reply(self, status, text):
        """Answer ``status`` with JSON ``text``."""
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):  # http.server names them
        """``/login`` and hooks; anything else is 404."""
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/login":
            self._reply(*self.fanout.login(data))
        elif self.path.startswith("/hook/"):
            if not self.fanout.known_token(self.headers.get("X-Auth-Token")):
                self._reply(401, json.dumps({"error": "no valid X-Auth-Token: log in at /login first"}))
                return
            headers = {name: self.headers[name] for name in _FORWARDED_HEADERS if self.headers.get(name)}
            self._reply(*self.fanout.publish(self.path, headers, data))
        else:
            self._reply(404, json.dumps({"error": f"the fan-out serves /login and /hook/ only, not {self.path}"}))

    def do_GET(self):  # http.server names them
        """Nothing to get."""
        self._reply(404, json.dumps({"error": "the fan-out serves POST /login and /hook/ only"}))
