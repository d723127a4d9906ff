// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package plan

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodeallow/nodeallow/api/protocol"
	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
)

// Delivery confirmation (spec.delivery.confirm): what the Salt master says the subscribers applied
// becomes status.delivery and the Applied condition, and Ready is True only when Applied is.

// FirstCheckAfter is how long after salt-api acknowledged a sequence the first check asks the Salt
// master: the reactor stores it and the minions apply it within about a second (bin/e2e-latency.txt:
// p95 0.68 s from the acknowledgement to the minion's set). Later checks while some subscriber is
// behind double the wait, up to spec.delivery.interval.
const FirstCheckAfter = time.Second

// ResendLostAfter is how long after salt-api acknowledged a sequence the controller sends it again
// when the master has not stored it: the reactor stores a hook within a second, so by then the event
// was lost (the master was killed between the acknowledgement and the store, or restarted without
// its cache). A re-send of the same sequence is a no-op for a master that has it.
const ResendLostAfter = 10 * time.Second

// DefaultDeliveryInterval and DefaultApplyTimeout apply when the API server's defaults did not
// (objects that bypassed defaulting); the CRD defaults the fields to the same values.
const (
	DefaultDeliveryInterval = time.Minute
	DefaultApplyTimeout     = 30 * time.Second
)

// maxReportedMinions is how many subscribers that failed or are behind status.delivery names (the
// CRD's MaxItems); the counts cover all of them.
const maxReportedMinions = 5

// Minion states in status.delivery.minions.
const (
	minionBehind = "Behind"
	minionFailed = "Failed"
)

// Check is what the Salt master answered about the allowlist and its subscribers. It is asked beside
// the reconcile (Outcome.Ask) and is a fact of the reconcile its answer triggers.
type Check struct {
	// Sequence is the acknowledged sequence (status.publishedSequence) it asked about; an answer to an
	// earlier acknowledgement says nothing about a later one and is not recorded.
	Sequence int64
	// Entry is the allowlist's entry of the runner nodeallow.status; Found is false when the master
	// knows nothing of the allowlist.
	Entry protocol.StatusEntry
	Found bool
	// Err is set when the master could not be asked (salt-api unreachable, the user may not run the
	// runner); Entry is empty then.
	Err error
}

// Confirming reports whether the allowlist's delivery is checked: spec.delivery.confirm is set and
// a sequence was acknowledged.
func Confirming(nal *nodeallowv1alpha1.NodeAllowlist) bool {
	return nal.Spec.Delivery.Confirm && nal.DeletionTimestamp.IsZero() && nal.Status.PublishedSequence > 0
}

// CheckWait is how long until the next delivery check of a Confirming allowlist is due (0: now),
// from the status recorded last and what this process remembers of its checks.
func CheckWait(nal *nodeallowv1alpha1.NodeAllowlist, mem Memory, now time.Time) time.Duration {
	st := &nal.Status
	if mem.Checked.IsZero() {
		// Nothing checked since the last delivery (or ever in this process).
		var acked time.Time
		if st.LastPublishedTime != nil {
			acked = st.LastPublishedTime.Time
		}
		return untilInterval(acked, now, FirstCheckAfter)
	}
	interval := deliveryInterval(nal)
	if settled(st) {
		return untilInterval(mem.Checked, now, interval)
	}
	return untilInterval(mem.Checked, now, backoff(mem.CheckStreak, interval))
}

// backoff is the wait after streak checks in a row that found some subscriber behind.
func backoff(streak int, interval time.Duration) time.Duration {
	return min(FirstCheckAfter<<min(streak, 12), interval)
}

// settled reports whether the last check found every subscriber with the published sequence.
func settled(st *nodeallowv1alpha1.NodeAllowlistStatus) bool {
	c := meta.FindStatusCondition(st.Conditions, nodeallowv1alpha1.ConditionApplied)
	return c != nil && c.Status == metav1.ConditionTrue && st.Delivery != nil && st.Delivery.Sequence == st.PublishedSequence
}

// lostAtMaster reports whether the check found that the master does not hold the acknowledged
// sequence ResendLostAfter after the acknowledgement, so that Decide sends it again.
func lostAtMaster(f Facts) bool {
	c, st := f.Check, &f.Allowlist.Status
	if c == nil || c.Err != nil || st.LastPublishedTime == nil || f.Now.Sub(st.LastPublishedTime.Time) < ResendLostAfter {
		return false
	}
	return !c.Found || !c.Entry.Stored || c.Entry.Sequence < st.PublishedSequence
}

