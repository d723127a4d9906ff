// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package plan

import (
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/nodeallow/nodeallow/api/protocol"
	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
)

// Finalizer holds a NodeAllowlist until its retirement reached salt-api.
const Finalizer = "nodeallow.io/retirement"

// AnnotationSkipRetirement set to "true" on a NodeAllowlist lets its deletion
// finish at once without a retirement (Salt keeps the last published set).
const AnnotationSkipRetirement = "nodeallow.io/skip-retirement"

// DefaultResyncInterval is the resync interval of an allowlist whose spec.resyncInterval is unset;
// the API server defaults the field to the same value, so only objects that bypassed defaulting use it.
const DefaultResyncInterval = 10 * time.Minute

// Facts is what one reconcile gathered about one allowlist, everything Decide looks at.
type Facts struct {
	// Now is the reconcile's clock.
	Now time.Time
	// Name is the allowlist's name.
	Name string
	// Cluster is this controller's cluster name; messages name the allowlist on the Salt master by it.
	Cluster string
	// Gone is true when the allowlist no longer exists; nothing else is gathered then.
	Gone bool
	// DebounceWait is how long Node changes still have to settle before the Nodes may be listed; while
	// it is positive, Selection and the memory fields are not gathered.
	DebounceWait time.Duration
	// Allowlist is the object as read uncached from the API server, with the status recorded last
	// (and, when live, with Finalizer); nil when Gone, or when the cached copy already showed a
	// DebounceWait. Decide does not modify it.
	Allowlist *nodeallowv1alpha1.NodeAllowlist
	// Selection is what the selected Nodes and static CIDRs give (a live allowlist only).
	Selection Selection
	// Memory is what this process remembers of the allowlist's deliveries (a live allowlist only).
	Memory Memory
	// RetirementTimeout bounds how long a deleted allowlist waits for its retirement to be delivered.
	RetirementTimeout time.Duration
}

// Selection is the desired address list of a live allowlist.
type Selection struct {
	// Desired is the canonical list and its digest.
	Desired Desired
	// Nodes counts the selected Nodes that are not being deleted.
	Nodes int
	// Invalid, when set, says why the spec cannot be used (name, selector, static CIDRs); Desired and
	// Nodes are then empty.
	Invalid string
}

// Memory is what this process remembers of one allowlist's deliveries. It is in memory on purpose: a
// fresh process (restart, new leader) remembers nothing, so it re-sends every allowlist's current
// sequence once on start, which costs one no-op at Salt and repairs a master that lost its state.
type Memory struct {
	// Delivered is when salt-api last acknowledged the allowlist; zero when never in this process.
	Delivered time.Time
	// Refused is the sequence salt-api last refused (or that could not be sent as configured), 0 when
	// none since the last delivery; RefusedAt is when.
	Refused   int64
	RefusedAt time.Time
}

// Outcome is everything one reconcile does after deciding; the controller carries it out in order:
// make the Send (allocating its sequence first), then emit the Events, update Memory, and write
// Status once, or release or forget the allowlist.
type Outcome struct {
	// Status is the status to record; it is written when it differs from the one read.
	Status nodeallowv1alpha1.NodeAllowlistStatus
	// Send, when set, is the one publish to make; Settle turns its Delivery into the final Outcome.
	Send *Send
	// Events are emitted on the allowlist.
	Events []Event
	// Remember updates this process's memory of the allowlist.
	Remember Remember
	// Release removes Finalizer, so the deletion goes ahead, and forgets the allowlist; Status is not
	// written then.
	Release bool
	// Forget drops everything this process remembers about an allowlist that is gone.
	Forget bool
	// Requeue is when to reconcile again without a trigger; 0 waits for one.
	Requeue time.Duration
	// Err, when set, is returned to the work queue, which retries with capped exponential backoff.
	Err error
}

// Send is one publish to salt-api.
type Send struct {
	// Snapshot is what is sent.
	Snapshot protocol.Snapshot
	// Digest is Snapshot's digest.
	Digest string
	// Allocate records Snapshot.Sequence and Digest in status before sending (optimistic lock), so a
	// process that dies mid-publish leaves a record that this number may be out there.
	Allocate bool
	// Why says why it is sent, for the log line of the publish.
	Why Why
}

