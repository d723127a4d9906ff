# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The master's reconcile loop: the pure decision, reading state returns, and the Reconciler on a real localfs cache.

Only the job publisher and the clock are stand-ins here (one layer under test); the loop with real
minions, masters and firewalls is tested in tests/master and test/e2e.
"""

import ipaddress
import json

import pytest
import salt.config

from saltext.nodeallow import index as subscriber_index
from saltext.nodeallow import reconcile, results
from saltext.nodeallow import settings as nodeallow_settings
from saltext.nodeallow import store as nodeallow_store
from saltext.nodeallow.firewall import engine
from tests.support import master_side

STATE_KEY = "nodeallow_|-nodeallow_|-nodeallow_|-managed"
SETTINGS = nodeallow_settings.Settings(
    clusters={}, apply_timeout=60, retry_base=5, retry_max=60, start_grace=5, start_window=15
)
# An applied event's data as JSON stays below this whatever the change: the comment is cut at 500
# characters and at most 2 x 10 addresses are listed (measured: about 1 kB for 100k IPv6 in, 100k IPv4 out).
EVENT_BOUND = 2048


def ok(sequence, jid="20261201000000000001"):
    """A successful apply result at ``sequence``."""
    return {"sequence": sequence, "result": True, "jid": jid}


def failed(sequence, jid="20261201000000000001"):
    """A failed apply result (the minion still has ``sequence``)."""
    return {"sequence": sequence, "result": False, "jid": jid}


@pytest.mark.parametrize(
    "applies, minions, now, start, expired",
    [
        pytest.param({}, {}, 100, ["db1"], [], id="never-applied"),
        pytest.param({"p/a": {"db1": ok(3)}}, {}, 100, [], [], id="up-to-date"),
        pytest.param({"p/a": {"db1": ok(2)}}, {}, 100, ["db1"], [], id="behind"),
        pytest.param({"p/a": {"db1": ok(4)}}, {}, 100, ["db1"], [], id="ahead-after-a-flushed-store"),
        pytest.param({"p/a": {"db1": failed(3)}}, {}, 100, ["db1"], [], id="failed-at-current"),
        pytest.param(
            {"p/a": {"db1": ok(2)}}, {"db1": {"job": {"jid": "1", "started": 90}}}, 100, [], [], id="job-in-flight"
        ),
        pytest.param(
            {"p/a": {"db1": ok(2)}}, {"db1": {"job": {"jid": "1", "started": 30}}}, 100, [], ["db1"], id="job-expired"
        ),
        pytest.param({"p/a": {"db1": ok(2)}}, {"db1": {"next_retry": 120}}, 100, [], [], id="backing-off"),
        pytest.param({"p/a": {"db1": ok(2)}}, {"db1": {"next_retry": 99}}, 100, ["db1"], [], id="retry-due"),
    ],
)
def test_decide(applies, minions, now, start, expired):
    """Who gets an apply now: behind (or failed), no job in flight, not backing off."""
    want = reconcile.wanted({"p/a": 3}, {"db1": ["p/a"]})
    decision = reconcile.decide(now, want, applies, minions, SETTINGS)
    assert sorted(decision.start) == start
    assert decision.expired == expired
    assert decision.resend == []
    for expected in decision.start.values():
        assert expected == {"p/a": 3}


def test_wanted_leaves_out_what_nobody_published_and_decide_filters():
    """An allowlist without a stored record is nothing to apply; ``only`` narrows the pass."""
    want = reconcile.wanted({"p/a": 3}, {"db1": ["p/a", "q/never"], "db2": ["q/never"], "db3": ["p/a"]})
    assert want == {"db1": {"p/a": 3}, "db3": {"p/a": 3}}
    decision = reconcile.decide(0, want, {}, {}, SETTINGS, only={"db3"})
    assert list(decision.start) == ["db3"]


def job(started):
    """A job in flight started at ``started``."""
    return {"jid": "1", "started": started}


# SETTINGS: apply_timeout 60, start_grace 5, start_window 15; now is 100 in every row.
@pytest.mark.parametrize(
    "applied, state, start, expired, resend",
    [
        pytest.param(2, {"reconnected": 94, "job": job(94)}, ["db1"], [], ["db1"], id="no-answer-within-grace"),
        pytest.param(2, {"reconnected": 94, "job": job(96)}, [], [], [], id="within-grace"),
        pytest.param(2, {"reconnected": 80, "job": job(94)}, ["db1"], [], ["db1"], id="last-job-of-the-window"),
        pytest.param(2, {"reconnected": 80, "job": job(95)}, [], [], [], id="job-after-the-window-waits-timeout"),
        pytest.param(2, {"reconnected": 30, "job": job(39)}, [], ["db1"], [], id="window-job-still-expires"),
        pytest.param(2, {"reconnected": 0, "job": job(30)}, [], ["db1"], [], id="after-the-window-expires-as-ever"),
        pytest.param(3, {"reconnected": 94, "job": job(94)}, [], [], [], id="caught-up-meanwhile-not-resent"),
        pytest.param(2, {"job": job(40)}, [], [], [], id="no-start-event-no-resend"),
        pytest.param(2, {"reconnected": 94, "next_retry": 120}, [], [], [], id="backoff-untouched"),
    ],
)
def test_decide_after_a_start_event(applied, state, start, expired, resend):
    """After a start or auth event a job is sent again when it got no answer within start_grace, not failed:
    only for jobs started within start_window of the event, only while the minion is behind; the rest as ever."""
    want = reconcile.wanted({"p/a": 3}, {"db1": ["p/a"]})
    decision = reconcile.decide(100, want, {"p/a": {"db1": ok(applied)}}, {"db1": state}, SETTINGS)
    assert (sorted(decision.start), decision.expired, decision.resend) == (start, expired, resend)


def test_a_grace_at_least_the_apply_timeout_never_resends():
    """start_grace >= apply_timeout turns the resend off: the job expires (and fails) as before."""
    settings = nodeallow_settings.Settings(clusters={}, apply_timeout=5, start_grace=5, start_window=15)
    want = reconcile.wanted({"p/a": 3}, {"db1": ["p/a"]})
    decision = reconcile.decide(100, want, {}, {"db1": {"reconnected": 94, "job": job(94)}}, settings)
    assert (decision.start, decision.expired, decision.resend) == ({}, ["db1"], [])


def test_retry_delay_doubles_up_to_the_cap():
    """Backoff: 0, then retry_base doubling per failure, capped at retry_max."""
    assert [SETTINGS.retry_delay(n) for n in range(7)] == [0, 5, 10, 20, 40, 60, 60]


def family(added=(), removed=()):
    """One family's part of the state's ``changes.allowlists.<name>``, as firewall/contents.py writes it."""
    return {"added": list(added), "removed": list(removed), "added_count": len(added), "removed_count": len(removed)}


def test_per_allowlist_reads_applied_and_held():
    """Each allowlist the state reports gets its own result and change summary; a held one fails with the reason."""
    ret = {
        STATE_KEY: {
            "result": False,
            "comment": "Firewall updated (...)\nheld b/w: unknown",
            "changes": {
                "allowlists": {
                    "a/w": {"ipv4": family(["10.0.0.2/32"], ["10.0.0.9/32"]), "ipv6": family(["fd00::2/128"])}
                },
                "rules": {"added": ["tcp 5432 from a/w"]},
            },
            "backend": "nftables",
            "allowlists": {
                "a/w": {"sequence": 7, "count": 4, "applied": True, "reason": ""},
                "b/w": {"sequence": None, "count": 0, "applied": False, "reason": "unknown: not in pillar"},
            },
        }
    }
    out = results.per_allowlist(ret, {"a/w": 7, "c/w": 2}, jid="20261201000000000009", now=5.0)
    assert out["a/w"] == {
        "sequence": 7,
        "result": True,
        "comment": "Firewall updated (...)",
        "changes_summary": {
            "allowlist": "a/w",
            "sequence": 7,
            "result": True,
            "backend": "nftables",
            "added": 2,
            "removed": 1,
            "total": 4,
            "added_addresses": ["10.0.0.2/32", "fd00::2/128"],
            "removed_addresses": ["10.0.0.9/32"],
            "truncated": False,
        },
        "jid": "20261201000000000009",
        "time": 5.0,
    }
    assert out["b/w"]["result"] is False and out["b/w"]["comment"] == "unknown: not in pillar"
    assert out["b/w"]["changes_summary"]["added"] == 0 and out["b/w"]["changes_summary"]["result"] is False
    # Asked for, not reported: the minion's pillar no longer has it, or the state stopped early.
    assert out["c/w"]["result"] is False and out["c/w"]["sequence"] is None
    assert out["c/w"]["changes_summary"] == results.unknown_summary("c/w", None)
    assert out["c/w"]["changes_summary"]["added"] is None  # unknown, not "nothing"


def test_change_summary_lists_a_few_addresses_and_counts_all():
    """At most LISTED_ADDRESSES each side (IPv4 first), exact counts, ``truncated`` when more changed."""
    added4 = [f"10.0.0.{n}/32" for n in range(1, 9)]
    added6 = [f"fd00::{n}/128" for n in range(1, 6)]
    # The state's own cut (at 1000) ends a list with "... and N more": counted through the exact count, never listed.
    ipv4 = {**family(added4), "removed": ["10.1.0.0/32", "10.1.0.1/32", "10.1.0.2/32", "... and 1497 more"]}
    ipv4["removed_count"] = 1500
    changes = {"allowlists": {"a/w": {"ipv4": ipv4, "ipv6": family(added6)}}}
    summary = results.change_summary("a/w", {"sequence": 3, "count": 20}, changes, "ipset", True)
    assert results.LISTED_ADDRESSES == 10
    assert summary["added"] == 13 and summary["removed"] == 1500 and summary["total"] == 20
    assert summary["added_addresses"] == added4 + added6[:2]
    assert summary["removed_addresses"] == ["10.1.0.0/32", "10.1.0.1/32", "10.1.0.2/32"]
    assert summary["truncated"] is True
    exactly = results.change_summary("a/w", {"sequence": 3, "count": 10}, {"allowlists": {"a/w": {"ipv4": family(
        [f"10.0.0.{n}/32" for n in range(10)])}}}, "nftables", True)
    assert len(exactly["added_addresses"]) == 10 and exactly["truncated"] is False
    nothing = results.change_summary("a/w", {"sequence": 3, "count": 10}, {}, "nftables", True)
    assert (nothing["added"], nothing["removed"], nothing["truncated"]) == (0, 0, False)


@pytest.mark.parametrize(
    "ret, needle",
    [
        (["Pillar failed to render with the following messages:", "boom"], "Pillar failed to render"),
        ("'nodeallow.managed' is not available.", "is not available"),
        ({"other_|-x_|-x_|-run": {"result": True}}, "other_"),
    ],
)
def test_returns_without_our_state_fail_what_was_asked(ret, needle):
    """Render errors, a missing state or a foreign return fail every allowlist the job was started for."""
    out = results.per_allowlist(ret, {"a/w": 3}, jid="1", now=0)
    assert out["a/w"]["result"] is False and needle in out["a/w"]["comment"]


def test_test_mode_is_not_an_apply():
    """``test=True`` (result None) changes nothing, so it applies nothing."""
    ret = {STATE_KEY: {"result": None, "comment": "would", "allowlists": {"a/w": {"sequence": 3, "applied": False}}}}
    assert results.per_allowlist(ret, {}, jid="1", now=0)["a/w"]["result"] is False


class Clock:
    """A settable clock."""

    def __init__(self, now=1000.0):
        """Start at ``now``."""
        self.now = now

    def __call__(self):
        """The current time."""
        return self.now


@pytest.fixture
def loop(tmp_path):
    """A Reconciler over a real localfs store with db1, db2 subscribed to prod/a, a fake publisher and clock."""
    opts = dict(salt.config.DEFAULT_MASTER_OPTS)
    opts["cachedir"] = str(tmp_path / "cache")
    store = nodeallow_store.Store(opts)
    for minion_id in ("db1", "db2"):
        subscriber_index.record(store, minion_id, [("prod", "a")])
    master_side.put_snapshot(store, "prod", "a", 3, ["10.0.0.1/32"])
    fired = []
    published = []
    clock = Clock()

    def publish(minion_ids):
        """Record the publish; job ids grow with the clock like Salt's."""
        published.append(sorted(minion_ids))
        return f"{int(clock.now * 1000):020d}"

    reconciler = reconcile.Reconciler(store, SETTINGS, lambda tag, data: fired.append((tag, data)), publish, clock)
    reconciler.fired, reconciler.published, reconciler.time = fired, published, clock
    return reconciler


