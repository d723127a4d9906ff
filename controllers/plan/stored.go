// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package plan

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
)

// Store verification (spec.delivery.verifyStore, on by default): salt-api acknowledges a hook once
// the event is on the master's bus, not once the reactor stored it, so a hook taken while the master
// starts (its publisher is up before the reactor listens) or just before it dies is lost although
// acknowledged. The controller asks the master (the runner nodeallow.status, the same Check as
// delivery confirmation) StoreCheckAfter after each acknowledgement whether it stored the sequence,
// once more at ResendLostAfter when it had not, and sends it again then (lostAtMaster). Once stored,
// nothing more is asked until the next acknowledgement: at most one runner call per publish and
// resync, none for a sequence a newer one superseded before its check was due. The check runs beside
// the reconcile (Outcome.Ask, askNow), never while a send is in the air or Node changes settle.

// DefaultVerifyStore applies when spec.delivery.verifyStore is unset (objects that bypassed
// defaulting); the CRD defaults the field to the same value.
const DefaultVerifyStore = true

// StoreCheckAfter is how long after salt-api acknowledged a sequence the store check first asks the
// Salt master. The reactor stores within about a second, but the runner call forks a process on the
// master; asked while the subscribers apply (p95 1.1 s after the acknowledgement) it slowed their
// pillar compile and so the firewall, which matters more than a Stored condition 2 s earlier.
const StoreCheckAfter = 3 * time.Second

// VerifiesStore reports whether the allowlist's (or one endpoint's View's) store is verified:
// spec.delivery.verifyStore is not false and there are credentials to ask the master with (salt-api
// runs runners only for a logged-in user; without credentials the acknowledgement is trusted).
func VerifiesStore(nal *nodeallowv1alpha1.NodeAllowlist) bool {
	verify := DefaultVerifyStore
	if v := nal.Spec.Delivery.VerifyStore; v != nil {
		verify = *v
	}
	return verify && nal.Spec.Salt.CredentialsSecretRef != nil
}

// checkDue reports whether a check of the allowlist (or one endpoint's View) is due now:
// a delivery check is due (Confirming, CheckWait), or a store check is (storeCheckWait).
func checkDue(nal *nodeallowv1alpha1.NodeAllowlist, mem Memory, now time.Time) bool {
	if Confirming(nal) {
		return CheckWait(nal, mem, now) == 0
	}
	wait, due := storeCheckWait(nal, mem, now)
	return due && wait == 0
}

// askNow reports whether this reconcile asks the Salt master (Outcome.Ask): a check is due (checkDue),
// none is unanswered or unrecorded, and no send is leaving or landing now, whose acknowledgement is
// checked in its turn (a lost sequence is superseded by the next one, which is checked). Decide never
// gets here while a send is in the air or Node changes are settling: the check waits for them, so it
// never holds up a publish nor competes with one at the master.
func askNow(f Facts, out Outcome) bool {
	return f.Check == nil && !f.Checking && f.Flight == nil && out.Send == nil && checkDue(f.Allowlist, f.Memory, f.Now)
}

// storeCheckWait is how long until the next store check of a live allowlist without delivery
// confirmation is due (0: now); due is false when none is: the master said it stored the
// acknowledged sequence and nothing was acknowledged since.
func storeCheckWait(nal *nodeallowv1alpha1.NodeAllowlist, mem Memory, now time.Time) (wait time.Duration, due bool) {
	st := &nal.Status
	if !VerifiesStore(nal) || !nal.DeletionTimestamp.IsZero() || st.PublishedSequence == 0 || !meta.IsStatusConditionTrue(st.Conditions, nodeallowv1alpha1.ConditionPublished) {
		// Nothing acknowledged, or the last publish failed (a refused login must not be retried by
		// checks: PAM may lock the account); the next acknowledgement is checked.
		return 0, false
	}
	var acked time.Time
	if st.LastPublishedTime != nil {
		acked = st.LastPublishedTime.Time
	}
	c := meta.FindStatusCondition(st.Conditions, nodeallowv1alpha1.ConditionStored)
	stored := c != nil && c.Status == metav1.ConditionTrue
	switch {
	case stored && (!mem.Checked.IsZero() || mem.Delivered.IsZero()):
		// Checked since the last acknowledgement, or a fresh process whose start resync is checked
		// once it lands.
		return 0, false
	case mem.Checked.IsZero():
		return untilInterval(acked, now, StoreCheckAfter), true
	case c != nil && c.Reason == ReasonNotStored && now.Before(acked.Add(ResendLostAfter)):
		// Not stored yet: ask again when a re-send would be due.
		return untilInterval(acked, now, ResendLostAfter), true
	}
	// The check failed, or a re-send did not help yet: ask again with a doubling wait.
	return untilInterval(mem.Checked, now, backoff(mem.CheckStreak, deliveryInterval(nal))), true
}