// Event is one Kubernetes Event to emit on the allowlist.
type Event struct {
	// Type is corev1.EventTypeNormal or corev1.EventTypeWarning.
	Type string
	// Reason is a condition reason or one of the Event* reasons.
	Reason string
	// Action is what the controller was doing.
	Action string
	// Note is the message, already within an Event note's size limit.
	Note string
}

// Remember is how an Outcome changes this process's Memory of the allowlist.
type Remember struct {
	// Reset forgets earlier deliveries and refusals (the spec changed: a re-send is due until one
	// succeeds, even when the addresses stay the same and the first attempt fails).
	Reset bool
	// Delivered records a delivery at Facts.Now.
	Delivered bool
	// Refused records a refusal of this sequence at Facts.Now.
	Refused int64
}

// Decide returns what to do with one allowlist. For a live allowlist it waits out the debounce, holds
// an unusable or unsafe selection with the reason, does nothing when salt-api already has the
// selection, and otherwise sends the sequence plan picks (re-sends are held back for the resync
// interval after a refusal). For a deleted one it retires, or releases the finalizer without a
// retirement when none is needed or wanted.
func Decide(f Facts) Outcome {
	if f.Gone {
		return Outcome{Forget: true}
	}
	nal := f.Allowlist
	if nal == nil {
		return Outcome{Requeue: f.DebounceWait}
	}
	out := Outcome{Status: *nal.Status.DeepCopy()}
	if !nal.DeletionTimestamp.IsZero() {
		return decideRetirement(f, out)
	}
	if f.DebounceWait > 0 {
		out.Requeue = f.DebounceWait
		return out
	}

	st := &out.Status
	mem := f.Memory
	if st.ObservedGeneration != nal.Generation {
		// A spec change may point at another Salt master or key.
		out.Remember.Reset = true
		mem = Memory{}
	}
	st.ObservedGeneration = nal.Generation
	sel := f.Selection
	if sel.Invalid != "" {
		// No retry: only a spec change can fix it, and that triggers a reconcile.
		setProblem(&out, f, problem{reason: ReasonInvalidSpec, action: actionCompute, msg: sel.Invalid, held: true})
		return out
	}
	st.Nodes = statusCount(sel.Nodes)
	st.Addresses = statusCount(len(sel.Desired.Addresses))

	if nal.Spec.Suspend || nal.Spec.DryRun {
		reason, msg := ReasonSuspended, "spec.suspend is set: nothing is published until it is cleared"
		if !nal.Spec.Suspend {
			reason, msg = ReasonDryRun, fmt.Sprintf("spec.dryRun is set: would publish %d addresses from %d nodes (digest %s)",
				len(sel.Desired.Addresses), sel.Nodes, sel.Desired.Digest)
		}
		setNotPublished(st, nal.Generation, f.Now, reason, msg)
		return out
	}

	interval := ResyncInterval(nal)
	resyncIn := untilInterval(mem.Delivered, f.Now, interval)
	s, err := next(recordedIn(st), sel.Desired, guardsOf(nal), resyncIn == 0)
	if err != nil {
		return Outcome{Status: *nal.Status.DeepCopy(), Remember: out.Remember,
			Err: fmt.Errorf("planning NodeAllowlist %s: %w", nal.Name, err)}
	}
	switch {
	case s.hold != "":
		// No timer: the Node change that lifts the hold triggers a reconcile.
		setProblem(&out, f, problem{reason: s.hold, action: actionCompute, msg: s.message, held: true})
	case !s.send:
		setPublished(st, nal.Generation, f.Now, sel.Nodes)
		out.Requeue = resyncIn
	case !s.allocate && mem.Refused == s.sequence && untilInterval(mem.RefusedAt, f.Now, interval) > 0:
		// Unchanged since salt-api refused it, so it would only be refused again: wait for a change
		// or the resync.
		out.Requeue = untilInterval(mem.RefusedAt, f.Now, interval)
	default:
		out.Send = &Send{
			Snapshot: protocol.Snapshot{Kind: protocol.KindSnapshot, Cluster: f.Cluster, Allowlist: nal.Name,
				Sequence: s.sequence, GeneratedAt: f.Now, Addresses: sel.Desired.Addresses},
			Digest: sel.Desired.Digest, Allocate: s.allocate, Why: s.why,
		}
	}
	return out
}