// confirmDelivery applies spec.delivery to a live allowlist's Outcome: without confirm it drops
// status.delivery and the Applied condition; with it, it records this reconcile's Check, keeps
// Applied in step with the acknowledged sequence, lets Ready say what Applied says when Ready would
// otherwise be True, and schedules the next check.
func confirmDelivery(out *Outcome, f Facts) {
	nal, st := f.Allowlist, &out.Status
	if !nal.Spec.Delivery.Confirm {
		st.Delivery = nil
		meta.RemoveStatusCondition(&st.Conditions, nodeallowv1alpha1.ConditionApplied)
		return
	}
	if st.PublishedSequence == 0 {
		return
	}
	switch {
	case f.Check != nil:
		recordCheck(out, f)
	case st.Delivery == nil || st.Delivery.Sequence != st.PublishedSequence:
		setCondition(st, nal.Generation, f.Now, nodeallowv1alpha1.ConditionApplied, metav1.ConditionUnknown, ReasonApplying, fmt.Sprintf(
			"salt-api acknowledged sequence %d; asking the Salt master whether its subscribers applied it", st.PublishedSequence))
	}
	followApplied(st, nal.Generation, f.Now)
	if out.Err != nil || out.Send != nil || out.Ask || f.Checking {
		// The work queue's backoff, the send's landing or the check's answer triggers the next reconcile.
		return
	}
	wait := nextCheck(out, f)
	if out.Requeue == 0 || wait < out.Requeue {
		out.Requeue = wait
	}
}

// nextCheck is how long after this reconcile the next check is due.
func nextCheck(out *Outcome, f Facts) time.Duration {
	nal := f.Allowlist
	interval := deliveryInterval(nal)
	switch {
	case out.Remember.Delivered:
		return FirstCheckAfter
	case f.Check != nil && out.Remember.CheckSettled:
		return interval
	case f.Check != nil:
		return backoff(f.Memory.CheckStreak+1, interval)
	}
	// Not checked now: not due yet (gather asks whenever it is), or this reconcile did not gather.
	return max(CheckWait(nal, f.Memory, f.Now), FirstCheckAfter/10)
}

// followApplied makes Ready say what Applied says when Ready is True and Applied is not: Ready means
// the subscribers enforce the selection, not only that salt-api took it.
func followApplied(st *nodeallowv1alpha1.NodeAllowlistStatus, generation int64, now time.Time) {
	ready := meta.FindStatusCondition(st.Conditions, nodeallowv1alpha1.ConditionReady)
	applied := meta.FindStatusCondition(st.Conditions, nodeallowv1alpha1.ConditionApplied)
	if ready == nil || applied == nil || ready.Status != metav1.ConditionTrue {
		return
	}
	if applied.Status == metav1.ConditionTrue {
		if d := st.Delivery; d != nil && !strings.Contains(ready.Message, "subscribers applied") {
			ready.Message = truncate(fmt.Sprintf("%s; %d of %d subscribers applied it", ready.Message, d.Applied, d.Subscribers), maxConditionMessage)
		}
		return
	}
	setCondition(st, generation, now, nodeallowv1alpha1.ConditionReady, applied.Status, applied.Reason, applied.Message)
}

// recordCheck records f.Check in status.delivery and the Applied condition, with a Warning when the
// subscribers fall behind or fail and a Normal Event when a new sequence is applied everywhere.
func recordCheck(out *Outcome, f Facts) {
	nal, st, c := f.Allowlist, &out.Status, f.Check
	out.Remember.Checked = true
	url, where := nal.Spec.Salt.URL, f.Cluster+"/"+nal.Name
	before := meta.FindStatusCondition(nal.Status.Conditions, nodeallowv1alpha1.ConditionApplied)
	set := func(status metav1.ConditionStatus, reason, msg string) {
		changed := before == nil || before.Reason != reason || before.Status != status
		// Applying resolves itself within seconds, and NotStored while still Unknown too: no Event.
		if changed && (status == metav1.ConditionFalse || reason == ReasonCheckFailed) {
			out.Events = append(out.Events, event(corev1.EventTypeWarning, reason, actionConfirm, msg))
		}
		if reason == ReasonApplied && (changed || nal.Status.Delivery == nil || nal.Status.Delivery.Sequence != st.PublishedSequence) {
			out.Events = append(out.Events, event(corev1.EventTypeNormal, ReasonApplied, actionConfirm, msg))
		}
		setCondition(st, nal.Generation, f.Now, nodeallowv1alpha1.ConditionApplied, status, reason, msg)
		out.Remember.CheckSettled = reason == ReasonApplied
	}
	if c.Err != nil {
		set(metav1.ConditionUnknown, ReasonCheckFailed, fmt.Sprintf(
			"could not ask the Salt master through salt-api at %s what the subscribers of %s applied: %v", url, where, c.Err))
		return
	}
	seq := st.PublishedSequence
	d := summarize(c.Entry, seq, f.Now)
	st.Delivery = d
	storedAgo := time.Duration(-1)
	if c.Entry.StoredSecondsAgo != nil {
		storedAgo = time.Duration(*c.Entry.StoredSecondsAgo) * time.Second
	}
	switch {
	case !c.Found || !c.Entry.Stored || c.Entry.Sequence < seq:
		set(notStored(f, url, where, seq))
	case d.Subscribers == 0:
		set(metav1.ConditionFalse, ReasonNoSubscribers, fmt.Sprintf(
			"no minion subscribes to %s in pillar, so no firewall applies sequence %d; add a rule naming it to a minion's nodeallow pillar (docs/salt.md)", where, seq))
	case d.Failed > 0:
		set(metav1.ConditionFalse, ReasonApplyFailed, fmt.Sprintf("%d of %d subscribers failed to apply %s (%d applied it, %d behind): %s",
			d.Failed, d.Subscribers, sequenceOf(seq), d.Applied, d.Behind, minionList(d.Minions)))
	case d.Behind > 0 && (storedAgo < 0 || storedAgo < applyTimeout(nal)):
		set(metav1.ConditionUnknown, ReasonApplying, fmt.Sprintf("%d of %d subscribers applied %s; waiting for %s",
			d.Applied, d.Subscribers, sequenceOf(seq), minionList(d.Minions)))
	case d.Behind > 0:
		set(metav1.ConditionFalse, ReasonSubscribersBehind, fmt.Sprintf(
			"%d of %d subscribers have not applied %s %s after the Salt master stored it (spec.delivery.applyTimeout %s): %s; the master's reconcile loop retries them",
			d.Behind, d.Subscribers, sequenceOf(seq), storedAgo, applyTimeout(nal), minionList(d.Minions)))
	default:
		set(metav1.ConditionTrue, ReasonApplied, fmt.Sprintf("%d of %d subscribers applied %s", d.Applied, d.Subscribers, sequenceOf(seq)))
	}
}

