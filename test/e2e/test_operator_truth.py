# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""What operators see is what the real system did: a hung salt-api and a refused login are named as such in
`kubectl get nal`, and `salt-run state.event` shows what each apply changed, as docs/salt.md says it does."""

import json
import re
import subprocess
import time

from harness.binaries import REPO_ROOT
from harness.controller import CONTROLLER_NAMESPACE
from harness.processes import wait_until
from harness.salt import API_USER
from tests.support.sampler import SetSampler
from topology import ANCHORS, SELECTOR, WORKER_LABELS

ALPHA = "alpha/workers"
ANCHOR = ANCHORS["alpha"]
# The stall bound is 5 s (plan.StallAfter); after it `kubectl get nal` must say so within this.
STALL_VISIBLE = 10
# An applied event as `salt-run state.event 'nodeallow/*' pretty=True` prints it stays below this whatever the
# change (results.LISTED_ADDRESSES bounds its address lists; tests/unit/test_reconcile.py tries 100k addresses).
EVENT_TEXT_BOUND = 4096


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


def test_a_hung_salt_api_shows_as_publish_stalled_then_recovers(system, alpha, capsys):
    """salt-api frozen (connections accepted, never answered) while a Node joins: PublishStalled within 10 s.

    db1's and db2's sets are sampled every 200 ms meanwhile: never empty.
    """
    alpha.kube.create_node("alpha-w1", ["192.0.2.71"], labels=WORKER_LABELS)
    for minion_id in ("db1", "db2"):
        system.wait_allowed(minion_id, ALPHA, [ANCHOR, "192.0.2.71"])
    wait_until(lambda: _ready(alpha, "workers").get("status") == "True", timeout=30, what="alpha/workers to be Ready")
    sampler = SetSampler({m: (lambda m=m: system.allowed(m, ALPHA)) for m in ("db1", "db2")})

    with sampler:
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
            assert status["publishedSequence"] < status["sequence"] and "has not answered" in status["lastError"], \
                status
        finally:
            resumed = time.monotonic()
            system.salt.resume_api()

        for minion_id in ("db1", "db2"):
            system.wait_allowed(minion_id, ALPHA, [ANCHOR, "192.0.2.71", "192.0.2.72"], timeout=120)
        recovered = time.monotonic() - resumed
    sampler.assert_never_empty()
    wait_until(lambda: _ready(alpha, "workers").get("status") == "True", timeout=60,
               what="Ready to be True again once salt-api answers")
    published = alpha.kube.get_allowlist("workers")["status"]["publishedSequence"]
    want = f"the published sequence {published} holds the 3 addresses of the 3 selected nodes"
    assert _ready(alpha, "workers")["message"] == want
    with capsys.disabled():
        print(f"\ne2e: PublishStalled visible {seen_after:.1f}s after the Node was created; both minions hold it "
              f"{recovered:.1f}s after salt-api answered again")


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


def _applied(watch, minion_id, wanted):
    """The first applied event of alpha/workers from ``minion_id`` that ``watch`` printed whose change summary
    satisfies ``wanted`` (waiting for it); its ``text`` is the data as printed."""

    def matches(event):
        """Whether ``event`` is such an event."""
        data = event["data"]
        return (event["tag"] == f"nodeallow/applied/{ALPHA}" and data.get("minion") == minion_id
                and wanted(data["minions"][minion_id]["changes_summary"]))

    return watch.wait_for(matches, timeout=120, what=f"an applied event of {ALPHA} from {minion_id}")


def _shape(value, ids=False):
    """Keys and value types of ``value``, recursively (the keys of ``minions`` as ``<minion>``): what the docs match."""
    if isinstance(value, dict):
        return {("<minion>" if ids else key): _shape(item, key == "minions") for key, item in value.items()}
    return "list" if isinstance(value, list) else type(value).__name__


def _documented_event():
    """The applied event docs/salt.md shows: (tag, data text) of its `tag<TAB>{...}` block."""
    text = (REPO_ROOT / "docs" / "salt.md").read_text(encoding="utf-8")
    match = re.search(r"^(nodeallow/applied/\S+)\t(\{\n.*?\n\})$", text, re.MULTILINE | re.DOTALL)
    assert match, "docs/salt.md shows no applied event as `salt-run state.event pretty=True` prints it"
    return match[1], match[2]


def test_the_event_bus_shows_what_each_apply_changed(system, alpha):
    """`salt-run state.event 'nodeallow/*' pretty=True` while a Node joins and leaves: db1's applied events name
    the sequence, backend, counts and the address added, then removed, in the form docs/salt.md shows."""
    with system.salt.event_watch(pretty=True) as watch:
        alpha.kube.create_node("alpha-w3", ["192.0.2.73"], labels=WORKER_LABELS)
        joined = _applied(watch, "db1", lambda s: s["added_addresses"] == ["192.0.2.73/32"])
        alpha.kube.delete_node("alpha-w3")
        left = _applied(watch, "db1", lambda s: s["removed_addresses"] == ["192.0.2.73/32"])
        stored = [e["data"]["sequence"] for e in watch.events() if e["tag"] == f"nodeallow/stored/{ALPHA}"]
    print(f"nodeallow/applied/{ALPHA}\t{joined['text']}")

    for event, (added, removed, total) in ((joined, (1, 0, 2)), (left, (0, 1, 1))):
        data = event["data"]
        result = data["minions"]["db1"]
        summary = result["changes_summary"]
        assert (data["sequence"], data["result"], result["result"]) == (summary["sequence"], True, True), data
        # The sequence db1 applied is one the master stored during the watch (the controller's publish).
        assert summary["sequence"] in stored, (summary, stored)
        assert {k: summary[k] for k in ("allowlist", "backend", "added", "removed", "total", "truncated")} == {
            "allowlist": ALPHA, "backend": "nftables", "added": added, "removed": removed, "total": total,
            "truncated": False,
        }, summary
    assert joined["data"]["minions"]["db1"]["changes_summary"]["removed_addresses"] == []
    assert left["data"]["minions"]["db1"]["changes_summary"]["added_addresses"] == []
    assert left["data"]["sequence"] > joined["data"]["sequence"]
    assert max(len(joined["text"]), len(left["text"])) < EVENT_TEXT_BOUND

    # docs/salt.md's example is this event as printed: the same members, in Salt's pretty form.
    documented_tag, documented_text = _documented_event()
    documented = json.loads(documented_text)
    assert documented_text == json.dumps(documented, sort_keys=True, indent=4), "not as pretty=True prints it"
    assert documented_tag.startswith("nodeallow/applied/")
    assert _shape(documented) == _shape(joined["data"]), (documented, joined["data"])
