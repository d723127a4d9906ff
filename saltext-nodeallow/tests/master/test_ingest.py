# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Signed bodies POSTed to the real salt-api /hook, ingested by the master's engine (the shipped reactor then
hands nothing to runner nodeallow.ingest: one ingest per body, which the outcome counts check), and the
runner itself as a master without the engine calls it.

Every test uses its own allowlist name, so the shared master's store never
carries one test's sequences into another.
"""

import json
import subprocess

import jsonschema
import pytest
import salt.config
import salt.runner

from saltext.nodeallow.protocol.canonical import digest
from saltext.nodeallow.protocol.wire import SIGNATURE_HEADER
from tests.support.master_side import (
    applies,
    chunked_bodies,
    encode_body,
    load_status_vectors,
    load_vectors,
    signature,
    stored,
)

ADDRESSES = ["10.0.0.1/32", "10.0.1.0/24", "fd00::/64"]
EVENT_TIMEOUT = 60


def wait_outcome(events, kind, cluster, allowlist, timeout=EVENT_TIMEOUT):
    """Wait for ``nodeallow/<kind>/<cluster>/<allowlist>`` and return its data."""
    return events.wait_for(f"nodeallow/{kind}/{cluster}/{allowlist}", timeout=timeout)["data"]


def pillar_of(cli, minion):
    """The minion's freshly compiled pillar (``pillar.items`` asks the master)."""
    # Salt 3008 masks pillar values in pillar.items output unless asked not to.
    ret = cli.run("pillar.items", "unmask=True", minion_tgt=minion.id)
    assert ret.returncode == 0, ret
    return ret.data


def test_stored_applied_to_subscribers_and_served_by_ext_pillar(
    publisher, na_events, nodeallow_master, na_salt_cli, pillar_files, subscriber, bystander, allowlist_name, reindex
):
    """A signed snapshot is stored, fires stored/applied, targets only subscribers, and reaches their pillar."""
    pillar_files.subscribe(subscriber.id, f"prod/{allowlist_name}")
    pillar_files.clear(bystander.id)
    assert reindex()[f"prod/{allowlist_name}"] == [subscriber.id]

    publisher.post("prod", allowlist_name, encode_body("prod", allowlist_name, 1, ADDRESSES))

    stored_event = wait_outcome(na_events, "stored", "prod", allowlist_name)
    assert stored_event["sequence"] == 1
    assert stored_event["addresses"] == len(ADDRESSES)
    assert stored_event["digest"] == digest(ADDRESSES)
    applied = wait_outcome(na_events, "applied", "prod", allowlist_name, timeout=180)
    assert applied["sequence"] == 1
    # Exactly the subscriber: the bystander has no rule for this allowlist.
    assert sorted(applied["minions"]) == [subscriber.id]
    record = stored(nodeallow_master.config, "prod", allowlist_name)
    assert record["addresses"] == ADDRESSES
    assert record["sequence"] == 1 and record["retired"] is False
    assert applies(nodeallow_master.config, "prod", allowlist_name)[subscriber.id]["sequence"] == 1

    served = pillar_of(na_salt_cli, subscriber)["nodeallow"]["allowlists"][f"prod/{allowlist_name}"]
    assert served == {
        "cluster": "prod",
        "allowlist": allowlist_name,
        "sequence": 1,
        "digest": digest(ADDRESSES),
        "generated_at": "2026-03-01T12:00:00Z",
        "addresses": ADDRESSES,
        "retired": False,
    }
    bystander_pillar = pillar_of(na_salt_cli, bystander)
    assert f"prod/{allowlist_name}" not in bystander_pillar.get("nodeallow", {}).get("allowlists", {})


def test_replays_older_sequences_and_conflicts_change_nothing(
    publisher, na_events, nodeallow_master, allowlist_name
):
    """Same sequence again is a no-op, an older one too, and the same sequence with another digest is refused."""
    publisher.post("prod", allowlist_name, encode_body("prod", allowlist_name, 5, ADDRESSES))
    wait_outcome(na_events, "stored", "prod", allowlist_name)

    publisher.post("prod", allowlist_name, encode_body("prod", allowlist_name, 5, ADDRESSES))
    assert wait_outcome(na_events, "unchanged", "prod", allowlist_name)["outcome"] == "replay"
    publisher.post("prod", allowlist_name, encode_body("prod", allowlist_name, 4, ["10.9.9.9/32"]))
    assert wait_outcome(na_events, "unchanged", "prod", allowlist_name)["outcome"] == "older"
    publisher.post("prod", allowlist_name, encode_body("prod", allowlist_name, 5, ["10.9.9.9/32"]))
    rejected = wait_outcome(na_events, "rejected", "prod", allowlist_name)
    assert rejected["reason"] == "sequence-conflict"
    assert rejected["sequence"] == 5

    record = stored(nodeallow_master.config, "prod", allowlist_name)
    assert (record["sequence"], record["addresses"]) == (5, ADDRESSES)
    # Only the first body was stored (and applied): nothing re-fired.
    assert [e["tag"] for e in na_events.seen if e["tag"].startswith("nodeallow/stored/")] == [
        f"nodeallow/stored/prod/{allowlist_name}"
    ]


