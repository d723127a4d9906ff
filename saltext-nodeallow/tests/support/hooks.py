# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""POST to salt-api's webhook endpoint (``/hook/<path>``) the way the nodeallow controller does."""

import json

import requests


class HookClient:
    """Client for ``http://127.0.0.1:<port>/hook/...`` of the salt-api under test."""

    def __init__(self, base_url, timeout=10.0):
        """Use salt-api at ``base_url`` (e.g. ``http://127.0.0.1:8000``)."""
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        # Never send test traffic for 127.0.0.1 through a proxy from the
        # environment (HTTP_PROXY without a NO_PROXY for loopback).
        self._session.trust_env = False

    def close(self):
        """Close the pooled HTTP connections."""
        self._session.close()

    def post(self, path, payload=None, *, body=None, headers=None, timeout=None):
        """POST JSON to ``/hook/<path>`` and return the :class:`requests.Response`.

        Give ``payload`` (serialised here) or ``body`` (exact bytes, e.g. to test
        signatures over the raw text). The body always goes out with a
        Content-Length, because salt-api treats a chunked body as empty.
        """
        if (payload is None) == (body is None):
            raise ValueError("pass exactly one of payload= or body=")
        if body is None:
            body = json.dumps(payload, separators=(",", ":"), sort_keys=True)
        if isinstance(body, str):
            body = body.encode("utf-8")
        all_headers = {"Content-Type": "application/json", "Accept": "application/json"}
        all_headers.update(headers or {})
        return self._session.post(
            f"{self.base_url}/hook/{path.lstrip('/')}",
            data=body,
            headers=all_headers,
            timeout=timeout or self.timeout,
        )
