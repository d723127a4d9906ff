// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package plan

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodeallow/nodeallow/api/protocol"
	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
)

// confirming turns on spec.delivery.confirm with a 1m interval and a 30s apply timeout.
func confirming(nal *nodeallowv1alpha1.NodeAllowlist) {
	nal.Spec.Delivery = nodeallowv1alpha1.DeliveryCheck{Confirm: true, Interval: metav1.Duration{Duration: time.Minute},
		ApplyTimeout: metav1.Duration{Duration: 30 * time.Second}}
}

// ackedAgo sets lastPublishedTime to ago before t0.
func ackedAgo(ago time.Duration) edit {
	return func(nal *nodeallowv1alpha1.NodeAllowlist) {
		nal.Status.LastPublishedTime = &metav1.Time{Time: t0.Add(-ago)}
	}
}

// appliedBefore records an earlier check that found every subscriber with sequence seq.
func appliedBefore(seq int64, n int32) edit {
	return func(nal *nodeallowv1alpha1.NodeAllowlist) {
		nal.Status.Delivery = &nodeallowv1alpha1.DeliveryStatus{Sequence: seq, StoredSequence: seq, Subscribers: n, Applied: n,
			Summary: fmt.Sprintf("%d/%d", n, n)}
		setCondition(&nal.Status, nal.Generation, t0.Add(-time.Hour), nodeallowv1alpha1.ConditionApplied, metav1.ConditionTrue, ReasonApplied, "applied")
	}
}

// sub is one subscriber of a status entry: applied sequence (0: never), result ("true", "false", "").
func sub(applied int64, result string, lastError string) protocol.SubscriberStatus {
	s := protocol.SubscriberStatus{LastError: lastError}
	if applied > 0 {
		s.AppliedSequence = &applied
	}
	if result != "" {
		r := result == "true"
		s.Result = &r
	}
	return s
}

// entry is the master's entry of prod/workers with sequence seq stored storedAgo ago.
func entry(seq int64, storedAgo time.Duration, subs map[string]protocol.SubscriberStatus) *Check {
	ago := int64(storedAgo / time.Second)
	return &Check{Found: true, Entry: protocol.StatusEntry{Cluster: "prod", Allowlist: "workers", Stored: true, Sequence: seq,
		StoredSecondsAgo: &ago, Subscribers: subs}}
}