def state_return(sequence):
    """A minion's successful state.single return holding prod/a at ``sequence``."""
    allowlists = {"prod/a": {"sequence": sequence, "applied": True}}
    return {STATE_KEY: {"result": True, "comment": "ok", "allowlists": allowlists}}


def test_one_job_in_flight_per_minion_then_follow_up_on_return(loop):
    """A pass starts one job; a new sequence waits for its return, which then starts the follow-up at once."""
    started = loop.run()
    assert sorted(started) == ["db1", "db2"] and loop.published == [["db1", "db2"]]
    jid = started["db1"]
    with loop.store.lock():
        loop.store.put({**loop.store.get("prod", "a"), "sequence": 4})
    loop.time.now += 1
    assert loop.run() == {}  # both busy
    loop.time.now += 1
    follow_up = loop.record_return(jid, "db1", state_return(3))
    assert list(follow_up) == ["db1"]  # still behind (4 is stored): the follow-up starts at once
    assert loop.store.get_applies("prod", "a")["db1"]["sequence"] == 3
    applied = [data for tag, data in loop.fired if tag == "nodeallow/applied/prod/a"]
    assert applied[-1]["minion"] == "db1" and applied[-1]["sequence"] == 3 and applied[-1]["result"] is True


def test_out_of_order_returns_never_move_a_minion_back(loop):
    """The return of an older job arriving after a newer one's is not recorded over it."""
    first = loop.run()["db1"]
    loop.time.now += 1
    loop.record_return(first, "db1", state_return(3))
    with loop.store.lock():
        loop.store.put({**loop.store.get("prod", "a"), "sequence": 4})
    loop.time.now += 1
    second = loop.run()["db1"]
    loop.record_return(second, "db1", state_return(4))
    loop.record_return(first, "db1", state_return(3))  # delivered twice, late
    assert loop.store.get_applies("prod", "a")["db1"]["sequence"] == 4
    assert loop.store.get_applies("prod", "a")["db1"]["jid"] == second


