// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

// Package plan decides what a NodeAllowlist publishes next: it makes the
// canonical snapshot and its digest, and compares them with what the status
// says was last allocated and published, to pick the sequence to send.
package plan

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/nodeallow/nodeallow/api/protocol"
)

// Desired is the canonical address list the selected Nodes make right now.
type Desired struct {
	// Addresses is canonical (protocol.Canonicalize).
	Addresses []netip.Prefix
	// Digest is protocol.Digest(Addresses).
	Digest string
}

// Compute canonicalises addrs and digests the result.
func Compute(addrs []netip.Prefix) Desired {
	canonical := protocol.Canonicalize(addrs)
	return Desired{Addresses: canonical, Digest: protocol.Digest(canonical)}
}

// Recorded is the publishing state persisted in a NodeAllowlist's status.
// Sequence and Digest are written before a publish starts (allocation), and
// PublishedSequence after salt-api acknowledged every chunk, so after a crash
// or leader change the next leader knows a sequence may already be out there.
type Recorded struct {
	// Sequence is the highest sequence allocated, 0 when none was.
	Sequence int64
	// Digest is the digest Sequence was allocated to.
	Digest string
	// PublishedSequence is the highest sequence salt-api acknowledged.
	PublishedSequence int64
	// PublishedAddresses is how many entries PublishedSequence holds, 0 when unknown.
	PublishedAddresses int
}

// Guards are the spec's bounds on what may be published; a snapshot outside them is held.
type Guards struct {
	// MinAddresses is spec.minAddresses: fewer entries are held.
	MinAddresses int
	// Limits are spec.limits: a snapshot wider than them is held (protocol.CheckLimits).
	Limits protocol.Limits
	// MaxShrinkPercent is spec.maxShrinkPercent: a new snapshot with more than this share of the
	// published entries fewer is held; 0 never holds a shrink.
	MaxShrinkPercent int
	// ShrinkAcknowledged is the value of the annotation AllowShrinkAnnotation: a held shrink is
	// published when it equals ShrinkAcknowledgement of that shrink.
	ShrinkAcknowledged string
}

// AllowShrinkAnnotation is the annotation that, set to the ShrinkAcknowledgement a hold names, publishes that one shrink.
const AllowShrinkAnnotation = "nodeallow.io/allow-shrink"

// ShrinkAcknowledgement is the annotation value that allows shrinking from published sequence
// publishedSequence to exactly the addresses of digest. Naming both keeps an old acknowledgement
// from allowing a later shrink to the same set.
func ShrinkAcknowledgement(publishedSequence int64, digest string) string {
	return fmt.Sprintf("%d:%s", publishedSequence, digest)
}

// Action is what to do with a snapshot.
type Action string

const (
	// Nothing means salt-api already has this snapshot and no resync is due.
	Nothing Action = "Nothing"
	// Publish means send Decision.Sequence (after allocating it when Decision.Allocate).
	Publish Action = "Publish"
	// HoldBelowMinimum means the snapshot is smaller than spec.minAddresses: keep the last one.
	HoldBelowMinimum Action = "HoldBelowMinimum"
	// HoldTooMany means the snapshot exceeds what protocol v1 carries: keep the last one.
	HoldTooMany Action = "HoldTooMany"
	// HoldTooWide means the snapshot opens more of the address space than spec.limits allow: keep the last one.
	HoldTooWide Action = "HoldTooWide"
	// HoldShrink means the snapshot drops more than spec.maxShrinkPercent of the published set: keep the last one.
	HoldShrink Action = "HoldShrink"
)

// Why says why a publish happens; it goes into the log line of each publish.
type Why string

const (
	// Changed is a new digest under a new sequence.
	Changed Why = "changed"
	// Unfinished re-sends an allocated sequence that was never acknowledged.
	Unfinished Why = "unfinished"
	// Resync re-sends the acknowledged sequence unchanged; Salt treats it as a no-op.
	Resync Why = "resync"
)

// Decision is the outcome of Decide.
type Decision struct {
	// Action is what to do.
	Action Action
	// Sequence is the sequence to publish (only for Publish).
	Sequence int64
	// Allocate is true when Sequence and the digest must be written to status before publishing.
	Allocate bool
	// Why says why a publish happens (only for Publish).
	Why Why
	// Message explains a hold in words a user can act on.
	Message string
}