// decideRetirement is Decide for an allowlist being deleted: it publishes a retirement (the next
// sequence, no addresses), so Salt removes the allowlist's rules, and then releases the finalizer.
//
// Deletion is never blocked for good. The finalizer goes without a retirement when nothing was ever
// allocated, when spec.suspend or spec.dryRun is set, and when the annotation
// nodeallow.io/skip-retirement is "true"; Settle adds a refusal (which does not change on retry) and
// the RetirementTimeout. Abandoning leaves the last published set allowed on the Salt side, which is
// the fail-safe direction for the servers behind it and which the Event tells the operator to clean up.
func decideRetirement(f Facts, out Outcome) Outcome {
	nal := f.Allowlist
	if !hasFinalizer(nal) {
		return Outcome{Forget: true}
	}
	seq, allocate, needed := retirement(recordedIn(&nal.Status))
	if !needed {
		return Outcome{Release: true}
	}
	skip := ""
	switch {
	case nal.Annotations[AnnotationSkipRetirement] == "true":
		skip = fmt.Sprintf("the annotation %s is \"true\"", AnnotationSkipRetirement)
	case nal.Spec.Suspend:
		skip = "spec.suspend is set"
	case nal.Spec.DryRun:
		skip = "spec.dryRun is set"
	}
	if skip != "" {
		return Outcome{Release: true, Events: []Event{event(corev1.EventTypeNormal, EventRetirementSkipped, actionRetire, fmt.Sprintf(
			"deleted without a retirement because %s: the Salt master keeps allowlist %s/%s as of sequence %d until it is removed there",
			skip, f.Cluster, nal.Name, nal.Status.PublishedSequence))}}
	}
	out.Send = &Send{
		Snapshot: protocol.Snapshot{Kind: protocol.KindRetirement, Cluster: f.Cluster, Allowlist: nal.Name, Sequence: seq, GeneratedAt: f.Now},
		Digest:   protocol.EmptyDigest, Allocate: allocate, Why: Deleted,
	}
	return out
}

// hasFinalizer reports whether the allowlist carries Finalizer.
func hasFinalizer(nal *nodeallowv1alpha1.NodeAllowlist) bool {
	return slices.Contains(nal.Finalizers, Finalizer)
}

// recordedIn reads the publishing state from a status.
func recordedIn(st *nodeallowv1alpha1.NodeAllowlistStatus) recorded {
	return recorded{sequence: st.Sequence, digest: st.Digest, publishedSequence: st.PublishedSequence,
		publishedAddresses: int(st.PublishedAddresses)}
}

// guardsOf returns the spec's bounds on what may be published, with the shrink acknowledgement annotation.
func guardsOf(nal *nodeallowv1alpha1.NodeAllowlist) guards {
	l := nal.Spec.Limits
	return guards{
		minAddresses: int(max(nal.Spec.MinAddresses, 1)),
		limits: protocol.Limits{
			MinPrefixIPv4: int(l.IPv4.MinPrefixLength), MaxSpanPrefixIPv4: int(l.IPv4.MaxSpanPrefixLength),
			MinPrefixIPv6: int(l.IPv6.MinPrefixLength), MaxSpanPrefixIPv6: int(l.IPv6.MaxSpanPrefixLength),
		},
		maxShrinkPercent:   int(nal.Spec.MaxShrinkPercent),
		shrinkAcknowledged: nal.Annotations[AllowShrinkAnnotation],
	}
}

// ResyncInterval is spec.resyncInterval, which the API server defaults and bounds, else DefaultResyncInterval.
func ResyncInterval(nal *nodeallowv1alpha1.NodeAllowlist) time.Duration {
	if d := nal.Spec.ResyncInterval.Duration; d > 0 {
		return d
	}
	return DefaultResyncInterval
}

// untilInterval returns how long after now the interval since since ends; 0 when it has ended or
// since is zero (never).
func untilInterval(since, now time.Time, interval time.Duration) time.Duration {
	if since.IsZero() {
		return 0
	}
	if left := since.Add(interval).Sub(now); left > 0 {
		return left
	}
	return 0
}