def test_a_minion_ahead_of_this_master_is_done_not_retried(loop):
    """Classic multi-master: the minion kept sequence 5 from another master and refused our 3: no retry, no backoff."""
    jid = loop.run()["db1"]
    loop.time.now += 1
    ret = state_return(5)
    ret[STATE_KEY]["allowlists"]["prod/a"].update(applied=False, ahead_of=3, reason="older than ...")
    assert loop.record_return(jid, "db1", ret) == {}
    recorded = loop.store.get_applies("prod", "a")["db1"]
    assert (recorded["sequence"], recorded["result"], recorded["ahead_of"]) == (5, True, 3), recorded
    state = loop.store.get_minions()["db1"]
    assert state["job"] is None and state["failures"] == 0 and state["last_error"] == "", state
    loop.time.now += 100
    assert "db1" not in loop.run()
    with loop.store.lock():
        loop.store.put({**loop.store.get("prod", "a"), "sequence": 6})
    assert "db1" in loop.run(), "a sequence newer than the minion's makes it behind again"


def test_unanswered_job_fails_backs_off_and_a_reconnect_retries_at_once(loop):
    """No answer within apply_timeout: failed, retried only after the backoff; a start event retries now."""
    loop.run()
    loop.record_return(loop.jobs_in_flight()["db1"], "db1", state_return(3))
    loop.time.now += 61
    assert loop.run() == {}  # db2's job expired: recorded as failed, backing off
    db2 = loop.store.get_applies("prod", "a")["db2"]
    assert db2["result"] is False and "no answer within 60s" in db2["comment"]
    assert db2["changes_summary"] == results.unknown_summary("prod/a", None)  # it may have changed something
    assert loop.store.get_minions()["db2"]["failures"] == 1
    loop.time.now += 2
    assert loop.run() == {}  # still within the 5 s backoff
    loop.time.now += 4
    assert list(loop.run()) == ["db2"]  # retry due
    loop.time.now += 1
    assert list(loop.alive("db2")) == ["db2"]  # it (re)connected: the job just sent may have missed it
    assert loop.store.get_minions()["db2"]["job"]["started"] == loop.time.now


