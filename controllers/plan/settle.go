// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package plan

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodeallow/nodeallow/api/protocol"
	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
)

// Delivery is what became of a Send.
type Delivery struct {
	// Allocated is true when the Send's allocation was recorded in status.
	Allocated bool
	// Chunks is how many bodies salt-api accepted.
	Chunks int
	// Failure is nil when salt-api acknowledged every chunk.
	Failure *Failure
}

// Failure is a Send that did not reach salt-api, classified once by the controller.
type Failure struct {
	// Reason is the condition reason: ReasonSecretNotFound or ReasonSecretUnreadable (nothing was
	// sent), ReasonLoginFailed (salt-api's /login refused the credentials), ReasonRefused (salt-api refused it), ReasonInvalidSpec (it cannot be sent as configured)
	// or ReasonPublishFailed (anything else, retried with backoff).
	Reason string
	// Err is the error as the Secret read or the publisher reported it; it says what to do.
	Err error
	// StatusCode and Answer quote salt-api's refusal (ReasonRefused only).
	StatusCode int
	Answer     string
}

// Launched returns the Outcome of a Decide whose Send left in a goroutine: its allocation (when it
// had one) is recorded, and the conditions Decide set say Publishing until the send lands (Facts.Flight).
func Launched(out Outcome) Outcome {
	if s := out.Send; s != nil && s.Allocate {
		out.Status.Sequence, out.Status.Digest = s.Snapshot.Sequence, s.Digest
	}
	out.Send = nil
	return out
}

// Settle returns the final Outcome of a Decide whose Send was made, given what became of it.
func Settle(f Facts, out Outcome, d Delivery) Outcome {
	send := out.Send
	out.Send = nil
	if send == nil {
		return out
	}
	// The requeue Decide set waits for an answer that is here now.
	out.Requeue = 0
	if d.Allocated {
		out.Status.Sequence = send.Snapshot.Sequence
		out.Status.Digest = send.Digest
	}
	if send.Snapshot.Kind == protocol.KindRetirement {
		return settleRetirement(f, out, send, d)
	}
	nal, st, seq := f.Allowlist, &out.Status, send.Snapshot.Sequence
	interval := ResyncInterval(nal)
	url := nal.Spec.Salt.URL
	if d.Failure == nil {
		n := len(send.Snapshot.Addresses)
		st.PublishedSequence = seq
		st.PublishedAddresses = statusCount(n)
		st.LastPublishedTime = &metav1.Time{Time: f.Now}
		setPublished(st, nal.Generation, f.Now)
		out.Remember.Delivered = true
		if send.Why != Resync {
			out.Events = append(out.Events, event(corev1.EventTypeNormal, ReasonPublished, actionPublish, fmt.Sprintf(
				"salt-api at %s acknowledged sequence %d: %d addresses from %d nodes in %d chunk(s), digest %s",
				url, seq, n, send.Nodes, d.Chunks, send.Digest)))
		}
		out.Requeue = interval
		return out
	}
	fail := d.Failure
	switch fail.Reason {
	case ReasonSecretNotFound, ReasonSecretUnreadable:
		// Retried with backoff: creating the Secret needs no other action.
		setProblem(&out, f, problem{reason: fail.Reason, action: actionReadSecret, msg: fail.Err.Error()})
		out.Err = fmt.Errorf("NodeAllowlist %s: %w", nal.Name, fail.Err)
	case ReasonLoginFailed:
		// Not retried with backoff: the same credentials are refused again, and repeated failed logins
		// can lock the account (pam_faillock). A fixed Secret is picked up at the next change or resync.
		setProblem(&out, f, problem{everyAttempt: true, action: actionPublish, reason: ReasonLoginFailed, msg: fmt.Sprintf(
			"sequence %d not sent: %v; check the username, password and eauth (unset means pam) in the Secret named by "+
				"spec.salt.credentialsSecretRef (%s) and the master's external_auth for that backend and user; retried at the next node change or in %s",
			seq, fail.Err, credentialsSecretName(nal), interval)})
		out.Remember.Refused = seq
		out.Requeue = interval
	case ReasonRefused:
		// Not retried with backoff (the same body would be refused again) but at the next change or resync.
		setProblem(&out, f, problem{everyAttempt: true, action: actionPublish, reason: ReasonRefused, msg: fmt.Sprintf(
			"salt-api at %s refused sequence %d with HTTP %d: %q; fix the cause, it is retried at the next node change or in %s",
			url, seq, fail.StatusCode, fail.Answer, interval)})
		out.Remember.Refused = seq
		out.Requeue = interval
	case ReasonInvalidSpec:
		// No backoff: the same input fails the same way; a spec change triggers a reconcile, a Secret fix the resync.
		setProblem(&out, f, problem{everyAttempt: true, action: actionPublish, reason: ReasonInvalidSpec, msg: fmt.Sprintf(
			"sequence %d cannot be published as configured: %v; fix the NodeAllowlist or its Secrets", seq, fail.Err)})
		out.Remember.Refused = seq
		out.Requeue = interval
	default:
		setProblem(&out, f, problem{everyAttempt: true, action: actionPublish, reason: ReasonPublishFailed, msg: fmt.Sprintf(
			"publishing sequence %d to salt-api at %s failed: %v; retrying with backoff", seq, url, fail.Err)})
		out.Err = fmt.Errorf("publishing NodeAllowlist %s sequence %d to salt-api at %s: %w", nal.Name, seq, url, fail.Err)
		out.Remember.Failed = true
	}
	return out
}

