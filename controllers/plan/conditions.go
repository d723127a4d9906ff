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
}

// setProblem records p in out.
func setProblem(out *Outcome, f Facts, p problem) {
	nal := f.Allowlist
	if p.everyAttempt || changed(nal, p.reason, p.msg) {
		out.Events = append(out.Events, event(corev1.EventTypeWarning, p.reason, p.action, p.msg))
	}
	setCondition(&out.Status, nal.Generation, f.Now, nodeallowv1alpha1.ConditionReady, false, p.reason, p.msg)
	if !p.held {
		setCondition(&out.Status, nal.Generation, f.Now, nodeallowv1alpha1.ConditionPublished, false, p.reason, p.msg)
	}
	out.Status.LastError = truncate(p.msg, maxLastError)
}

// changed reports whether reason or msg differ from what the recorded status says (Ready's reason and lastError).
func changed(nal *nodeallowv1alpha1.NodeAllowlist, reason, msg string) bool {
	return nal.Status.LastError != truncate(msg, maxLastError) || ReadyReason(&nal.Status) != reason
}

// setPublished marks the acknowledged snapshot as current.
func setPublished(st *nodeallowv1alpha1.NodeAllowlistStatus, generation int64, now time.Time, nodes int) {
	setCondition(st, generation, now, nodeallowv1alpha1.ConditionPublished, true, ReasonPublished,
		fmt.Sprintf("salt-api acknowledged sequence %d (digest %s)", st.PublishedSequence, st.Digest))
	setCondition(st, generation, now, nodeallowv1alpha1.ConditionReady, true, ReasonPublished,
		fmt.Sprintf("the published sequence %d holds the %d addresses of the %d selected nodes", st.PublishedSequence, st.Addresses, nodes))
	st.LastError = ""
}

// setNotPublished sets Ready and Published to False with the same reason and message.
func setNotPublished(st *nodeallowv1alpha1.NodeAllowlistStatus, generation int64, now time.Time, reason, msg string) {
	setCondition(st, generation, now, nodeallowv1alpha1.ConditionReady, false, reason, msg)
	setCondition(st, generation, now, nodeallowv1alpha1.ConditionPublished, false, reason, msg)
}

// setCondition sets one condition; a changed status takes now as its transition time.
func setCondition(st *nodeallowv1alpha1.NodeAllowlistStatus, generation int64, now time.Time, condType string, ok bool, reason, msg string) {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type:               condType,
		Status:             status,
		Reason:             reason,
		Message:            truncate(msg, maxConditionMessage),
		ObservedGeneration: generation,
		LastTransitionTime: metav1.NewTime(now),
	})
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