// sequenceOf names a sequence in the Applied messages.
func sequenceOf(seq int64) string {
	return fmt.Sprintf("sequence %d", seq)
}

// summarize counts an entry's subscribers against the acknowledged sequence seq: applied (last apply
// succeeded with seq or later), failed (last apply failed) and behind (the rest), and names the
// first of those that failed or are behind.
func summarize(e protocol.StatusEntry, seq int64, now time.Time) *nodeallowv1alpha1.DeliveryStatus {
	d := &nodeallowv1alpha1.DeliveryStatus{CheckedTime: &metav1.Time{Time: now}, Sequence: seq, StoredSequence: e.Sequence,
		Subscribers: statusCount(len(e.Subscribers))}
	names := make([]string, 0, len(e.Subscribers))
	for name := range e.Subscribers {
		names = append(names, name)
	}
	sort.Strings(names)
	var failed, behind []nodeallowv1alpha1.MinionDelivery
	for _, name := range names {
		s := e.Subscribers[name]
		var applied int64
		if s.AppliedSequence != nil {
			applied = *s.AppliedSequence
		}
		switch {
		case s.Result != nil && *s.Result && applied >= seq:
			d.Applied++
		case s.Result != nil && !*s.Result:
			d.Failed++
			failed = append(failed, nodeallowv1alpha1.MinionDelivery{Name: name, State: minionFailed, AppliedSequence: applied,
				Message: truncate(orDefault(s.LastError, "its last apply failed"), maxLastError)})
		default:
			d.Behind++
			behind = append(behind, nodeallowv1alpha1.MinionDelivery{Name: name, State: minionBehind, AppliedSequence: applied,
				Message: truncate(behindWhy(s, applied), maxLastError)})
		}
	}
	d.Summary = fmt.Sprintf("%d/%d", d.Applied, d.Subscribers)
	d.Minions = slices.Concat(failed, behind)
	if len(d.Minions) > maxReportedMinions {
		d.Minions = d.Minions[:maxReportedMinions]
	}
	return d
}

// behindWhy says what the master knows of a subscriber that has not applied the sequence.
func behindWhy(s protocol.SubscriberStatus, applied int64) string {
	var b strings.Builder
	if applied == 0 {
		b.WriteString("never applied")
	} else {
		fmt.Fprintf(&b, "last applied sequence %d", applied)
		if s.SecondsAgo != nil {
			fmt.Fprintf(&b, " %ds ago", *s.SecondsAgo)
		}
	}
	if s.Failures > 0 {
		fmt.Fprintf(&b, "; %d failed attempts, next in %ds", s.Failures, s.NextRetryIn)
	}
	if s.LastError != "" && s.LastError != "never applied" {
		fmt.Fprintf(&b, "; %s", s.LastError)
	}
	return b.String()
}

// minionList names the reported minions with what the master says, for a condition message.
func minionList(minions []nodeallowv1alpha1.MinionDelivery) string {
	parts := make([]string, 0, len(minions))
	for _, m := range minions {
		parts = append(parts, fmt.Sprintf("%s (%s)", m.Name, m.Message))
	}
	return strings.Join(parts, ", ")
}

// orDefault returns s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// deliveryInterval is spec.delivery.interval, else DefaultDeliveryInterval.
func deliveryInterval(nal *nodeallowv1alpha1.NodeAllowlist) time.Duration {
	if d := nal.Spec.Delivery.Interval.Duration; d > 0 {
		return d
	}
	return DefaultDeliveryInterval
}

// applyTimeout is spec.delivery.applyTimeout, else DefaultApplyTimeout.
func applyTimeout(nal *nodeallowv1alpha1.NodeAllowlist) time.Duration {
	if d := nal.Spec.Delivery.ApplyTimeout.Duration; d > 0 {
		return d
	}
	return DefaultApplyTimeout
}
