// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package plan

// Reasons of the Ready and Published conditions (and of the Events that go
// with them). Each names what a user has to look at.
const (
	// ReasonPublished: salt-api acknowledged the current snapshot.
	ReasonPublished = "Published"
	// ReasonPublishing: a sequence was sent and salt-api has not answered yet (Published and Ready Unknown).
	ReasonPublishing = "Publishing"
	// ReasonPublishStalled: salt-api has not answered a sent sequence within StallAfter (Published Unknown, Ready False).
	ReasonPublishStalled = "PublishStalled"
	// ReasonLoginFailed: salt-api's /login refused the credentials Secret (username, password, eauth); retried at the next change or resync.
	ReasonLoginFailed = "LoginFailed"
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

// Reasons of the Applied condition (spec.delivery.confirm), which Ready takes over when it would
// otherwise be True.
const (
	// ReasonApplied: every subscriber applied the acknowledged sequence.
	ReasonApplied = "Applied"
	// ReasonApplying: some subscribers have not applied it yet, within spec.delivery.applyTimeout (Unknown).
	ReasonApplying = "Applying"
	// ReasonSubscribersBehind: some subscribers have not applied it longer than spec.delivery.applyTimeout after the master stored it.
	ReasonSubscribersBehind = "SubscribersBehind"
	// ReasonApplyFailed: a subscriber's last apply failed; the master's comment says why.
	ReasonApplyFailed = "ApplyFailed"
	// ReasonNoSubscribers: no minion subscribes to the allowlist in pillar.
	ReasonNoSubscribers = "NoSubscribers"
	// ReasonNotStored: the master does not hold the acknowledged sequence (Unknown at first, False after ResendLostAfter, when it is sent again).
	ReasonNotStored = "NotStored"
	// ReasonCheckFailed: the master could not be asked (salt-api unreachable, or the user may not run nodeallow.status).
	ReasonCheckFailed = "CheckFailed"
)

// Reasons of the Stored condition (spec.delivery.verifyStore) besides NotStored and CheckFailed, which
// it shares with Applied; Ready takes it over when it would otherwise be True.
const (
	// ReasonStored: the master said it stored the acknowledged sequence.
	ReasonStored = "Stored"
	// ReasonStoring: salt-api acknowledged a new sequence and the master has not been asked yet (Unknown, about a second).
	ReasonStoring = "Storing"
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
	actionConfirm    = "ConfirmDelivery"
	actionVerify     = "VerifyStore"
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