// settleRetirement is Settle for a retirement: delivered or refused, the deletion goes ahead; anything
// else is retried with backoff until RetirementTimeout after the deletion started (plus at most one
// backoff step), then abandoned.
func settleRetirement(f Facts, out Outcome, send *Send, d Delivery) Outcome {
	nal, seq := f.Allowlist, send.Snapshot.Sequence
	url, where := nal.Spec.Salt.URL, f.Cluster+"/"+nal.Name
	// A released Outcome carries its status too: with several salt-api endpoints the deletion waits
	// for the others, and this endpoint's status says it has the retirement (Merge).
	if d.Failure == nil {
		out.Status.PublishedSequence, out.Status.PublishedAddresses = seq, 0
		out.Status.LastPublishedTime = &metav1.Time{Time: f.Now}
		setAcknowledged(&out.Status, nal.Generation, f.Now)
		return Outcome{Release: true, Status: out.Status, Events: []Event{event(corev1.EventTypeNormal, EventRetired, actionRetire, fmt.Sprintf(
			"salt-api at %s acknowledged retirement sequence %d: Salt removes allowlist %s", url, seq, where))}}
	}
	fail := d.Failure
	if fail.Reason == ReasonRefused {
		// Remembered, so that with several endpoints this one is not sent it again while the others retry.
		return Outcome{Release: true, Status: out.Status, Remember: Remember{Refused: seq}, Events: []Event{event(corev1.EventTypeWarning, EventRetirementAbandoned, actionRetire, fmt.Sprintf(
			"salt-api at %s refused retirement sequence %d with HTTP %d: %q; deletion goes ahead because a refusal does not change on retry: remove allowlist %s on the Salt master",
			url, seq, fail.StatusCode, fail.Answer, where))}}
	}
	deadline := nal.DeletionTimestamp.Add(f.RetirementTimeout)
	if !f.Now.Before(deadline) {
		return Outcome{Release: true, Status: out.Status, Events: []Event{event(corev1.EventTypeWarning, EventRetirementAbandoned, actionRetire, fmt.Sprintf(
			"no retirement delivered within %s of deletion (last error: %v); deletion goes ahead: remove allowlist %s on the Salt master",
			f.RetirementTimeout, fail.Err, where))}}
	}
	reason := ReasonPublishFailed
	if fail.Reason == ReasonSecretNotFound || fail.Reason == ReasonSecretUnreadable || fail.Reason == ReasonLoginFailed {
		reason = fail.Reason
	}
	setProblem(&out, f, problem{reason: reason, action: actionRetire, msg: fmt.Sprintf(
		"retirement not delivered: %v; retrying until %s, or set the annotation %s=true to delete without it",
		fail.Err, deadline.UTC().Format(time.RFC3339), AnnotationSkipRetirement)})
	out.Err = fmt.Errorf("retiring NodeAllowlist %s at salt-api %s: %w", nal.Name, url, fail.Err)
	out.Remember.Failed = reason == ReasonPublishFailed
	return out
}

// credentialsSecretName names the credentials Secret of an allowlist, "none" when it has none.
func credentialsSecretName(nal *nodeallowv1alpha1.NodeAllowlist) string {
	if ref := nal.Spec.Salt.CredentialsSecretRef; ref != nil {
		return ref.Name
	}
	return "none"
}
