# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""What `kubectl get nal` says is what the real salt-api did: a hung salt-api and a refused login are named as such."""

import subprocess
import time

from harness.binaries import REPO_ROOT
from harness.controller import CONTROLLER_NAMESPACE
from harness.processes import wait_until
from harness.salt import API_USER
from topology import ANCHORS, SELECTOR, WORKER_LABELS

ALPHA = "alpha/workers"
ANCHOR = ANCHORS["alpha"]
# The stall bound is 5 s (plan.StallAfter); after it `kubectl get nal` must say so within this.
STALL_VISIBLE = 10


def _ready(cluster, name):
    """The Ready condition of NodeAllowlist ``name`` ({} when it has none)."""
    allowlist = cluster.kube.get_allowlist(name) or {}
    conditions = {c["type"]: c for c in allowlist.get("status", {}).get("conditions", [])}
    return conditions.get("Ready", {})


def _kubectl_ready(cluster, name):
    """The READY column of `kubectl get nodeallowlists name`, as an operator sees it."""
    out = subprocess.run(
        [str(REPO_ROOT / "bin" / "k8s" / "kubectl"), "--kubeconfig", cluster.kubeconfig, "get", "nodeallowlists", name,
         "--no-headers", "-o", "custom-columns=READY:.status.conditions[?(@.type==\"Ready\")].status"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    return out.strip()


def test_a_hung_salt_api_shows_as_publish_stalled_then_recovers(system, alpha):
    """salt-api frozen (connections accepted, never answered) while a Node joins: PublishStalled within 10 s."""
    alpha.kube.create_node("alpha-w1", ["192.0.2.71"], labels=WORKER_LABELS)
    system.wait_allowed("db1", ALPHA, [ANCHOR, "192.0.2.71"])
    wait_until(lambda: _ready(alpha, "workers").get("status") == "True", timeout=30, what="alpha/workers to be Ready")

    system.salt.pause_api()
    try:
        alpha.kube.create_node("alpha-w2", ["192.0.2.72"], labels=WORKER_LABELS)
        created = time.monotonic()
        # The allowlist's debounce (2 s by default) passes before the send leaves.
        wait_until(lambda: _ready(alpha, "workers").get("reason") == "PublishStalled",
                   timeout=2 + STALL_VISIBLE, what="Ready to say PublishStalled while salt-api hangs")
        seen_after = time.monotonic() - created
        ready = _ready(alpha, "workers")
        assert ready["status"] == "False", ready
        assert system.salt.api_url in ready["message"] and "(3 addresses from 3 nodes)" in ready["message"], ready
        assert _kubectl_ready(alpha, "workers") == "False"
        status = alpha.kube.get_allowlist("workers")["status"]
        assert status["publishedSequence"] < status["sequence"] and "has not answered" in status["lastError"], status
        print(f"PublishStalled visible {seen_after:.1f} s after the Node was created")
    finally:
        system.salt.resume_api()

    system.wait_allowed("db1", ALPHA, [ANCHOR, "192.0.2.71", "192.0.2.72"], timeout=120)
    wait_until(lambda: _ready(alpha, "workers").get("status") == "True", timeout=60,
               what="Ready to be True again once salt-api answers")
    published = alpha.kube.get_allowlist("workers")["status"]["publishedSequence"]
    want = f"the published sequence {published} holds the 3 addresses of the 3 selected nodes"
    assert _ready(alpha, "workers")["message"] == want


def test_a_wrong_eauth_is_reported_as_login_failed(system, alpha):
    """A credentials Secret whose eauth backend the master's external_auth lacks: LoginFailed names user and eauth."""
    alpha.kube.apply_secret(CONTROLLER_NAMESPACE, "wrong-eauth",
                            {"username": API_USER, "password": system.salt.api_password, "eauth": "pam"})
    allowlist = system.allowlist("badlogin", cluster="alpha", node_selector=SELECTOR)
    allowlist["spec"]["salt"]["credentialsSecretRef"] = {"name": "wrong-eauth"}
    # Nothing can be retired without a login; let the deletion go without one.
    allowlist["metadata"]["annotations"] = {"nodeallow.io/skip-retirement": "true"}
    alpha.kube.create_allowlist(allowlist)
    try:
        wait_until(lambda: _ready(alpha, "badlogin").get("reason") == "LoginFailed", timeout=60,
                   what="badlogin's Ready to say LoginFailed")
        message = _ready(alpha, "badlogin")["message"]
        assert f'the login of user "{API_USER}" with eauth "pam"' in message, message
        assert "Could not authenticate using provided credentials" in message, message
        assert "external_auth" in message and "wrong-eauth" in message, message
        assert "<" not in message and system.salt.api_password not in message, message
    finally:
        alpha.kube.delete_allowlist("badlogin")
        wait_until(lambda: alpha.kube.get_allowlist("badlogin") is None, timeout=60, what="badlogin to be deleted")
