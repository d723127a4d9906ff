// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

// Package plan decides what the controller does with one NodeAllowlist. Decide
// takes the facts one reconcile gathered (the object with its recorded status,
// the selected Nodes' addresses, this process's memory of deliveries and
// refusals, the clock) and returns one Outcome: what to send, the status and
// conditions to record, the Events to emit, when to look again. Settle turns
// the result of that send into the final Outcome. Both are pure; the
// controller gathers, acts and records.
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

// recorded is the publishing state persisted in a NodeAllowlist's status.
// Sequence and Digest are written before a publish starts (allocation), and
// PublishedSequence after salt-api acknowledged every chunk, so after a crash
// or leader change the next leader knows a sequence may already be out there.
type recorded struct {
	// sequence is the highest sequence allocated, 0 when none was.
	sequence int64
	// digest is the digest sequence was allocated to.
	digest string
	// publishedSequence is the highest sequence salt-api acknowledged.
	publishedSequence int64
	// publishedAddresses is how many entries publishedSequence holds, 0 when unknown.
	publishedAddresses int
}

// guards are the spec's bounds on what may be published; a selection outside them is held.
type guards struct {
	// minAddresses is spec.minAddresses: fewer entries are held.
	minAddresses int
	// limits are spec.limits: a selection wider than them is held (protocol.CheckLimits).
	limits protocol.Limits
	// maxShrinkPercent is spec.maxShrinkPercent: a new selection with more than this share of the
	// published entries fewer is held; 0 never holds a shrink.
	maxShrinkPercent int
	// shrinkAcknowledged is the value of the annotation AllowShrinkAnnotation: a held shrink is
	// published when it equals ShrinkAcknowledgement of that shrink.
	shrinkAcknowledged string
}

// AllowShrinkAnnotation is the annotation that, set to the ShrinkAcknowledgement a hold names, publishes that one shrink.
const AllowShrinkAnnotation = "nodeallow.io/allow-shrink"

// ShrinkAcknowledgement is the annotation value that allows shrinking from published sequence
// publishedSequence to exactly the addresses of digest. Naming both keeps an old acknowledgement
// from allowing a later shrink to the same set.
func ShrinkAcknowledgement(publishedSequence int64, digest string) string {
	return fmt.Sprintf("%d:%s", publishedSequence, digest)
}

// Why says why a publish happens; it goes into the log line of each publish.
type Why string

const (
	// Changed is a new digest under a new sequence.
	Changed Why = "changed"
	// Unfinished re-sends an allocated sequence that was never acknowledged.
	Unfinished Why = "unfinished"
	// Resync re-sends the acknowledged sequence unchanged; Salt treats it as a no-op.
	Resync Why = "resync"
	// Lost re-sends the acknowledged sequence because the delivery check found the master without it.
	Lost Why = "lost"
	// Deleted sends the retirement of a deleted allowlist.
	Deleted Why = "deleted"
)

// step is the sequence decision for a live allowlist: hold, nothing, or send a sequence.
type step struct {
	// hold, when set, is the condition reason the selection is held for (the last published set
	// stays); message says why in words a user can act on.
	hold, message string
	// send is false when salt-api already has the selection and no resync is due.
	send bool
	// sequence is the sequence to send.
	sequence int64
	// allocate is true when sequence and the digest must be written to status before sending.
	allocate bool
	// why says why the send happens.
	why Why
}

