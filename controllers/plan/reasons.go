// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package plan

// Reasons of the Ready and Published conditions (and of the Events that go
// with them). Each names what a user has to look at.
const (
	// ReasonPublished: salt-api acknowledged the current snapshot.
	ReasonPublished = "Published"
	// ReasonPublishFailed: salt-api could not be reached or answered with a retryable error; retried with backoff.
	ReasonPublishFailed = "PublishFailed"
	// ReasonRefused: salt-api refused the snapshot (a 4xx other than 401/408/429); retried at the next change or resync.
	ReasonRefused = "Refused"
	// ReasonSecretNotFound: the signing key or credentials Secret, or a key in it, is missing or empty.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonSecretUnreadable: reading a Secret failed for another reason (RBAC, API server).
	ReasonSecretUnreadable = "SecretUnreadable"
	// ReasonBelowMinimum: fewer addresses than spec.minAddresses; the last published set is held.
	ReasonBelowMinimum = "BelowMinimum"
	// ReasonTooManyAddresses: more addresses than protocol v1 carries; the last published set is held.
	ReasonTooManyAddresses = "TooManyAddresses"
	// ReasonTooWide: the snapshot opens more of the address space than spec.limits allow; the last published set is held.
	ReasonTooWide = "TooWide"
	// ReasonShrinkHeld: the snapshot drops more than spec.maxShrinkPercent of the published set; the last one is held.
	ReasonShrinkHeld = "ShrinkHeld"
	// ReasonInvalidSpec: the spec cannot be used (selector, static CIDRs, name, salt-api endpoint).
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonDryRun: spec.dryRun is set; nothing is published.
	ReasonDryRun = "DryRun"
	// ReasonSuspended: spec.suspend is set; nothing is published.
	ReasonSuspended = "Suspended"
)

// Event reasons that are not condition reasons.
const (
	// EventRetired: the retirement was delivered and the finalizer removed.
	EventRetired = "Retired"
	// EventRetirementSkipped: the NodeAllowlist went away without a retirement; Salt keeps its last set.
	EventRetirementSkipped = "RetirementSkipped"
	// EventRetirementAbandoned: the retirement could not be delivered in time; Salt keeps its last set.
	EventRetirementAbandoned = "RetirementAbandoned"
)

// Event actions (events.k8s.io/v1 requires one): what the controller was doing when it emitted the Event.
const (
	actionPublish    = "Publish"
	actionRetire     = "Retire"
	actionReadSecret = "ReadSecret"
	actionCompute    = "Compute"
)

// Message limits: an events.k8s.io note holds at most 1 KiB, and a server's
// answer quoted in a condition should not flood `kubectl describe`.
const (
	maxConditionMessage = 2048
	maxEventNote        = 1000
	maxLastError        = 1024
)

// truncate shortens s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}