REJECTIONS = {
    "bad-signature": dict(post={"headers": {SIGNATURE_HEADER: "sha256=" + "0" * 64}}, reason="bad-signature"),
    "missing-signature": dict(post={"sign": False}, reason="missing-signature"),
    "other-clusters-key": dict(post={"key": "staging"}, reason="bad-signature"),
    "malformed-json": dict(body="{not json", post={"content_type": "text/plain"}, reason="malformed-json"),
    "json-array": dict(body="[1,2]", reason="malformed-json"),
    "invalid-address": dict(addresses=["10.0.0.256/32"], reason="bad-address"),
    "host-bits-set": dict(addresses=["10.0.0.1/24"], reason="bad-address"),
    "unsorted": dict(addresses=["10.0.0.2/32", "10.0.0.1/32"], reason="not-canonical"),
    "unknown-field": dict(extra={"comment": "hi"}, reason="schema"),
    "top-level-arg": dict(extra={"arg": ["x"]}, reason="schema"),
    "name-breaking-out-of-nft": dict(body_allowlist="x; flush ruleset", reason="schema"),
    "other-allowlist-than-tag": dict(body_allowlist="someone-else", reason="tag-mismatch"),
    "oversized": dict(
        addresses=[f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}/32" for i in range(70000)], reason="too-large"
    ),
    "wrong-digest": dict(digest="sha256:" + "ab" * 32, reason="digest-mismatch"),
}


@pytest.mark.parametrize("case", sorted(REJECTIONS), ids=sorted(REJECTIONS))
def test_refused_bodies_change_nothing(case, publisher, na_events, nodeallow_master, signing_keys, allowlist_name):
    """Each kind of bad request is refused with an event naming the reason; the stored snapshot stays."""
    spec = REJECTIONS[case]
    publisher.post("prod", allowlist_name, encode_body("prod", allowlist_name, 1, ADDRESSES))
    wait_outcome(na_events, "stored", "prod", allowlist_name)

    body = spec.get("body") or encode_body(
        "prod",
        spec.get("body_allowlist", allowlist_name),
        2,
        spec.get("addresses", ["10.0.0.9/32"]),
        digest=spec.get("digest"),
        extra=spec.get("extra"),
    )
    post = dict(spec.get("post", {}))
    if post.get("key"):
        post["key"] = signing_keys[post["key"]]
    publisher.post("prod", allowlist_name, body, **post)

    rejected = wait_outcome(na_events, "rejected", "prod", allowlist_name)
    assert rejected["reason"] == spec["reason"], rejected
    assert rejected["detail"]
    assert body not in json.dumps(rejected)  # the event names the reason, it does not echo the body
    record = stored(nodeallow_master.config, "prod", allowlist_name)
    assert (record["sequence"], record["addresses"]) == (1, ADDRESSES)


def test_signature_header_name_is_case_insensitive(publisher, na_events, signing_keys, allowlist_name):
    """A lowercase x-hub-signature-256 (as some HTTP clients send it) still verifies."""
    body = encode_body("prod", allowlist_name, 1, ADDRESSES)
    publisher.post(
        "prod",
        allowlist_name,
        body,
        sign=False,
        headers={"x-hub-signature-256": signature(signing_keys["prod"], body), "X-Auth-Token": "not-passed-on"},
    )
    assert wait_outcome(na_events, "stored", "prod", allowlist_name)["sequence"] == 1


def test_unknown_cluster_and_bad_tag(publisher, na_events, allowlist_name):
    """A cluster without a key is 'unknown-cluster'; a tag that is no <cluster>/<allowlist> is 'bad-tag'."""
    body = encode_body("nobody", allowlist_name, 1, ADDRESSES)
    publisher.post("nobody", allowlist_name, body, key="whatever")
    assert wait_outcome(na_events, "rejected", "nobody", allowlist_name)["reason"] == "unknown-cluster"

    # salt-api decodes the path: the tag becomes .../prod/x; flush ruleset
    publisher.post("prod", "x%3B%20flush%20ruleset", encode_body("prod", allowlist_name, 1, ADDRESSES))
    assert wait_outcome(na_events, "rejected", "unknown", "unknown")["reason"] == "bad-tag"