func TestDeliveryConfirmation(t *testing.T) {
	one := Compute([]netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")})
	two := Compute([]netip.Prefix{netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("10.0.0.2/32")})
	recent := Memory{Delivered: t0.Add(-time.Minute)}
	all := map[string]protocol.SubscriberStatus{"db1": sub(3, "true", ""), "db2": sub(3, "true", "")}
	oneBehind := map[string]protocol.SubscriberStatus{"db1": sub(3, "true", ""), "db2": sub(2, "true", "")}
	oneFailed := map[string]protocol.SubscriberStatus{"db1": sub(3, "true", ""), "db2": sub(2, "false", "nft: No such file or directory")}
	checked := Memory{Delivered: t0.Add(-time.Minute), Checked: t0.Add(-10 * time.Second), CheckStreak: 2}

	cases := []struct {
		name    string
		facts   Facts
		applied string // reason of Applied; "-" expects no Applied condition
		ready   string // reason of Ready
		status  metav1.ConditionStatus
		says    string // substring of Applied's message
		events  []string
		summary string
		send    Why
		requeue time.Duration
		mem     Remember
	}{
		{name: "every subscriber applied: Applied and Ready True, one Normal Event",
			facts:   withCheck(facts(testAllowlist(confirming, publishedAs(3, one), ackedAgo(2*time.Second)), one, recent), entry(3, 2*time.Second, all)),
			applied: ReasonApplied, ready: ReasonPublished, status: metav1.ConditionTrue, says: "2 of 2 subscribers applied sequence 3",
			events: []string{"Normal Applied ConfirmDelivery"}, summary: "2/2", requeue: time.Minute, mem: Remember{Checked: true, CheckSettled: true}},
		{name: "still applied at the next check: no second Event",
			facts:   withCheck(facts(testAllowlist(confirming, publishedAs(3, one), appliedBefore(3, 2)), one, checked), entry(3, time.Hour, all)),
			applied: ReasonApplied, ready: ReasonPublished, status: metav1.ConditionTrue, summary: "2/2", requeue: time.Minute,
			mem: Remember{Checked: true, CheckSettled: true}},
		{name: "one behind within the apply timeout: Applying, Ready Unknown, checked again soon",
			facts:   withCheck(facts(testAllowlist(confirming, publishedAs(3, one), ackedAgo(2*time.Second)), one, recent), entry(3, 2*time.Second, oneBehind)),
			applied: ReasonApplying, ready: ReasonApplying, status: metav1.ConditionUnknown, says: "waiting for db2 (last applied sequence 2",
			summary: "1/2", requeue: 2 * time.Second, mem: Remember{Checked: true}},
		{name: "one behind past the apply timeout: SubscribersBehind with a Warning, Ready False, backoff",
			facts:   withCheck(facts(testAllowlist(confirming, publishedAs(3, one), ackedAgo(time.Minute)), one, checked), entry(3, 45*time.Second, oneBehind)),
			applied: ReasonSubscribersBehind, ready: ReasonSubscribersBehind, status: metav1.ConditionFalse, says: "1 of 2 subscribers have not applied sequence 3 45s after",
			events: []string{"Warning SubscribersBehind ConfirmDelivery"}, summary: "1/2", requeue: 8 * time.Second, mem: Remember{Checked: true}},
		{name: "a failed apply: ApplyFailed quotes the minion's comment at once",
			facts:   withCheck(facts(testAllowlist(confirming, publishedAs(3, one), ackedAgo(2*time.Second)), one, recent), entry(3, time.Second, oneFailed)),
			applied: ReasonApplyFailed, ready: ReasonApplyFailed, status: metav1.ConditionFalse, says: "db2 (nft: No such file or directory)",
			events: []string{"Warning ApplyFailed ConfirmDelivery"}, summary: "1/2", requeue: 2 * time.Second, mem: Remember{Checked: true}},
		{name: "nobody subscribes: NoSubscribers",
			facts:   withCheck(facts(testAllowlist(confirming, publishedAs(3, one), ackedAgo(2*time.Second)), one, recent), entry(3, time.Second, nil)),
			applied: ReasonNoSubscribers, ready: ReasonNoSubscribers, status: metav1.ConditionFalse, says: "no minion subscribes to prod/workers",
			events: []string{"Warning NoSubscribers ConfirmDelivery"}, summary: "0/0", requeue: 2 * time.Second, mem: Remember{Checked: true}},
		{name: "the master has not stored it yet: NotStored Unknown, no Event, no re-send",
			facts:   withCheck(facts(testAllowlist(confirming, publishedAs(3, one), ackedAgo(2*time.Second)), one, recent), entry(2, time.Hour, all)),
			applied: ReasonNotStored, ready: ReasonNotStored, status: metav1.ConditionUnknown, says: "holds sequence 2 of prod/workers, not the acknowledged sequence 3",
			summary: "2/2", requeue: 2 * time.Second, mem: Remember{Checked: true}},
		{name: "the master lost it: NotStored False with a Warning, and the sequence is sent again",
			facts:   withCheck(facts(testAllowlist(confirming, publishedAs(3, one), ackedAgo(time.Minute)), one, recent), &Check{}),
			applied: ReasonNotStored, status: metav1.ConditionFalse, says: "holds nothing of prod/workers",
			events: []string{"Warning NotStored ConfirmDelivery"}, summary: "0/0", send: Lost, requeue: StallAfter, mem: Remember{Checked: true}},
		{name: "the check failed: CheckFailed, Ready Unknown, a Warning once",
			facts: withCheck(facts(testAllowlist(confirming, publishedAs(3, one), ackedAgo(time.Minute)), one, recent),
				&Check{Err: errors.New("salt-api refused the runner nodeallow.status with HTTP 401")}),
			applied: ReasonCheckFailed, ready: ReasonCheckFailed, status: metav1.ConditionUnknown, says: "HTTP 401",
			events: []string{"Warning CheckFailed ConfirmDelivery"}, requeue: 2 * time.Second, mem: Remember{Checked: true}},
		{name: "a newer sequence acknowledged since the last check: Applying until asked",
			facts:   facts(testAllowlist(confirming, publishedAs(4, one), appliedBefore(3, 2), ackedAgo(100*time.Millisecond)), one, recent),
			applied: ReasonApplying, ready: ReasonApplying, status: metav1.ConditionUnknown, says: "asking the Salt master", summary: "2/2",
			requeue: 900 * time.Millisecond},
		{name: "a new selection is sent while the check reports on the last one",
			facts:   withCheck(facts(testAllowlist(confirming, publishedAs(3, one), ackedAgo(time.Minute)), two, recent), entry(3, time.Minute, all)),
			applied: ReasonApplied, ready: ReasonPublishing, status: metav1.ConditionTrue, summary: "2/2", send: Changed, requeue: StallAfter,
			events: []string{"Normal Applied ConfirmDelivery"}, mem: Remember{Checked: true, CheckSettled: true}},
		{name: "confirm turned off: Applied and status.delivery go",
			facts:   facts(testAllowlist(publishedAs(3, one), appliedBefore(3, 2)), one, recent),
			applied: "-", ready: ReasonPublished, status: "", requeue: 9 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := Decide(tc.facts)
			if out.Err != nil {
				t.Fatalf("err %v", out.Err)
			}
			st := &out.Status
			if tc.applied == "-" {
				if conditionReason(st, nodeallowv1alpha1.ConditionApplied) != "" || st.Delivery != nil {
					t.Errorf("Applied %q, delivery %+v; want neither", conditionReason(st, nodeallowv1alpha1.ConditionApplied), st.Delivery)
				}
			} else {
				if got := conditionReason(st, nodeallowv1alpha1.ConditionApplied); got != tc.applied {
					t.Errorf("Applied reason %q, want %q", got, tc.applied)
				}
				if got := conditionStatus(st, nodeallowv1alpha1.ConditionApplied); got != tc.status {
					t.Errorf("Applied status %q, want %q", got, tc.status)
				}
			}
			if tc.ready != "" {
				if got := conditionReason(st, nodeallowv1alpha1.ConditionReady); got != tc.ready {
					t.Errorf("Ready reason %q, want %q (%s)", got, tc.ready, readyMessage(st))
				}
			}
			if msg := conditionMessage(st, nodeallowv1alpha1.ConditionApplied); !strings.Contains(msg, tc.says) {
				t.Errorf("Applied message %q, want it to contain %q", msg, tc.says)
			}
			var events []string
			for _, e := range out.Events {
				events = append(events, e.Type+" "+e.Reason+" "+e.Action)
			}
			if strings.Join(events, ",") != strings.Join(tc.events, ",") {
				t.Errorf("events %v, want %v", events, tc.events)
			}
			summary := ""
			if st.Delivery != nil {
				summary = st.Delivery.Summary
			}
			if summary != tc.summary {
				t.Errorf("summary %q, want %q", summary, tc.summary)
			}
			var why Why
			if out.Send != nil {
				why = out.Send.Why
			}
			if why != tc.send {
				t.Errorf("send why %q, want %q", why, tc.send)
			}
			if out.Requeue != tc.requeue {
				t.Errorf("requeue %s, want %s", out.Requeue, tc.requeue)
			}
			if got := out.Remember; got.Checked != tc.mem.Checked || got.CheckSettled != tc.mem.CheckSettled {
				t.Errorf("remember %+v, want checked/settled %v/%v", got, tc.mem.Checked, tc.mem.CheckSettled)
			}
		})
	}
}