def test_publish_failure_is_recorded_and_backs_off(loop):
    """A job the master will not publish is a recorded failure with the cause, not an exception."""

    def refuse(minion_ids):
        """The master is not there."""
        raise RuntimeError("salt-master is not running")

    loop.publish = refuse
    assert loop.run() == {}
    assert "salt-master is not running" in loop.store.get_applies("prod", "a")["db1"]["comment"]
    assert loop.store.get_minions()["db1"]["next_retry"] == loop.time.now + 5


def test_unpublished_allowlist_held_on_the_minion_is_not_a_failure(loop):
    """A minion holding an allowlist nobody published yet is not backed off for it (two clusters, day one)."""
    subscriber_index.record(loop.store, "db1", [("prod", "a"), ("beta", "w")])
    jid = loop.run()["db1"]
    ret = state_return(3)
    ret[STATE_KEY]["allowlists"]["beta/w"] = {"sequence": None, "applied": False, "reason": "unknown"}
    loop.record_return(jid, "db1", ret)
    assert loop.store.get_minions()["db1"]["failures"] == 0
    assert loop.store.get_applies("beta", "w")["db1"]["result"] is False


def test_jobs_of_a_killed_master_are_forgotten_at_start(loop):
    """Jobs started before the engine (re)started are forgotten, so their minions are retried at once."""
    loop.run()
    loop.time.now += 5
    assert sorted(loop.forget_jobs(started_before=loop.time.now)) == ["db1", "db2"]
    assert sorted(loop.run()) == ["db1", "db2"]


