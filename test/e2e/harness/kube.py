# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""A small Kubernetes REST client (requests + a kubeconfig's client certificate): Nodes, Secrets, NodeAllowlists.

The tests time Node changes to the millisecond, so they talk to kube-apiserver directly rather than through
a kubectl process per call; kubectl is still what the demo shows the user.
"""

import base64
import os
import re

import requests
import yaml

NODEALLOWLISTS = "/apis/nodeallow.io/v1alpha1/nodeallowlists"


class KubeError(RuntimeError):
    """kube-apiserver refused a request; the message quotes its answer."""

    def __init__(self, method, path, response):
        """Describe the failed request and the server's status and message."""
        try:
            message = response.json().get("message", response.text)
        except ValueError:
            message = response.text
        super().__init__(f"{method} {path}: HTTP {response.status_code}: {message}")
        self.status_code = response.status_code


class KubeClient:
    """Client for one kube-apiserver, authenticated with the client certificate of an admin kubeconfig."""

    def __init__(self, kubeconfig_path, cert_dir):
        """Read ``kubeconfig_path`` (as test/localcluster writes it) and keep its credentials in ``cert_dir``."""
        with open(kubeconfig_path, encoding="utf-8") as fh:
            config = yaml.safe_load(fh)
        context_name = config["current-context"]
        context = next(c["context"] for c in config["contexts"] if c["name"] == context_name)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
        self.server = cluster["server"].rstrip("/")
        os.makedirs(cert_dir, mode=0o700, exist_ok=True)
        ca = _write(cert_dir, "ca.crt", cluster["certificate-authority-data"])
        crt = _write(cert_dir, "client.crt", user["client-certificate-data"])
        key = _write(cert_dir, "client.key", user["client-key-data"])
        self._session = requests.Session()
        # Never through a proxy from the environment: the server is on loopback.
        self._session.trust_env = False
        self._session.verify = ca
        self._session.cert = (crt, key)

    def close(self):
        """Close pooled connections."""
        self._session.close()

    def request(self, method, path, *, body=None, content_type="application/json", params=None, ok=(200, 201)):
        """Send one request and return the decoded JSON answer; raise :class:`KubeError` on other statuses."""
        response = self._session.request(
            method,
            self.server + path,
            json=body,
            params=params,
            headers={"Content-Type": content_type} if body is not None else None,
            timeout=30,
        )
        if response.status_code not in ok:
            raise KubeError(method, path, response)
        return response.json() if response.content else None

    def ready(self):
        """Whether kube-apiserver answers /readyz with ok."""
        response = self._session.get(self.server + "/readyz", timeout=5)
        return response.status_code == 200

    # Namespaces and Secrets

    def ensure_namespace(self, name):
        """Create namespace ``name`` unless it exists."""
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        self.request("POST", "/api/v1/namespaces", body=body, ok=(201, 409))

    def apply_secret(self, namespace, name, string_data):
        """Create or replace Secret ``namespace/name`` holding ``string_data``."""
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "type": "Opaque",
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in string_data.items()},
        }
        path = f"/api/v1/namespaces/{namespace}/secrets"
        try:
            self.request("POST", path, body=body)
        except KubeError as exc:
            if exc.status_code != 409:
                raise
            self.request("PUT", f"{path}/{name}", body=body)

    # Nodes

    def create_node(self, name, addresses, labels=None):
        """Create Node ``name`` with ``addresses`` ({type: address} or [(type, address)]) in its status.

        kube-apiserver keeps the status of a Node given at creation (nothing else here runs a kubelet).
        """
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": dict(labels or {})},
            "status": {"addresses": _addresses(addresses)},
        }
        return self.request("POST", "/api/v1/nodes", body=body)

    def set_node_addresses(self, name, addresses):
        """Replace Node ``name``'s status addresses (as a kubelet would)."""
        body = {"status": {"addresses": _addresses(addresses)}}
        return self.request(
            "PATCH",
            f"/api/v1/nodes/{name}/status",
            body=body,
            content_type="application/merge-patch+json",
        )

    def set_node_labels(self, name, labels):
        """Merge ``labels`` into Node ``name``'s labels (a value of None removes that label)."""
        body = {"metadata": {"labels": labels}}
        return self.request(
            "PATCH", f"/api/v1/nodes/{name}", body=body, content_type="application/merge-patch+json"
        )

    def delete_node(self, name):
        """Delete Node ``name`` (no error when it is already gone)."""
        self.request("DELETE", f"/api/v1/nodes/{name}", ok=(200, 202, 404))

    def delete_nodes(self, label_selector):
        """Delete every Node matching ``label_selector``."""
        self.request("DELETE", "/api/v1/nodes", params={"labelSelector": label_selector}, ok=(200, 202))

    def list_nodes(self, label_selector=None):
        """Return the Nodes (as dicts) matching ``label_selector``."""
        params = {"labelSelector": label_selector} if label_selector else None
        return self.request("GET", "/api/v1/nodes", params=params)["items"]

    # NodeAllowlists

    def create_allowlist(self, allowlist):
        """Create a NodeAllowlist from its full object (a dict); return what the server stored."""
        return self.request("POST", NODEALLOWLISTS, body=allowlist)

    def get_allowlist(self, name):
        """Return NodeAllowlist ``name`` (a dict), or None when it does not exist."""
        try:
            return self.request("GET", f"{NODEALLOWLISTS}/{name}")
        except KubeError as exc:
            if exc.status_code == 404:
                return None
            raise

    def patch_allowlist(self, name, patch):
        """Merge-patch NodeAllowlist ``name``'s object with ``patch`` (a dict); return what the server stored."""
        return self.request("PATCH", f"{NODEALLOWLISTS}/{name}", body=patch,
                            content_type="application/merge-patch+json")

    def delete_allowlist(self, name):
        """Delete NodeAllowlist ``name`` (no error when it is already gone)."""
        self.request("DELETE", f"{NODEALLOWLISTS}/{name}", ok=(200, 202, 404))


def _write(directory, name, b64_data):
    """Decode ``b64_data`` into ``directory/name`` (mode 0600) and return the path."""
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(base64.b64decode(b64_data))
    return path


def _addresses(addresses):
    """Turn {type: address}, [(type, address)] or [address] (InternalIP) into NodeStatus addresses."""
    if isinstance(addresses, dict):
        addresses = list(addresses.items())
    out = []
    for item in addresses:
        if isinstance(item, str):
            item = ("InternalIP", item)
        out.append({"type": item[0], "address": item[1]})
    return out


def parse_table(text):
    """The rows of kubectl's table output as ``{HEADER: cell}`` dicts, cut at the header's column starts.

    Splitting on whitespace would shift every cell after an empty one (an APPLIED column of an allowlist
    without delivery confirmation); kubectl left-aligns each column under its header, so offsets hold.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"\S+(?: \S+)*", header)]
    names = [header[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
    rows = []
    for line in lines[1:]:
        cells = [line[a:b].strip() if b else line[a:].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        rows.append(dict(zip(names, cells, strict=True)))
    return rows
