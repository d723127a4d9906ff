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

// The helpers below are the one place that sets the Ready and Published conditions, lastError and
// the Warning Events that go with them.

// problem is why an allowlist is not Ready, as it is recorded: Ready (and Published) False with the
// reason, lastError, and a Warning Event.
type problem struct {
	reason, action, msg string
	// held means nothing was attempted (the last published set stays): Published keeps what the last
	// attempt said.
	held bool
	// everyAttempt emits the Warning Event on every attempt; otherwise only when the reason or the
	// message changed, for failures the work queue retries within milliseconds.
	everyAttempt bool
	// quiet emits no Event: the condition alone says it (an allowlist that never published and waits
	// for its first Nodes has nothing an operator must act on).
	quiet bool
}

// setProblem records p in out.
func setProblem(out *Outcome, f Facts, p problem) {
	nal := f.Allowlist
	if !p.quiet && (p.everyAttempt || changed(nal, p.reason, p.msg)) {
		out.Events = append(out.Events, event(corev1.EventTypeWarning, p.reason, p.action, p.msg))
	}
	setCondition(&out.Status, nal.Generation, f.Now, nodeallowv1alpha1.ConditionReady, metav1.ConditionFalse, p.reason, p.msg)
	if !p.held {
		setCondition(&out.Status, nal.Generation, f.Now, nodeallowv1alpha1.ConditionPublished, metav1.ConditionFalse, p.reason, p.msg)
	}
	out.Status.LastError = truncate(p.msg, maxLastError)
}

// changed reports whether reason or msg differ from what the recorded status says (Ready's reason and lastError).
func changed(nal *nodeallowv1alpha1.NodeAllowlist, reason, msg string) bool {
	return nal.Status.LastError != truncate(msg, maxLastError) || ReadyReason(&nal.Status) != reason
}

// setPublished marks the acknowledged snapshot as current. It is called only when the published
// sequence is the current selection's (status.nodes and status.addresses describe it), so the Ready
// message and the counts beside it in `kubectl get nal` agree.
func setPublished(st *nodeallowv1alpha1.NodeAllowlistStatus, generation int64, now time.Time) {
	setAcknowledged(st, generation, now)
	setCondition(st, generation, now, nodeallowv1alpha1.ConditionReady, metav1.ConditionTrue, ReasonPublished,
		fmt.Sprintf("the published sequence %d holds the %d addresses of the %d selected nodes", st.PublishedSequence, st.PublishedAddresses, st.Nodes))
}

// setAcknowledged sets Published True for the acknowledged sequence and clears lastError; Ready is
// left to the caller, who knows whether that sequence is still the current selection's.
func setAcknowledged(st *nodeallowv1alpha1.NodeAllowlistStatus, generation int64, now time.Time) {
	setCondition(st, generation, now, nodeallowv1alpha1.ConditionPublished, metav1.ConditionTrue, ReasonPublished,
		fmt.Sprintf("salt-api acknowledged sequence %d with %d addresses", st.PublishedSequence, st.PublishedAddresses))
	st.LastError = ""
}

// setPublishing sets Published and Ready to Unknown while salt-api has not answered a fresh send yet.
func setPublishing(st *nodeallowv1alpha1.NodeAllowlistStatus, generation int64, now time.Time, msg string) {
	setCondition(st, generation, now, nodeallowv1alpha1.ConditionPublished, metav1.ConditionUnknown, ReasonPublishing, msg)
	setCondition(st, generation, now, nodeallowv1alpha1.ConditionReady, metav1.ConditionUnknown, ReasonPublishing, msg)
}

// setStalled records a send salt-api has not answered within StallAfter: whether it lands is
// unknown (Published Unknown), but the allowlist is not what the cluster has (Ready False).
func setStalled(out *Outcome, f Facts, msg string) {
	nal := f.Allowlist
	if ReadyReason(&nal.Status) != ReasonPublishStalled {
		out.Events = append(out.Events, event(corev1.EventTypeWarning, ReasonPublishStalled, actionPublish, msg))
	}
	setCondition(&out.Status, nal.Generation, f.Now, nodeallowv1alpha1.ConditionPublished, metav1.ConditionUnknown, ReasonPublishStalled, msg)
	setCondition(&out.Status, nal.Generation, f.Now, nodeallowv1alpha1.ConditionReady, metav1.ConditionFalse, ReasonPublishStalled, msg)
	out.Status.LastError = truncate(msg, maxLastError)
}

// setNotPublished sets Ready and Published to False with the same reason and message.
func setNotPublished(st *nodeallowv1alpha1.NodeAllowlistStatus, generation int64, now time.Time, reason, msg string) {
	setCondition(st, generation, now, nodeallowv1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
	setCondition(st, generation, now, nodeallowv1alpha1.ConditionPublished, metav1.ConditionFalse, reason, msg)
}

// setCondition sets one condition; a changed status takes now as its transition time.
func setCondition(st *nodeallowv1alpha1.NodeAllowlistStatus, generation int64, now time.Time, condType string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type:               condType,
		Status:             status,
		Reason:             reason,
		Message:            truncate(msg, maxConditionMessage),
		ObservedGeneration: generation,
		LastTransitionTime: metav1.NewTime(now),
	})
}

// keepTransitionTime gives condition condType of st the recorded one's lastTransitionTime when its
// status did not change since the record: Ready passes through True within one decision when it
// follows Stored or Applied, which must not count as a transition.
func keepTransitionTime(st, recorded *nodeallowv1alpha1.NodeAllowlistStatus, condType string) {
	now, before := meta.FindStatusCondition(st.Conditions, condType), meta.FindStatusCondition(recorded.Conditions, condType)
	if now != nil && before != nil && now.Status == before.Status {
		now.LastTransitionTime = before.LastTransitionTime
	}
}

// ReadyReason returns the reason of a status's Ready condition, "" when unset.
func ReadyReason(st *nodeallowv1alpha1.NodeAllowlistStatus) string {
	if c := meta.FindStatusCondition(st.Conditions, nodeallowv1alpha1.ConditionReady); c != nil {
		return c.Reason
	}
	return ""
}

// IsHold reports whether reason is one of the guards' holds (the selection is usable but unsafe to
// publish, so the last published set stays).
func IsHold(reason string) bool {
	switch reason {
	case ReasonBelowMinimum, ReasonTooManyAddresses, ReasonTooWide, ReasonShrinkHeld:
		return true
	}
	return false
}

// event builds an Event with its note cut to the size limit.
func event(eventType, reason, action, note string) Event {
	return Event{Type: eventType, Reason: reason, Action: action, Note: truncate(note, maxEventNote)}
}