// withCheck adds the Salt master's answer to a delivery check.
func withCheck(f Facts, c *Check) Facts {
	c.Sequence = f.Allowlist.Status.PublishedSequence
	f.Check = c
	return f
}

func TestCheckWait(t *testing.T) {
	one := Compute([]netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")})
	cases := []struct {
		name string
		nal  *nodeallowv1alpha1.NodeAllowlist
		mem  Memory
		want time.Duration
	}{
		{"first check one second after the acknowledgement", testAllowlist(confirming, publishedAs(3, one), ackedAgo(200*time.Millisecond)), Memory{}, 800 * time.Millisecond},
		{"a fresh process checks at once", testAllowlist(confirming, publishedAs(3, one), ackedAgo(time.Hour)), Memory{}, 0},
		{"settled: every interval", testAllowlist(confirming, publishedAs(3, one), appliedBefore(3, 2)), Memory{Checked: t0.Add(-20 * time.Second)}, 40 * time.Second},
		{"behind: doubling after each check", testAllowlist(confirming, publishedAs(3, one)), Memory{Checked: t0, CheckStreak: 3}, 8 * time.Second},
		{"behind for long: capped at the interval", testAllowlist(confirming, publishedAs(3, one)), Memory{Checked: t0, CheckStreak: 30}, time.Minute},
	}
	for _, tc := range cases {
		if !Confirming(tc.nal) {
			t.Fatalf("%s: not confirming", tc.name)
		}
		if got := CheckWait(tc.nal, tc.mem, t0); got != tc.want {
			t.Errorf("%s: CheckWait %s, want %s", tc.name, got, tc.want)
		}
	}
	if Confirming(testAllowlist(confirming)) {
		t.Error("an allowlist that never published is checked")
	}
	if Confirming(testAllowlist(publishedAs(3, one))) {
		t.Error("an allowlist without spec.delivery.confirm is checked")
	}
}

func TestSummarizeNamesAtMostFiveFailedFirst(t *testing.T) {
	subs := map[string]protocol.SubscriberStatus{}
	for i := range 8 {
		subs[fmt.Sprintf("m%d", i)] = sub(1, "true", "")
	}
	subs["z-failed"] = sub(1, "false", "boom")
	d := summarize(protocol.StatusEntry{Sequence: 2, Subscribers: subs}, 2, t0)
	if d.Subscribers != 9 || d.Applied != 0 || d.Behind != 8 || d.Failed != 1 || d.Summary != "0/9" {
		t.Fatalf("delivery %+v", d)
	}
	if len(d.Minions) != maxReportedMinions || d.Minions[0].Name != "z-failed" || d.Minions[0].State != minionFailed || d.Minions[1].Name != "m0" {
		t.Fatalf("minions %+v", d.Minions)
	}
}

func conditionMessage(st *nodeallowv1alpha1.NodeAllowlistStatus, condType string) string {
	for _, c := range st.Conditions {
		if c.Type == condType {
			return c.Message
		}
	}
	return ""
}
