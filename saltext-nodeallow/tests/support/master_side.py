# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Helpers for the master-side tests: protocol v1 bodies signed like the controller's, pillar files, the store."""

import hashlib
import hmac
import json
import pathlib

import yaml

from saltext.nodeallow import store as nodeallow_store
from saltext.nodeallow.protocol import canonical
from saltext.nodeallow.protocol.wire import SIGNATURE_HEADER, VERSION

REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]
VECTORS_DIR = REPO_ROOT / "test" / "protocol" / "v1"

GENERATED_AT = "2026-03-01T12:00:00Z"


def load_vectors():
    """The shared protocol test vectors (test/protocol/v1/vectors.json)."""
    return json.loads((VECTORS_DIR / "vectors.json").read_text(encoding="utf-8"))


def load_status_vectors():
    """The answers of the runner nodeallow.status the controller decodes (test/protocol/v1/status.json)."""
    return json.loads((VECTORS_DIR / "status.json").read_text(encoding="utf-8"))


def load_schema():
    """The protocol's JSON Schema (test/protocol/v1/schema.json)."""
    return json.loads((VECTORS_DIR / "schema.json").read_text(encoding="utf-8"))


def encode_body(
    cluster,
    allowlist,
    sequence,
    addresses,
    *,
    kind="snapshot",
    digest=None,
    chunk=(0, 1),
    generated_at=GENERATED_AT,
    extra=None,
):
    """Return one body as the controller writes it: compact JSON, members in the doc's order.

    ``digest`` defaults to the digest of ``addresses`` (the whole list when not
    chunked); ``extra`` adds members (to test refusals).
    """
    members = {
        "protocol": VERSION,
        "kind": kind,
        "cluster": cluster,
        "allowlist": allowlist,
        "sequence": sequence,
        "digest": digest or canonical.digest(addresses),
        "generatedAt": generated_at,
        "chunk": {"index": chunk[0], "total": chunk[1]},
        "addresses": list(addresses),
    }
    members.update(extra or {})
    return json.dumps(members, separators=(",", ":"), ensure_ascii=False)


def chunked_bodies(cluster, allowlist, sequence, addresses, per_chunk):
    """Split ``addresses`` into bodies of ``per_chunk`` entries, all carrying the whole list's digest."""
    runs = [addresses[i : i + per_chunk] for i in range(0, len(addresses), per_chunk)]
    whole = canonical.digest(addresses)
    return [
        encode_body(cluster, allowlist, sequence, run, digest=whole, chunk=(i, len(runs)))
        for i, run in enumerate(runs)
    ]


def signature(key, body):
    """The X-Hub-Signature-256 header value for ``body`` under ``key``, computed independently of the code."""
    key = key if isinstance(key, bytes) else key.encode("utf-8")
    body = body if isinstance(body, bytes) else body.encode("utf-8")
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


class Publisher:
    """POSTs signed bodies to a salt-api ``/hook/nodeallow/<cluster>/<allowlist>``, like the controller."""

    def __init__(self, hook_client, keys, hook_path="nodeallow"):
        """Use ``hook_client`` (tests.support.hooks.HookClient) and ``keys`` ({cluster: key})."""
        self.hook_client = hook_client
        self.keys = keys
        self.hook_path = hook_path

    def post(self, cluster, allowlist, body, *, key=None, headers=None, sign=True, content_type=None):
        """POST ``body`` signed with ``key`` (default: the cluster's); assert salt-api put it on the bus."""
        all_headers = {}
        if sign:
            all_headers[SIGNATURE_HEADER] = signature(key or self.keys[cluster], body)
        if content_type:
            all_headers["Content-Type"] = content_type
        all_headers.update(headers or {})
        response = self.hook_client.post(
            f"{self.hook_path}/{cluster}/{allowlist}", body=body, headers=all_headers, timeout=30
        )
        assert response.status_code == 200, (response.status_code, response.text[:500])
        return response


class PillarFiles:
    """The test master's pillar_roots: ``top.sls`` includes ``minions/<id>.sls`` when it exists."""

    TOP = (
        "base:\n"
        "  '*':\n"
        "    - ignore_missing: True\n"
        "    - minions.{{ opts['id'] }}\n"
    )

    def __init__(self, root):
        """Create the pillar tree under ``root``."""
        self.root = pathlib.Path(root)
        (self.root / "minions").mkdir(parents=True, exist_ok=True)
        (self.root / "top.sls").write_text(self.TOP, encoding="utf-8")

    def set(self, minion_id, pillar):
        """Give ``minion_id`` exactly ``pillar`` (a dict) from now on."""
        path = self.root / "minions" / f"{minion_id}.sls"
        path.write_text(yaml.safe_dump(pillar, default_flow_style=False), encoding="utf-8")

    def subscribe(self, minion_id, *allowlists, ports=(5432,), extra=None):
        """Subscribe ``minion_id`` to ``allowlists`` (``cluster/allowlist`` strings), tcp ``ports``."""
        settings = {
            "rules": [
                {"allowlist": name, "proto": "tcp", "ports": list(ports), "comment": f"test {name}"}
                for name in allowlists
            ]
        }
        settings.update(extra or {})
        self.set(minion_id, {"nodeallow": settings})

    def clear(self, minion_id):
        """Remove ``minion_id``'s pillar file."""
        (self.root / "minions" / f"{minion_id}.sls").unlink(missing_ok=True)


def put_snapshot(store, cluster, allowlist, sequence, addresses):
    """Store a snapshot record of ``addresses`` under ``sequence`` in ``store``, as ingest would (stored at 0)."""
    with store.lock():
        store.put(
            {
                "cluster": cluster,
                "allowlist": allowlist,
                "sequence": sequence,
                "digest": canonical.digest(addresses),
                "generated_at": GENERATED_AT,
                "stored_at": 0,
                "addresses": list(addresses),
                "retired": False,
            }
        )


def stored(master_config, cluster, allowlist):
    """The master store's record of one allowlist, read directly from the master cache (or ``None``)."""
    return nodeallow_store.Store(master_config).get(cluster, allowlist)


def applies(master_config, cluster, allowlist):
    """The master store's apply results of one allowlist."""
    return nodeallow_store.Store(master_config).get_applies(cluster, allowlist)
