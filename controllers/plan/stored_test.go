// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package plan

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
)

// withCredentials names a credentials Secret, so the store is verified by default.
func withCredentials(nal *nodeallowv1alpha1.NodeAllowlist) {
	nal.Spec.Salt.CredentialsSecretRef = &nodeallowv1alpha1.SecretReference{Name: "salt-api-credentials"}
}

// trusting sets spec.delivery.verifyStore to false.
func trusting(nal *nodeallowv1alpha1.NodeAllowlist) {
	off := false
	nal.Spec.Delivery.VerifyStore = &off
}

// storedAs records an earlier Stored condition.
func storedAs(status metav1.ConditionStatus, reason, msg string) edit {
	return func(nal *nodeallowv1alpha1.NodeAllowlist) {
		setCondition(&nal.Status, nal.Generation, t0.Add(-time.Hour), nodeallowv1alpha1.ConditionStored, status, reason, msg)
		followStored(&nal.Status, nal.Generation, t0.Add(-time.Hour))
	}
}

func TestStoreVerification(t *testing.T) {
	one := Compute([]netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")})
	two := Compute([]netip.Prefix{netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("10.0.0.2/32")})
	recent := Memory{Delivered: t0.Add(-2 * time.Second)}
	stored := storedAs(metav1.ConditionTrue, ReasonStored, "stored")
	aclErr := errors.New(`salt-api at https://salt.example:8000 refused the runner nodeallow.status as user "nodeallow" (POST https://salt.example:8000/) with HTTP 401 (401 Unauthorized: No permission -- see authorization): the user may not run it; add "- '@runner': ['^nodeallow\\.status$']" to the user's external_auth entry`)
	failedBefore := storedAs(metav1.ConditionUnknown, ReasonCheckFailed, "could not ask the Salt master through salt-api at https://salt.example:8000 whether it stored sequence 3 of prod/workers, so a hook it lost would be noticed only at the resync: "+aclErr.Error()+"; or set spec.delivery.verifyStore to false to trust salt-api's acknowledgement")
	newAck := func(f Facts) Facts {
		return flying(f, 4, two, 50*time.Millisecond, &Delivery{Allocated: true, Chunks: 1})
	}
	resync := func(f Facts) Facts {
		f = flying(f, 3, one, 50*time.Millisecond, &Delivery{Chunks: 1})
		f.Flight.Send.Why = Resync
		return f
	}

	cases := []struct {
		name    string
		facts   Facts
		stored  string // reason of Stored; "-" expects none
		status  metav1.ConditionStatus
		ready   string
		says    string // substring of Stored's message
		events  []string
		send    Why
		requeue time.Duration
		mem     Remember
	}{
		{name: "a new sequence acknowledged: Storing, Ready Unknown, asked StoreCheckAfter later",
			facts:  newAck(facts(testAllowlist(withCredentials, publishedAs(3, one), stored, allocated(4, two)), two, recent)),
			stored: ReasonStoring, status: metav1.ConditionUnknown, ready: ReasonStoring, says: "acknowledged sequence 4", requeue: StoreCheckAfter,
			events: []string{"Normal Published Publish"}},
		{name: "a new sequence lands while Node changes settle: Storing all the same",
			facts:  settling(newAck(facts(testAllowlist(withCredentials, publishedAs(3, one), stored, allocated(4, two)), two, recent)), time.Second),
			stored: ReasonStoring, status: metav1.ConditionUnknown, ready: ReasonPublishing, says: "acknowledged sequence 4", requeue: time.Second,
			events: []string{"Normal Published Publish"}},
		{name: "the master stored it: Stored and Ready True, nothing asked until the next acknowledgement",
			facts:  withCheck(facts(testAllowlist(withCredentials, publishedAs(3, one), ackedAgo(time.Second), storedAs(metav1.ConditionUnknown, ReasonStoring, "s")), one, recent), entry(3, time.Second, nil)),
			stored: ReasonStored, status: metav1.ConditionTrue, ready: ReasonPublished, says: "stored sequence 3 of prod/workers",
			requeue: 10*time.Minute - 2*time.Second, mem: Remember{Checked: true, CheckSettled: true}},
		{name: "not stored yet: NotStored Unknown, no Event, asked again when a re-send would be due",
			facts:  withCheck(facts(testAllowlist(withCredentials, publishedAs(3, one), ackedAgo(time.Second), storedAs(metav1.ConditionUnknown, ReasonStoring, "s")), one, recent), entry(2, time.Hour, nil)),
			stored: ReasonNotStored, status: metav1.ConditionUnknown, ready: ReasonNotStored, says: "holds sequence 2 of prod/workers, not the acknowledged sequence 3",
			requeue: ResendLostAfter - time.Second, mem: Remember{Checked: true}},
		{name: "lost at the master (a hook taken while it started): NotStored False, a Warning, sent again",
			facts: withCheck(facts(testAllowlist(withCredentials, publishedAs(3, one), ackedAgo(ResendLostAfter), storedAs(metav1.ConditionUnknown, ReasonNotStored, "n")), one,
				Memory{Delivered: t0.Add(-ResendLostAfter), Checked: t0.Add(-9 * time.Second), CheckStreak: 1}), entry(2, time.Hour, nil)),
			stored: ReasonNotStored, status: metav1.ConditionFalse, says: "sends it again 10s after the acknowledgement",
			events: []string{"Warning NotStored VerifyStore"}, send: Lost, requeue: StallAfter, mem: Remember{Checked: true}},
		{name: "the user may not run the runner (an upgrade without the ACL): CheckFailed names the grant, Ready Unknown, a Warning once",
			facts:  withCheck(facts(testAllowlist(withCredentials, publishedAs(3, one), ackedAgo(time.Second), storedAs(metav1.ConditionUnknown, ReasonStoring, "s")), one, recent), &Check{Err: aclErr}),
			stored: ReasonCheckFailed, status: metav1.ConditionUnknown, ready: ReasonCheckFailed, says: `'@runner': ['^nodeallow\\.status$']`,
			events: []string{"Warning CheckFailed VerifyStore"}, requeue: 2 * time.Second, mem: Remember{Checked: true}},
		{name: "failing again: the same condition, no Event, the wait doubles up to spec.delivery.interval",
			facts: withCheck(facts(testAllowlist(withCredentials, publishedAs(3, one), ackedAgo(time.Hour), failedBefore), one,
				Memory{Delivered: t0.Add(-5 * time.Minute), Checked: t0.Add(-time.Minute), CheckStreak: 9}), &Check{Err: aclErr}),
			stored: ReasonCheckFailed, status: metav1.ConditionUnknown, ready: ReasonCheckFailed, says: "spec.delivery.verifyStore to false",
			requeue: DefaultDeliveryInterval, mem: Remember{Checked: true}},
		{name: "a new sequence while the check fails: still CheckFailed, not Storing (Ready does not flap)",
			facts:  newAck(facts(testAllowlist(withCredentials, publishedAs(3, one), failedBefore, allocated(4, two)), two, recent)),
			stored: ReasonCheckFailed, status: metav1.ConditionUnknown, ready: ReasonCheckFailed, requeue: StoreCheckAfter,
			events: []string{"Normal Published Publish"}},
		{name: "a resync of a stored sequence keeps Stored and Ready True, and is checked once",
			facts:  resync(facts(testAllowlist(withCredentials, publishedAs(3, one), stored), one, Memory{Delivered: t0.Add(-10 * time.Minute), Checked: t0.Add(-10 * time.Minute)})),
			stored: ReasonStored, status: metav1.ConditionTrue, ready: ReasonPublished, requeue: StoreCheckAfter},
		{name: "stored and checked: nothing more is asked",
			facts:  facts(testAllowlist(withCredentials, publishedAs(3, one), ackedAgo(time.Minute), stored), one, Memory{Delivered: t0.Add(-time.Minute), Checked: t0.Add(-59 * time.Second)}),
			stored: ReasonStored, status: metav1.ConditionTrue, ready: ReasonPublished, requeue: 9 * time.Minute},
		{name: "verifyStore false: no Stored condition, Ready as salt-api acknowledged it",
			facts:  facts(testAllowlist(withCredentials, trusting, publishedAs(3, one), failedBefore), one, recent),
			stored: "-", ready: ReasonPublished, requeue: 10*time.Minute - 2*time.Second},
		{name: "no credentials: nothing to ask with, no Stored condition",
			facts:  newAck(facts(testAllowlist(publishedAs(3, one), allocated(4, two)), two, recent)),
			stored: "-", ready: ReasonPublished, requeue: 10 * time.Minute, events: []string{"Normal Published Publish"}},
		{name: "with confirm: Stored from the same check, and only Applied warns",
			facts: withCheck(facts(testAllowlist(withCredentials, confirming, publishedAs(3, one), ackedAgo(time.Minute), stored), one, recent),
				&Check{Err: aclErr}),
			stored: ReasonCheckFailed, status: metav1.ConditionUnknown, ready: ReasonCheckFailed, says: "nodeallow.status",
			events: []string{"Warning CheckFailed ConfirmDelivery"}, requeue: 2 * time.Second, mem: Remember{Checked: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := Decide(tc.facts)
			if out.Err != nil {
				t.Fatalf("err %v", out.Err)
			}
			st := &out.Status
			if tc.stored == "-" {
				if got := conditionReason(st, nodeallowv1alpha1.ConditionStored); got != "" {
					t.Errorf("Stored %q, want none", got)
				}
			} else {
				if got := conditionReason(st, nodeallowv1alpha1.ConditionStored); got != tc.stored {
					t.Errorf("Stored reason %q, want %q", got, tc.stored)
				}
				if got := conditionStatus(st, nodeallowv1alpha1.ConditionStored); got != tc.status {
					t.Errorf("Stored status %q, want %q", got, tc.status)
				}
			}
			if tc.ready != "" {
				if got := conditionReason(st, nodeallowv1alpha1.ConditionReady); got != tc.ready {
					t.Errorf("Ready reason %q, want %q (%s)", got, tc.ready, readyMessage(st))
				}
			}
			if msg := conditionMessage(st, nodeallowv1alpha1.ConditionStored); !strings.Contains(msg, tc.says) {
				t.Errorf("Stored message %q, want it to contain %q", msg, tc.says)
			}
			var events []string
			for _, e := range out.Events {
				events = append(events, e.Type+" "+e.Reason+" "+e.Action)
			}
			if strings.Join(events, ",") != strings.Join(tc.events, ",") {
				t.Errorf("events %v, want %v", events, tc.events)
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

func TestCheckDueForTheStore(t *testing.T) {
	one := Compute([]netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")})
	stored := storedAs(metav1.ConditionTrue, ReasonStored, "stored")
	notStored := storedAs(metav1.ConditionUnknown, ReasonNotStored, "n")
	cases := []struct {
		name string
		nal  *nodeallowv1alpha1.NodeAllowlist
		mem  Memory
		wait time.Duration
		due  bool
	}{
		{"just after a new acknowledgement: StoreCheckAfter after it", testAllowlist(withCredentials, publishedAs(3, one), ackedAgo(200*time.Millisecond)), Memory{Delivered: t0.Add(-200 * time.Millisecond)}, StoreCheckAfter - 200*time.Millisecond, true},
		{"a fresh process asks a master it has no answer from", testAllowlist(withCredentials, publishedAs(3, one), ackedAgo(time.Hour)), Memory{}, 0, true},
		{"a fresh process waits for its start resync when the master had it", testAllowlist(withCredentials, publishedAs(3, one), ackedAgo(time.Hour), stored), Memory{}, 0, false},
		{"stored since the acknowledgement: never", testAllowlist(withCredentials, publishedAs(3, one), ackedAgo(time.Minute), stored), Memory{Delivered: t0.Add(-time.Minute), Checked: t0.Add(-59 * time.Second)}, 0, false},
		{"not stored: again at the re-send deadline", testAllowlist(withCredentials, publishedAs(3, one), ackedAgo(2*time.Second), notStored), Memory{Delivered: t0.Add(-2 * time.Second), Checked: t0.Add(-time.Second), CheckStreak: 1}, 8 * time.Second, true},
		{"failing: doubling", testAllowlist(withCredentials, publishedAs(3, one), ackedAgo(time.Hour), storedAs(metav1.ConditionUnknown, ReasonCheckFailed, "x")), Memory{Delivered: t0.Add(-time.Hour), Checked: t0, CheckStreak: 3}, 8 * time.Second, true},
		{"verifyStore false: never", testAllowlist(withCredentials, trusting, publishedAs(3, one)), Memory{}, 0, false},
		{"no credentials: never", testAllowlist(publishedAs(3, one)), Memory{}, 0, false},
		{"never published: never", testAllowlist(withCredentials), Memory{}, 0, false},
		{"being deleted: never", testAllowlist(withCredentials, publishedAs(3, one), deleting(time.Second)), Memory{}, 0, false},
	}
	for _, tc := range cases {
		wait, due := storeCheckWait(tc.nal, tc.mem, t0)
		if wait != tc.wait || due != tc.due {
			t.Errorf("%s: storeCheckWait %s %v, want %s %v", tc.name, wait, due, tc.wait, tc.due)
		}
		if got := checkDue(tc.nal, tc.mem, t0); got != (tc.due && tc.wait == 0) {
			t.Errorf("%s: checkDue %v", tc.name, got)
		}
	}
}

func TestAskingTheMaster(t *testing.T) {
	one := Compute([]netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")})
	two := Compute([]netip.Prefix{netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("10.0.0.2/32")})
	storing := storedAs(metav1.ConditionUnknown, ReasonStoring, "s")
	ackedDue := Memory{Delivered: t0.Add(-StoreCheckAfter)}
	due := func(edits ...edit) *nodeallowv1alpha1.NodeAllowlist {
		return testAllowlist(append([]edit{withCredentials, publishedAs(3, one), ackedAgo(StoreCheckAfter), storing}, edits...)...)
	}
	checking := func(f Facts) Facts {
		f.Checking = true
		return f
	}
	earlier := func(f Facts) Facts {
		f = withCheck(f, entry(2, time.Minute, nil))
		f.Check.Sequence = 2
		return f
	}
	cases := []struct {
		name    string
		facts   Facts
		ask     bool
		stored  string // reason of Stored
		send    Why
		requeue time.Duration
	}{
		{name: "due: asked beside the reconcile, whose answer reconciles again (no requeue for it)",
			facts: facts(due(), one, ackedDue), ask: true, stored: ReasonStoring, requeue: 10*time.Minute - StoreCheckAfter},
		{name: "not due yet: a requeue when it is",
			facts:  facts(testAllowlist(withCredentials, publishedAs(3, one), ackedAgo(300*time.Millisecond), storing), one, Memory{Delivered: t0.Add(-300 * time.Millisecond)}),
			stored: ReasonStoring, requeue: StoreCheckAfter - 300*time.Millisecond},
		{name: "the check asked earlier is unanswered: not asked twice, no requeue for it",
			facts: checking(facts(due(), one, ackedDue)), stored: ReasonStoring, requeue: 10*time.Minute - StoreCheckAfter},
		{name: "a newer selection leaves now: not asked (its own acknowledgement is)",
			facts: facts(due(), two, ackedDue), stored: ReasonStoring, send: Changed, requeue: StallAfter},
		{name: "a held selection does not postpone it: asked",
			facts: facts(due(), Compute(nil), ackedDue), ask: true, stored: ReasonStoring},
		{name: "an answer to an earlier acknowledgement is not recorded; the current one is asked",
			facts: earlier(facts(due(), one, ackedDue)), ask: true, stored: ReasonStoring, requeue: 10*time.Minute - StoreCheckAfter},
		{name: "the answer is recorded, nothing asked",
			facts: withCheck(facts(due(), one, ackedDue), entry(3, time.Second, nil)), stored: ReasonStored, requeue: 10*time.Minute - StoreCheckAfter},
		{name: "a send lands: asked StoreCheckAfter after its acknowledgement, not now",
			facts:  flying(facts(due(allocated(4, two)), two, ackedDue), 4, two, 50*time.Millisecond, &Delivery{Allocated: true, Chunks: 1}),
			stored: ReasonStoring, requeue: StoreCheckAfter},
		{name: "an answer that comes with a landing send is not recorded",
			facts: withCheck(flying(facts(due(allocated(4, two)), two, ackedDue), 4, two, 50*time.Millisecond, &Delivery{Allocated: true, Chunks: 1}),
				entry(3, time.Second, nil)),
			stored: ReasonStoring, requeue: StoreCheckAfter},
		{name: "Node changes settling: not asked, they come first",
			facts: settling(facts(due(), one, ackedDue), 1500*time.Millisecond), stored: ReasonStoring, requeue: 1500 * time.Millisecond},
		{name: "delivery confirmation asks the same way",
			facts: facts(due(confirming), one, ackedDue), ask: true, stored: ReasonStoring, requeue: 10*time.Minute - StoreCheckAfter},
		{name: "delivery confirmation with a check unanswered: no requeue for it",
			facts: checking(facts(due(confirming), one, ackedDue)), stored: ReasonStoring, requeue: 10*time.Minute - StoreCheckAfter},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := Decide(tc.facts)
			if out.Err != nil {
				t.Fatalf("err %v", out.Err)
			}
			if out.Ask != tc.ask {
				t.Errorf("ask %v, want %v", out.Ask, tc.ask)
			}
			if got := conditionReason(&out.Status, nodeallowv1alpha1.ConditionStored); got != tc.stored {
				t.Errorf("Stored %q, want %q", got, tc.stored)
			}
			if got := conditionStatus(&out.Status, nodeallowv1alpha1.ConditionReady); got == metav1.ConditionTrue && tc.stored != ReasonStored {
				t.Errorf("Ready True while Stored is %q", tc.stored)
			}
			var why Why
			if out.Send != nil {
				why = out.Send.Why
			}
			if why != tc.send {
				t.Errorf("send %q, want %q", why, tc.send)
			}
			if out.Requeue != tc.requeue {
				t.Errorf("requeue %s, want %s", out.Requeue, tc.requeue)
			}
		})
	}
}

func TestReadyFollowingStoredKeepsItsTransitionTime(t *testing.T) {
	one := Compute([]netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")})
	two := Compute([]netip.Prefix{netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("10.0.0.2/32")})
	failed := storedAs(metav1.ConditionUnknown, ReasonCheckFailed, "could not ask")
	f := flying(facts(testAllowlist(withCredentials, publishedAs(3, one), failed, allocated(4, two)), two, Memory{}), 4, two,
		50*time.Millisecond, &Delivery{Allocated: true, Chunks: 1})
	out := Decide(f)
	before := conditionOf(&f.Allowlist.Status, nodeallowv1alpha1.ConditionReady)
	after := conditionOf(&out.Status, nodeallowv1alpha1.ConditionReady)
	if after.Reason != ReasonCheckFailed || !after.LastTransitionTime.Equal(&before.LastTransitionTime) {
		t.Errorf("Ready %s since %s, want CheckFailed since %s: it passed through True within the decision", after.Reason,
			after.LastTransitionTime, before.LastTransitionTime)
	}
}

// conditionOf returns condition condType of st (zero when missing).
func conditionOf(st *nodeallowv1alpha1.NodeAllowlistStatus, condType string) metav1.Condition {
	for _, c := range st.Conditions {
		if c.Type == condType {
			return c
		}
	}
	return metav1.Condition{}
}
