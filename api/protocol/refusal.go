// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package protocol

import "fmt"

// Refusal reasons of docs/protocol.md that a body itself can earn: CheckLimits and CheckCanonical return
// them, and so do the Go test receiver (test/receiver) and the Salt side for the same bodies. The Salt
// side also uses bad-tag, unknown-cluster, missing-signature, bad-signature and tag-mismatch, which need
// the tag, the headers or its configuration.
const (
	// ReasonTooLarge: the raw body exceeds MaxBodySize.
	ReasonTooLarge = "too-large"
	// ReasonMalformedJSON: the body is not a single JSON object (or repeats a member name).
	ReasonMalformedJSON = "malformed-json"
	// ReasonSchema: a member is missing, unknown, of the wrong type or out of range.
	ReasonSchema = "schema"
	// ReasonBadAddress: an address entry is not a canonical prefix.
	ReasonBadAddress = "bad-address"
	// ReasonNotCanonical: entries are unsorted, duplicated or overlapping.
	ReasonNotCanonical = "not-canonical"
	// ReasonDigestMismatch: the complete address list does not hash to the body's digest.
	ReasonDigestMismatch = "digest-mismatch"
	// ReasonTooManyAddresses: over MaxAddressesPerChunk in a body or MaxAddresses in a snapshot.
	ReasonTooManyAddresses = "too-many-addresses"
	// ReasonTooWide: an entry is a shorter prefix than the receiver allows, or the entries of one family
	// together cover more addresses than it allows (CheckLimits).
	ReasonTooWide = "too-wide"
	// ReasonSequenceConflict: bodies of one sequence disagree, or a stored sequence has another digest
	// (receiver state).
	ReasonSequenceConflict = "sequence-conflict"
)

// RefusalError is why a receiver must refuse a body: Reason is one of the doc's refusal reasons and
// Detail says what exactly is wrong.
type RefusalError struct {
	// Reason is the machine-readable refusal reason, e.g. ReasonSchema.
	Reason string
	// Detail names the offending member or entry for a human.
	Detail string
}

// Error returns "<reason>: <detail>".
func (e *RefusalError) Error() string {
	return e.Reason + ": " + e.Detail
}

// refuse builds a RefusalError with a formatted detail.
func refuse(reason, format string, args ...any) *RefusalError {
	return &RefusalError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}
