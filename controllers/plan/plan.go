// Package plan decides what a NodeAllowlist publishes next: it makes the
// canonical snapshot and its digest, and compares them with what the status
// says was last allocated and published, to pick the sequence to send.
package plan

import (
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

// Decide compares the desired snapshot with the recorded state. The sequence
// grows only when the digest differs from the last allocated one; an allocated
// but unacknowledged sequence is re-sent while its digest still holds, and
// abandoned (never reused) once the digest moves on, because part of it may
// already have reached Salt and the same sequence with another digest is a
// conflict there.
func Decide(rec Recorded, d Desired, minAddresses int, resyncDue bool) (Decision, error) {
	if n := len(d.Addresses); n < minAddresses {
		return Decision{Action: HoldBelowMinimum, Message: fmt.Sprintf(
			"the selected nodes give %d addresses, fewer than spec.minAddresses %d: holding the last published set", n, minAddresses)}, nil
	}
	if n := len(d.Addresses); n > protocol.MaxAddresses {
		return Decision{Action: HoldTooMany, Message: fmt.Sprintf(
			"the snapshot holds %d addresses, more than protocol v1's %d: holding the last published set; narrow spec.nodeSelector or add covering staticCIDRs", n, protocol.MaxAddresses)}, nil
	}
	switch {
	case rec.Sequence == 0 || rec.Digest != d.Digest:
		if rec.Sequence >= protocol.MaxSequence {
			return Decision{}, fmt.Errorf("sequence %d is at protocol v1's maximum; recreate the NodeAllowlist under a new name", rec.Sequence)
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