def test_chunks_assemble_in_any_order_with_duplicates(publisher, na_events, nodeallow_master):
    """The vectors' exact chunk bodies, sent out of order and twice, are stored as one snapshot."""
    vector = next(v for v in load_vectors()["snapshots"] if v["name"] == "three-chunks-at-limit")
    cluster, allowlist = vector["cluster"], vector["allowlist"]
    bodies = vector["bodies"]
    for index in (2, 0, 2):
        publisher.post(cluster, allowlist, bodies[index])
        progress = wait_outcome(na_events, "chunk", cluster, allowlist)
        assert progress["total"] == 3
    assert progress["received"] == 2
    assert stored(nodeallow_master.config, cluster, allowlist) is None
    publisher.post(cluster, allowlist, bodies[1])

    event = wait_outcome(na_events, "stored", cluster, allowlist)
    assert (event["sequence"], event["digest"], event["addresses"]) == (
        vector["sequence"],
        vector["digest"],
        len(vector["canonical"]),
    )
    assert stored(nodeallow_master.config, cluster, allowlist)["addresses"] == vector["canonical"]
    # A late duplicate chunk of the stored sequence is a replay.
    publisher.post(cluster, allowlist, bodies[0])
    assert wait_outcome(na_events, "unchanged", cluster, allowlist)["outcome"] == "replay"


def test_chunks_that_do_not_add_up_are_refused(publisher, na_events, nodeallow_master, allowlist_name):
    """Chunks whose joined list does not hash to the digest are refused once complete; nothing is stored."""
    bodies = chunked_bodies("prod", allowlist_name, 3, ["10.0.0.1/32", "10.0.0.2/32"], 1)
    bodies[1] = bodies[1].replace("10.0.0.2/32", "10.0.0.3/32")
    publisher.post("prod", allowlist_name, bodies[0])
    wait_outcome(na_events, "chunk", "prod", allowlist_name)
    publisher.post("prod", allowlist_name, bodies[1])
    assert wait_outcome(na_events, "rejected", "prod", allowlist_name)["reason"] == "digest-mismatch"
    assert stored(nodeallow_master.config, "prod", allowlist_name) is None


def test_retirement_leaves_a_tombstone(
    publisher, na_events, nodeallow_master, na_salt_cli, pillar_files, subscriber, allowlist_name, reindex
):
    """A retirement empties the allowlist for subscribers, and a late older snapshot cannot bring it back."""
    pillar_files.subscribe(subscriber.id, f"prod/{allowlist_name}")
    reindex()
    publisher.post("prod", allowlist_name, encode_body("prod", allowlist_name, 3, ADDRESSES))
    wait_outcome(na_events, "stored", "prod", allowlist_name)
    wait_outcome(na_events, "applied", "prod", allowlist_name, timeout=180)

    publisher.post(
        "prod", allowlist_name, encode_body("prod", allowlist_name, 4, [], kind="retirement")
    )
    assert wait_outcome(na_events, "retired", "prod", allowlist_name)["sequence"] == 4
    applied = wait_outcome(na_events, "applied", "prod", allowlist_name, timeout=180)
    assert (applied["sequence"], sorted(applied["minions"])) == (4, [subscriber.id])

    publisher.post("prod", allowlist_name, encode_body("prod", allowlist_name, 3, ADDRESSES))
    assert wait_outcome(na_events, "unchanged", "prod", allowlist_name)["outcome"] == "older"
    record = stored(nodeallow_master.config, "prod", allowlist_name)
    assert (record["sequence"], record["retired"], record["addresses"]) == (4, True, [])
    served = pillar_of(na_salt_cli, subscriber)["nodeallow"]["allowlists"][f"prod/{allowlist_name}"]
    assert (served["retired"], served["addresses"], served["sequence"]) == (True, [], 4)