// verifyStore applies spec.delivery.verifyStore to a live allowlist's Outcome: it drops the Stored
// condition when the store is not verified; otherwise it records this reconcile's Check in Stored
// (Storing once a new sequence is acknowledged), lets Ready say what Stored says when Ready would
// otherwise be True, and, without delivery confirmation (which schedules its own checks), schedules
// the next store check.
func verifyStore(out *Outcome, f Facts) {
	nal, st := f.Allowlist, &out.Status
	if !VerifiesStore(nal) {
		meta.RemoveStatusCondition(&st.Conditions, nodeallowv1alpha1.ConditionStored)
		return
	}
	if st.PublishedSequence == 0 {
		return
	}
	prev := meta.FindStatusCondition(nal.Status.Conditions, nodeallowv1alpha1.ConditionStored)
	switch {
	case f.Check != nil:
		recordStored(out, f)
	case prev == nil || (st.PublishedSequence > nal.Status.PublishedSequence && prev.Reason != ReasonCheckFailed):
		// A new sequence: asked about StoreCheckAfter from now. A check that fails keeps saying so
		// until one succeeds, so Ready does not flap between Storing and CheckFailed at every change.
		setCondition(st, nal.Generation, f.Now, nodeallowv1alpha1.ConditionStored, metav1.ConditionUnknown, ReasonStoring, fmt.Sprintf(
			"salt-api acknowledged sequence %d; asking the Salt master whether its reactor stored it", st.PublishedSequence))
	}
	followStored(st, nal.Generation, f.Now)
	if nal.Spec.Delivery.Confirm || out.Err != nil || out.Send != nil || out.Ask || f.Checking {
		// The send's landing, or the check's answer, reconciles again.
		return
	}
	if wait, due := nextStoreCheck(out, f); due {
		wait = max(wait, FirstCheckAfter/10)
		if out.Requeue == 0 || wait < out.Requeue {
			out.Requeue = wait
		}
	}
}

// nextStoreCheck is how long after this reconcile the next store check is due; due is false when
// none is (the master stored the acknowledged sequence).
func nextStoreCheck(out *Outcome, f Facts) (time.Duration, bool) {
	c := meta.FindStatusCondition(out.Status.Conditions, nodeallowv1alpha1.ConditionStored)
	switch {
	case out.Remember.Delivered:
		return StoreCheckAfter, true
	case f.Check == nil:
		// Not checked now: not due yet (gather asks whenever it is), or this reconcile did not gather;
		// due as the status this Outcome records says.
		next := *f.Allowlist
		next.Status = out.Status
		return storeCheckWait(&next, f.Memory, f.Now)
	case out.Remember.CheckSettled:
		return 0, false
	case c != nil && c.Reason == ReasonNotStored && !lostAtMaster(f):
		return ResendLostAfter - f.Now.Sub(out.Status.LastPublishedTime.Time), true
	}
	return backoff(f.Memory.CheckStreak+1, deliveryInterval(f.Allowlist)), true
}

// recordStored records f.Check in the Stored condition, with a Warning when the master lost the
// sequence or cannot be asked (without delivery confirmation, whose Applied condition warns of the
// same).
func recordStored(out *Outcome, f Facts) {
	nal, st, c := f.Allowlist, &out.Status, f.Check
	url, where, seq := nal.Spec.Salt.URL, f.Cluster+"/"+nal.Name, st.PublishedSequence
	confirm := nal.Spec.Delivery.Confirm
	before := meta.FindStatusCondition(nal.Status.Conditions, nodeallowv1alpha1.ConditionStored)
	set := func(status metav1.ConditionStatus, reason, msg string) {
		changed := before == nil || before.Reason != reason || before.Status != status
		if !confirm && changed && (status == metav1.ConditionFalse || reason == ReasonCheckFailed) {
			out.Events = append(out.Events, event(corev1.EventTypeWarning, reason, actionVerify, msg))
		}
		setCondition(st, nal.Generation, f.Now, nodeallowv1alpha1.ConditionStored, status, reason, msg)
		if !confirm {
			out.Remember.Checked = true
			out.Remember.CheckSettled = reason == ReasonStored
		}
	}
	switch {
	case c.Err != nil:
		set(metav1.ConditionUnknown, ReasonCheckFailed, fmt.Sprintf(
			"could not ask the Salt master through salt-api at %s whether it stored sequence %d of %s, so a hook it lost would "+
				"be noticed only at the resync: %v; or set spec.delivery.verifyStore to false to trust salt-api's acknowledgement",
			url, seq, where, c.Err))
	case !c.Found || !c.Entry.Stored || c.Entry.Sequence < seq:
		set(notStored(f, url, where, seq))
	default:
		set(metav1.ConditionTrue, ReasonStored, fmt.Sprintf("the Salt master behind %s stored sequence %d of %s", url, c.Entry.Sequence, where))
	}
}

// followStored makes Ready say what Stored says when Ready is True and Stored is not: an acknowledged
// sequence the master has not stored is not enforced anywhere.
func followStored(st *nodeallowv1alpha1.NodeAllowlistStatus, generation int64, now time.Time) {
	ready := meta.FindStatusCondition(st.Conditions, nodeallowv1alpha1.ConditionReady)
	stored := meta.FindStatusCondition(st.Conditions, nodeallowv1alpha1.ConditionStored)
	if ready == nil || stored == nil || ready.Status != metav1.ConditionTrue || stored.Status == metav1.ConditionTrue {
		return
	}
	setCondition(st, generation, now, nodeallowv1alpha1.ConditionReady, stored.Status, stored.Reason, stored.Message)
}

// notStored is the Stored (and Applied) condition's status, reason and message when the master behind url
// does not hold the acknowledged sequence seq of where: Unknown until the resend is due, then False.
func notStored(f Facts, url, where string, seq int64) (metav1.ConditionStatus, string, string) {
	c := f.Check
	held := "nothing"
	if c.Found && c.Entry.Stored {
		held = fmt.Sprintf("sequence %d", c.Entry.Sequence)
	}
	status := metav1.ConditionUnknown
	if lostAtMaster(f) {
		status = metav1.ConditionFalse
	}
	return status, ReasonNotStored, fmt.Sprintf(
		"the Salt master behind %s holds %s of %s, not the acknowledged sequence %d: its reactor has not stored it "+
			"(check the salt-master log for nodeallow ingest errors); the controller sends it again %s after the acknowledgement",
		url, held, where, seq, ResendLostAfter)
}