def test_the_same_return_handled_twice_starts_one_follow_up(loop):
    """In a master cluster both engines handle each return: the second copy leaves the follow-up alone."""
    jid = loop.run()["db1"]
    with loop.store.lock():
        loop.store.put({**loop.store.get("prod", "a"), "sequence": 4})
    loop.time.now += 1
    assert list(loop.record_return(jid, "db1", state_return(3))) == ["db1"]  # behind: the follow-up
    follow_up = loop.store.get_minions()["db1"]["job"]
    with loop.store.lock():  # as while the other engine is still publishing it
        minions = loop.store.get_minions()
        minions["db1"]["job"]["jid"] = None
        loop.store.put_minions(minions)
    loop.time.now += 1
    assert loop.record_return(jid, "db1", state_return(3)) == {}
    assert loop.store.get_minions()["db1"]["job"]["started"] == follow_up["started"]
    assert len([p for p in loop.published if "db1" in p]) == 2


def test_a_job_lost_at_a_reconnect_is_sent_again_after_the_start_grace_not_failed(loop):
    """A start event's catch-up without a return within start_grace goes out again: no failure, no backoff;
    the return of a job sent to the minion ends the start window, so later jobs wait out apply_timeout."""
    loop.run(only_minions={"db1"})
    loop.time.now += 1
    assert list(loop.alive("db1")) == ["db1"]
    caught_up = loop.store.get_minions()["db1"]["job"]
    assert loop.next_deadline() == pytest.approx(caught_up["started"] + 5 + 0.1)
    loop.time.now += 4
    assert loop.run(only_minions={"db1"}) == {}, "within start_grace"
    loop.time.now += 2
    resent = loop.run(only_minions={"db1"})
    assert list(resent) == ["db1"] and loop.published[-1] == ["db1"]
    assert "db1" not in loop.store.get_applies("prod", "a"), "a resend records no failure"
    state = loop.store.get_minions()["db1"]
    assert (state.get("failures", 0), state["next_retry"]) == (0, 0), state
    loop.time.now += 1
    loop.record_return(resent["db1"], "db1", state_return(3))
    assert "reconnected" not in loop.store.get_minions()["db1"], "the minion listens: its start window is over"
    with loop.store.lock():
        loop.store.put({**loop.store.get("prod", "a"), "sequence": 4})
    started = loop.run(only_minions={"db1"})
    loop.time.now += 6
    assert loop.run(only_minions={"db1"}) == {}, "after a return, a job waits out apply_timeout"
    assert loop.next_deadline() == pytest.approx(loop.store.get_minions()["db1"]["job"]["started"] + 60 + 0.1)
    assert loop.jobs_in_flight()["db1"] == started["db1"]


def test_resends_after_a_start_are_bounded_and_the_backoff_holds(loop):
    """A minion that started but never answers gets start_window / start_grace extra jobs, then its last job
    fails after apply_timeout and backs off as before; a minion without a start event gets no extra job."""
    loop.run()
    loop.time.now += 1
    loop.alive("db2")
    opened = loop.time.now
    while not loop.store.get_minions()["db2"].get("failures"):
        loop.time.now += 1
        loop.run()
        assert loop.time.now < opened + 100
    to_db2 = [p for p in loop.published if "db2" in p]
    # The first pass, the start event's catch-up, then resends of the jobs started at +0, +6 and +12.
    assert len(to_db2) == 2 + 3, to_db2
    # db1 never signalled life: its first job expired after apply_timeout, one retry after retry_base.
    assert [p for p in loop.published if "db1" in p] == [["db1", "db2"], ["db1"]], loop.published
    last_started = opened + 18
    assert loop.time.now == pytest.approx(last_started + 61)
    state = loop.store.get_minions()["db2"]
    assert state["failures"] == 1 and state["next_retry"] == pytest.approx(loop.time.now + 5), state
    assert "no answer within 60s" in loop.store.get_applies("prod", "a")["db2"]["comment"]