def test_a_minion_that_subscribes_later_gets_the_snapshot(
    publisher, na_events, na_salt_cli, pillar_files, nodeallow_minions, allowlist_name
):
    """A new minion sees nothing until its pillar subscribes it; then its next pillar compile has the snapshot."""
    latecomer = nodeallow_minions()
    publisher.post("staging", allowlist_name, encode_body("staging", allowlist_name, 9, ADDRESSES))
    wait_outcome(na_events, "stored", "staging", allowlist_name)
    assert "nodeallow" not in pillar_of(na_salt_cli, latecomer)

    pillar_files.subscribe(latecomer.id, f"staging/{allowlist_name}", "staging/never-published")
    allowlists = pillar_of(na_salt_cli, latecomer)["nodeallow"]["allowlists"]
    # An allowlist with no record is simply absent (the state keeps its last-known-good copy).
    assert list(allowlists) == [f"staging/{allowlist_name}"]
    assert allowlists[f"staging/{allowlist_name}"]["addresses"] == ADDRESSES


def test_status_runner(publisher, na_events, na_run_cli, pillar_files, subscriber, allowlist_name, reindex):
    """nodeallow.status reports sequence, digest, count, age, and per subscriber what it applied, as JSON too."""
    pillar_files.subscribe(subscriber.id, f"prod/{allowlist_name}")
    reindex()
    publisher.post("prod", allowlist_name, encode_body("prod", allowlist_name, 2, ADDRESSES))
    wait_outcome(na_events, "applied", "prod", allowlist_name, timeout=180)

    ret = na_run_cli.run("nodeallow.status", "--out=json")
    assert ret.returncode == 0, ret
    entry = ret.data[f"prod/{allowlist_name}"]
    assert entry["cluster"] == "prod" and entry["allowlist"] == allowlist_name
    assert (entry["sequence"], entry["digest"], entry["addresses"]) == (2, digest(ADDRESSES), 3)
    assert entry["retired"] is False
    assert entry["age_seconds"] > 0
    assert 0 <= entry["stored_seconds_ago"] < 600
    assert list(entry["subscribers"]) == [subscriber.id]
    line = entry["subscribers"][subscriber.id]
    assert (line["applied_sequence"], line["result"], line["behind"], line["job"]) == (2, True, False, None), line
    assert entry["behind"] == []
    # A controller asks about its own allowlist only.
    only = na_run_cli.run("nodeallow.status", "cluster=prod", f"allowlist={allowlist_name}", "--out=json")
    assert list(only.data) == [f"prod/{allowlist_name}"], only.data
    mine = only.data[f"prod/{allowlist_name}"]
    assert (mine["sequence"], list(mine["subscribers"])) == (2, [subscriber.id]), mine
    # What the controller's delivery check reads keeps the shape both halves test against.
    jsonschema.validate(mine, load_status_vectors()["entrySchema"])
    assert na_run_cli.run("nodeallow.status", "cluster=elsewhere", "--out=json").data == {}

    text = na_run_cli.run("nodeallow.status", "--out=nested")
    assert text.returncode == 0
    assert f"prod/{allowlist_name}" in text.stdout and "subscribers" in text.stdout

    # No --out: the compact table per allowlist.
    command = [arg for arg in na_run_cli.cmdline("nodeallow.status") if not arg.startswith("--out")]
    shown = subprocess.run(command, env=na_run_cli.environ, capture_output=True, text=True, timeout=120, check=False)
    assert shown.returncode == 0, shown
    heading = next(line for line in shown.stdout.splitlines() if line.startswith(f"prod/{allowlist_name} "))
    assert "sequence 2  3 addresses  sha256:" in heading and "1/1 applied" in heading, shown.stdout
    row = next(line for line in shown.stdout.splitlines() if line.strip().startswith(subscriber.id))
    assert row.split()[:3] == [subscriber.id, "2", "ok"], shown.stdout


def test_the_runner_ingests_as_the_engine_does(nodeallow_master, na_events, signing_keys, allowlist_name):
    """Runner ``nodeallow.ingest`` with the reactor's arguments (a master without the engine): stored, then replay."""
    body = encode_body("prod", allowlist_name, 4, ADDRESSES)
    kwarg = {
        "tag": f"salt/netapi/hook/nodeallow/prod/{allowlist_name}",
        "body": body,
        "headers": {SIGNATURE_HEADER: signature(signing_keys["prod"], body)},
    }
    # The master's own options, as salt-run loads them (the factory's dict holds only what it wrote).
    opts = salt.config.master_config(nodeallow_master.config_file)
    with salt.runner.RunnerClient(opts) as client:
        for expected in ("stored", "replay"):
            ret = client.cmd("nodeallow.ingest", kwarg=dict(kwarg), print_event=False)
            assert isinstance(ret, dict) and (ret["result"], ret["sequence"]) == (expected, 4), ret
    assert wait_outcome(na_events, "stored", "prod", allowlist_name)["sequence"] == 4
    assert wait_outcome(na_events, "unchanged", "prod", allowlist_name)["outcome"] == "replay"