// next compares the desired selection with the recorded state and the guards. The sequence
// grows only when the digest differs from the last allocated one; an allocated
// but unacknowledged sequence is re-sent while its digest still holds, and
// abandoned (never reused) once the digest moves on, because part of it may
// already have reached Salt and the same sequence with another digest is a
// conflict there. A selection outside the guards is held (the last published set
// stays); the shrink guard applies only to a new digest, because an allocated one
// already passed it.
func next(rec recorded, d Desired, g guards, resyncDue bool) (step, error) {
	n := len(d.Addresses)
	if n < g.minAddresses {
		if rec.publishedSequence == 0 {
			return step{hold: ReasonBelowMinimum, message: fmt.Sprintf(
				"waiting for nodes: the selected nodes give %d addresses, fewer than spec.minAddresses %d; nothing was published yet, the first snapshot goes out once there are enough", n, g.minAddresses)}, nil
		}
		return step{hold: ReasonBelowMinimum, message: fmt.Sprintf(
			"the selected nodes give %d addresses, fewer than spec.minAddresses %d: holding the last published set", n, g.minAddresses)}, nil
	}
	if n > protocol.MaxAddresses {
		return step{hold: ReasonTooManyAddresses, message: fmt.Sprintf(
			"the snapshot holds %d addresses, more than protocol v1's %d: holding the last published set; narrow spec.nodeSelector or add covering staticCIDRs", n, protocol.MaxAddresses)}, nil
	}
	if err := protocol.CheckLimits(d.Addresses, g.limits.OrDefaults()); err != nil {
		var refusal *protocol.RefusalError
		if !errors.As(err, &refusal) {
			return step{}, fmt.Errorf("spec.limits: %w", err)
		}
		return step{hold: ReasonTooWide, message: fmt.Sprintf(
			"%s: holding the last published set; narrow spec.staticCIDRs or, if this is meant, widen spec.limits (the Salt master has its own limits)", refusal.Detail)}, nil
	}
	switch {
	case rec.sequence == 0 || rec.digest != d.Digest:
		if rec.sequence >= protocol.MaxSequence {
			return step{}, fmt.Errorf("sequence %d is at protocol v1's maximum; recreate the NodeAllowlist under a new name", rec.sequence)
		}
		if msg, held := shrinkHeld(rec, d, g); held {
			return step{hold: ReasonShrinkHeld, message: msg}, nil
		}
		return step{send: true, sequence: rec.sequence + 1, allocate: true, why: Changed}, nil
	case rec.publishedSequence < rec.sequence:
		return step{send: true, sequence: rec.sequence, why: Unfinished}, nil
	case resyncDue:
		return step{send: true, sequence: rec.sequence, why: Resync}, nil
	default:
		return step{}, nil
	}
}

// shrinkHeld says whether d drops more than g.maxShrinkPercent of the published entries, unacknowledged.
func shrinkHeld(rec recorded, d Desired, g guards) (string, bool) {
	published, n := rec.publishedAddresses, len(d.Addresses)
	if g.maxShrinkPercent <= 0 || rec.publishedSequence == 0 || published <= n || g.shrinkAcknowledged == ShrinkAcknowledgement(rec.publishedSequence, d.Digest) {
		return "", false
	}
	dropped := published - n
	if dropped*100 <= g.maxShrinkPercent*published {
		return "", false
	}
	return fmt.Sprintf("the new snapshot has %d addresses, %d%% fewer than the %d of published sequence %d, more than spec.maxShrinkPercent %d: "+
		"holding the last published set; if this is meant, annotate the NodeAllowlist %s=%s (a snapshot within the bound is published without)",
		n, dropped*100/published, published, rec.publishedSequence, g.maxShrinkPercent, AllowShrinkAnnotation,
		ShrinkAcknowledgement(rec.publishedSequence, d.Digest)), true
}

// retirement returns the sequence of the retirement that tells Salt the
// allowlist is gone, and whether it must be allocated first. A retirement
// carries the empty list, whose digest no snapshot has (minAddresses is at
// least 1), so a recorded empty digest means the retirement is already
// allocated. needed is false when nothing was ever allocated: Salt never heard
// of the allowlist and there is nothing to retire; and when salt-api already
// acknowledged the retirement (one of several endpoints, waiting for the others).
func retirement(rec recorded) (seq int64, allocate, needed bool) {
	switch {
	case rec.sequence == 0:
		return 0, false, false
	case rec.digest == protocol.EmptyDigest && rec.publishedSequence >= rec.sequence:
		return rec.sequence, false, false
	case rec.digest == protocol.EmptyDigest:
		return rec.sequence, false, true
	default:
		return rec.sequence + 1, true, true
	}
}