def test_a_slow_answer_after_a_resend_stops_the_resends(loop):
    """The first job answered late (it was running, only slow): the minion holds the sequence, nothing more is sent
    and the job still in flight (queued behind it on the minion) only has its expiry left."""
    loop.run(only_minions={"db1"})
    loop.time.now += 1
    first = loop.alive("db1")["db1"]
    loop.time.now += 6
    second = loop.run(only_minions={"db1"})["db1"]
    loop.time.now += 1
    loop.record_return(first, "db1", state_return(3))
    assert loop.store.get_applies("prod", "a")["db1"]["sequence"] == 3
    assert loop.jobs_in_flight()["db1"] == second
    loop.time.now += 6
    assert loop.run(only_minions={"db1"}) == {}
    assert loop.next_deadline() == pytest.approx(loop.store.get_minions()["db1"]["job"]["started"] + 60 + 0.1)


def test_a_reconnect_clears_only_jobs_started_before_it(loop):
    """A (re)connect event clears a job older than itself, not one started after it was fired."""
    loop.run()
    published = len(loop.published)
    fired = loop.time.now - 1  # fired before the job started (another engine's catch-up for it)
    loop.time.now += 1
    assert loop.alive("db1", since=fired) == {}
    assert len(loop.published) == published
    started = loop.alive("db1", since=loop.time.now)  # fired after the job started: it may have missed it
    assert list(started) == ["db1"] and len(loop.published) == published + 1


def test_a_restarted_master_forgets_only_its_own_jobs(loop):
    """In a master cluster the peers share the store: a job another master started stays in flight."""
    loop.master_id = "master2"
    loop.run(only_minions=["db2"])
    loop.master_id = "master1"
    loop.run(only_minions=["db1"])
    loop.time.now += 5
    assert loop.forget_jobs(started_before=loop.time.now) == ["db1"]
    assert loop.store.get_minions()["db2"]["job"]["master"] == "master2"


def test_applied_events_stay_small_whatever_the_change(loop, tmp_path):
    """Real applies of the state (ruleset-file backend) of 5, then 100k IPv4, then 100k long IPv6 addresses:
    each applied event summarises its change in under EVENT_BOUND bytes, with exact counts."""
    opts = {"cachedir": str(tmp_path / "minion"), "nodeallow_ruleset_file": str(tmp_path / "fw.nft")}
    ipv4 = [str(ipaddress.ip_network((11 << 24) + n)) for n in range(100_000)]
    # Eight non-zero groups: the longest text an address has (43 characters with its /128).
    ipv6 = [str(ipaddress.ip_network(0x2001_0DB8_1111_2222_3333_4444_5555_1000 + n)) for n in range(100_000)]
    # (sequence, addresses, (added, removed), (first added, first removed) as listed, in address order)
    steps = [
        (4, ipv4[:5], (5, 0), (ipv4[:5], [])),
        (5, ipv4, (99_995, 0), (ipv4[5:15], [])),
        (6, ipv6, (100_000, 100_000), (ipv6[:10], ipv4[:10])),
    ]
    for sequence, addresses, (added, removed), listed in steps:
        with loop.store.lock():
            loop.store.put({**loop.store.get("prod", "a"), "sequence": sequence})
        pillar = {
            "rules": [{"allowlist": "prod/a", "ports": [5432]}],
            "allowlists": {"prod/a": {"sequence": sequence, "addresses": addresses}},
        }
        ret = engine.managed(opts, pillar)
        assert ret["result"] is True, ret["comment"]
        loop.time.now += 1
        loop.record_return(f"{int(loop.time.now * 1000):020d}", "db1", {STATE_KEY: ret})
        tag, data = loop.fired[-1]
        assert tag == "nodeallow/applied/prod/a" and data["sequence"] == sequence, data
        summary = data["minions"]["db1"]["changes_summary"]
        assert (summary["added"], summary["removed"], summary["total"]) == (added, removed, len(addresses)), summary
        assert (summary["sequence"], summary["result"], summary["backend"]) == (sequence, True, "nftables")
        assert (summary["added_addresses"], summary["removed_addresses"]) == listed
        assert summary["truncated"] is (sequence != 4)
        size = len(json.dumps(data))
        assert size < EVENT_BOUND, (sequence, size, data)
        print(f"sequence {sequence}: {added} added, {removed} removed -> applied event {size} bytes")