// Decide compares the desired snapshot with the recorded state and the guards. The sequence
// grows only when the digest differs from the last allocated one; an allocated
// but unacknowledged sequence is re-sent while its digest still holds, and
// abandoned (never reused) once the digest moves on, because part of it may
// already have reached Salt and the same sequence with another digest is a
// conflict there. A snapshot outside the guards is held (the last published set
// stays); the shrink guard applies only to a new digest, because an allocated one
// already passed it.
func Decide(rec Recorded, d Desired, g Guards, resyncDue bool) (Decision, error) {
	n := len(d.Addresses)
	if n < g.MinAddresses {
		return Decision{Action: HoldBelowMinimum, Message: fmt.Sprintf(
			"the selected nodes give %d addresses, fewer than spec.minAddresses %d: holding the last published set", n, g.MinAddresses)}, nil
	}
	if n > protocol.MaxAddresses {
		return Decision{Action: HoldTooMany, Message: fmt.Sprintf(
			"the snapshot holds %d addresses, more than protocol v1's %d: holding the last published set; narrow spec.nodeSelector or add covering staticCIDRs", n, protocol.MaxAddresses)}, nil
	}
	if err := protocol.CheckLimits(d.Addresses, g.Limits.OrDefaults()); err != nil {
		var refusal *protocol.RefusalError
		if !errors.As(err, &refusal) {
			return Decision{}, fmt.Errorf("spec.limits: %w", err)
		}
		return Decision{Action: HoldTooWide, Message: fmt.Sprintf(
			"%s: holding the last published set; narrow spec.staticCIDRs or, if this is meant, widen spec.limits (the Salt master has its own limits)", refusal.Detail)}, nil
	}
	switch {
	case rec.Sequence == 0 || rec.Digest != d.Digest:
		if rec.Sequence >= protocol.MaxSequence {
			return Decision{}, fmt.Errorf("sequence %d is at protocol v1's maximum; recreate the NodeAllowlist under a new name", rec.Sequence)
		}
		if msg, held := shrinkHeld(rec, d, g); held {
			return Decision{Action: HoldShrink, Message: msg}, nil
		}
		return Decision{Action: Publish, Sequence: rec.Sequence + 1, Allocate: true, Why: Changed}, nil
	case rec.PublishedSequence < rec.Sequence:
		return Decision{Action: Publish, Sequence: rec.Sequence, Why: Unfinished}, nil
	case resyncDue:
		return Decision{Action: Publish, Sequence: rec.Sequence, Why: Resync}, nil
	default:
		return Decision{Action: Nothing}, nil
	}
}

// shrinkHeld says whether d drops more than g.MaxShrinkPercent of the published entries, unacknowledged.
func shrinkHeld(rec Recorded, d Desired, g Guards) (string, bool) {
	published, n := rec.PublishedAddresses, len(d.Addresses)
	if g.MaxShrinkPercent <= 0 || rec.PublishedSequence == 0 || published <= n || g.ShrinkAcknowledged == ShrinkAcknowledgement(rec.PublishedSequence, d.Digest) {
		return "", false
	}
	dropped := published - n
	if dropped*100 <= g.MaxShrinkPercent*published {
		return "", false
	}
	return fmt.Sprintf("the new snapshot has %d addresses, %d%% fewer than the %d of published sequence %d, more than spec.maxShrinkPercent %d: "+
		"holding the last published set; if this is meant, annotate the NodeAllowlist %s=%s (a snapshot within the bound is published without)",
		n, dropped*100/published, published, rec.PublishedSequence, g.MaxShrinkPercent, AllowShrinkAnnotation,
		ShrinkAcknowledgement(rec.PublishedSequence, d.Digest)), true
}

// Retirement returns the sequence of the retirement that tells Salt the
// allowlist is gone, and whether it must be allocated first. A retirement
// carries the empty list, whose digest no snapshot has (minAddresses is at
// least 1), so a recorded empty digest means the retirement is already
// allocated. needed is false when nothing was ever allocated: Salt never heard
// of the allowlist and there is nothing to retire.
func Retirement(rec Recorded) (seq int64, allocate, needed bool) {
	switch {
	case rec.Sequence == 0:
		return 0, false, false
	case rec.Digest == protocol.EmptyDigest:
		return rec.Sequence, false, true
	default:
		return rec.Sequence + 1, true, true
	}
}
