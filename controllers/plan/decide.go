// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package plan

import (
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodeallow/nodeallow/api/protocol"
	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
)

// Finalizer holds a NodeAllowlist until its retirement reached salt-api.
const Finalizer = "nodeallow.io/retirement"

// AnnotationSkipRetirement set to "true" on a NodeAllowlist lets its deletion
// finish at once without a retirement (Salt keeps the last published set).
const AnnotationSkipRetirement = "nodeallow.io/skip-retirement"

// StallAfter is how long a sent sequence may go unanswered before its allowlist says PublishStalled
// instead of Publishing. salt-api acknowledges a hook within milliseconds; an answer this late means
// it hangs, and `kubectl get nal` must say so long before the publish times out.
const StallAfter = 5 * time.Second

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
	// Flight is the send this process has in flight for the allowlist, or whose result it has not
	// recorded yet; nil when none. It is gathered also while DebounceWait is positive.
	Flight *Flight
	// Check is the Salt master's answer to a check an earlier Outcome asked (Ask) that has not been
	// recorded, gathered only while no send of this process is in flight or landed unrecorded; nil
	// when none. Checking is true while such a check has not been answered yet.
	Check    *Check
	Checking bool
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
	// Checked is when the delivery was last checked since the last delivery, zero when not;
	// CheckStreak counts the checks in a row that did not find every subscriber with the
	// acknowledged sequence (the next check waits longer after each).
	Checked     time.Time
	CheckStreak int
	// Failures counts the publishes in a row that failed and are retried (reason PublishFailed) since
	// the last delivery; with several endpoints it paces that endpoint's retries (Merge).
	Failures int
}

// Flight is one Send that left this process: its goroutine publishes while reconciles go on, so the
// status can say Publishing, then PublishStalled, while salt-api has not answered.
type Flight struct {
	// ID identifies the flight in the controller's memory, so that a landed one is dropped, or
	// replaced by the next send, only by the reconcile that recorded it.
	ID uint64
	// Send is what was sent.
	Send Send
	// URL is the salt-api base URL it was sent to.
	URL string
	// Generation is the allowlist's generation when it was sent; a delivery under an older one does
	// not count as delivered to the current spec's salt-api.
	Generation int64
	// Since is when it was sent; Deadline is when the publish gives up (its timeout).
	Since, Deadline time.Time
	// FailedAttempts counts the send's failed attempts so far (the publisher retries them);
	// LastFailure is the last one's error, empty while salt-api only has not answered.
	FailedAttempts int
	LastFailure    string
	// Done is true once the send returned; Delivery is then what became of it.
	Done     bool
	Delivery Delivery
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
	// Ask asks the Salt master about the acknowledged sequence (a store or delivery check) beside the
	// reconcile, as a Send runs; its answer triggers the reconcile that records it (Facts.Check).
	Ask bool
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
	// Nodes counts the selected Nodes the snapshot's addresses came from (0 for a retirement).
	Nodes int
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
	// Landed drops the finished Flight whose result this Outcome records.
	Landed bool
	// Checked records a delivery check at Facts.Now; CheckSettled says it found every subscriber with
	// the acknowledged sequence (else the streak grows).
	Checked, CheckSettled bool
	// Failed records a failed publish that is retried (Outcome.Err says why); Memory.Failures grows.
	Failed bool
}

// Decide returns what to do with one allowlist. For a live allowlist it waits out the debounce, holds
// an unusable or unsafe selection with the reason, does nothing when salt-api already has the
// selection, and otherwise sends the sequence plan picks (re-sends are held back for the resync
// interval after a refusal). For a deleted one it retires, or releases the finalizer without a
// retirement when none is needed or wanted. While a send is in flight it only says so (Publishing,
// then PublishStalled); once it landed, it records the result and decides on from there.
func Decide(f Facts) Outcome {
	if f.Gone {
		return Outcome{Forget: true}
	}
	nal := f.Allowlist
	if nal == nil {
		return Outcome{Requeue: f.DebounceWait}
	}
	out := Outcome{Status: *nal.Status.DeepCopy()}
	if c := f.Check; c != nil && (f.Flight != nil || c.Sequence != nal.Status.PublishedSequence) {
		// Asked before an acknowledgement recorded since (or landing now): it is asked again.
		f.Check = nil
	}
	if fl := f.Flight; fl != nil && !fl.Done {
		// One send in flight per allowlist: wait for it, saying how long it has been.
		return inFlight(f, out)
	}
	if !nal.DeletionTimestamp.IsZero() {
		return decideRetirement(f, out)
	}
	if f.DebounceWait > 0 {
		if f.Flight != nil {
			out = landWhileSettling(f, out)
		}
		if out.Err == nil {
			// A sequence acknowledged now is Storing until checked, whatever Stored said of the last one.
			verifyStore(&out, f)
			out.Requeue = f.DebounceWait
		}
		return out
	}

	out = decideLive(f, out)
	if out.Err == nil {
		out.Ask = askNow(f, out)
		verifyStore(&out, f)
		confirmDelivery(&out, f)
		keepTransitionTime(&out.Status, &nal.Status, nodeallowv1alpha1.ConditionReady)
	}
	return out
}

// decideLive is Decide for a live allowlist whose Node changes settled and that has no send in the
// air: it records a landed send, holds an unusable or unsafe selection, or sends what plan picks.
func decideLive(f Facts, out Outcome) Outcome {
	nal := f.Allowlist
	st := &out.Status
	mem := f.Memory
	if st.ObservedGeneration != nal.Generation {
		// A spec change may point at another Salt master or key.
		out.Remember.Reset = true
		mem = Memory{}
	}
	st.ObservedGeneration = nal.Generation
	if f.Flight != nil {
		// Record what became of the finished send, then decide on from there: the selection may
		// have moved on while it was in flight, and the Node events of that time were waited out.
		var stop bool
		if out, mem, stop = land(f, out, mem); stop {
			return out
		}
		st = &out.Status
	}
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
	lost := lostAtMaster(f)
	s, err := next(recordedIn(st), sel.Desired, guardsOf(nal), resyncIn == 0 || lost)
	if err != nil {
		// Nothing of this decision is recorded but what a landed send said.
		status := *nal.Status.DeepCopy()
		if f.Flight != nil {
			status = out.Status
		}
		return Outcome{Status: status, Events: out.Events, Remember: out.Remember,
			Err: fmt.Errorf("planning NodeAllowlist %s: %w", nal.Name, err)}
	}
	switch {
	case s.hold != "":
		// No timer: the Node change that lifts the hold triggers a reconcile. An allowlist that never
		// published and waits for its first Nodes is not a warning: nothing shrank, nothing is at risk.
		waiting := s.hold == ReasonBelowMinimum && st.PublishedSequence == 0
		setProblem(&out, f, problem{reason: s.hold, action: actionCompute, msg: s.message, held: true, quiet: waiting})
	case !s.send:
		setPublished(st, nal.Generation, f.Now)
		out.Requeue = resyncIn
	case !s.allocate && mem.Refused == s.sequence && untilInterval(mem.RefusedAt, f.Now, interval) > 0:
		// Unchanged since salt-api refused it, so it would only be refused again: wait for a change
		// or the resync.
		out.Requeue = untilInterval(mem.RefusedAt, f.Now, interval)
	default:
		if lost && s.why == Resync {
			s.why = Lost
		}
		send(&out, f, Send{
			Snapshot: protocol.Snapshot{Kind: protocol.KindSnapshot, Cluster: f.Cluster, Allowlist: nal.Name,
				Sequence: s.sequence, GeneratedAt: f.Now, Addresses: sel.Desired.Addresses},
			Digest: sel.Desired.Digest, Nodes: sel.Nodes, Allocate: s.allocate, Why: s.why,
		})
	}
	return out
}

// send makes s the Outcome's Send. Its sequence is not acknowledged yet, so Published and Ready say
// Publishing from the allocation's status write on, and the reconcile after StallAfter says
// PublishStalled if salt-api has not answered by then. A resync re-sends what salt-api already
// acknowledged, so its conditions stay unless it stalls.
func send(out *Outcome, f Facts, s Send) {
	out.Send = &s
	out.Requeue = StallAfter
	if s.Why != Resync && s.Why != Lost {
		setPublishing(&out.Status, f.Allowlist.Generation, f.Now, fmt.Sprintf("%s sent to salt-api at %s at %s, waiting for its answer; %s",
			sentWhat(s), f.Allowlist.Spec.Salt.URL, f.Now.UTC().Format(time.RFC3339), holds(&out.Status)))
	}
}

// inFlight is Decide while this process's send to salt-api has not returned: Publishing until
// StallAfter, PublishStalled after. The send's return triggers the next reconcile; the requeue after
// its deadline is only a safety net.
func inFlight(f Facts, out Outcome) Outcome {
	fl := f.Flight
	age := f.Now.Sub(fl.Since)
	if age < StallAfter {
		out.Requeue = StallAfter - age
		return out
	}
	why := fmt.Sprintf("salt-api at %s has not answered %s sent at %s: no answer after %s (connections are accepted, nothing comes back)",
		fl.URL, sentWhat(fl.Send), fl.Since.UTC().Format(time.RFC3339), age.Round(time.Second))
	if fl.LastFailure != "" {
		why = fmt.Sprintf("salt-api at %s has not taken %s sent at %s: %d attempts failed in %s, the last with %s",
			fl.URL, sentWhat(fl.Send), fl.Since.UTC().Format(time.RFC3339), fl.FailedAttempts, age.Round(time.Second), fl.LastFailure)
	}
	setStalled(&out, f, fmt.Sprintf("%s; %s; the publish gives up at %s and is then retried",
		why, holds(&out.Status), fl.Deadline.UTC().Format(time.RFC3339)))
	out.Requeue = max(fl.Deadline.Sub(f.Now), 0) + StallAfter
	return out
}

// sentWhat names a Send with its counts, as the status beside the condition shows them.
func sentWhat(s Send) string {
	if s.Snapshot.Kind == protocol.KindRetirement {
		return fmt.Sprintf("retirement sequence %d", s.Snapshot.Sequence)
	}
	return fmt.Sprintf("sequence %d (%d addresses from %d nodes)", s.Snapshot.Sequence, len(s.Snapshot.Addresses), s.Nodes)
}

// holds says what salt-api has acknowledged last, from the status's published fields.
func holds(st *nodeallowv1alpha1.NodeAllowlistStatus) string {
	if st.PublishedSequence == 0 {
		return "salt-api has acknowledged no sequence of this allowlist yet"
	}
	return fmt.Sprintf("salt-api holds sequence %d (%d addresses)", st.PublishedSequence, st.PublishedAddresses)
}

// land records what became of the finished Flight (Settle) and returns the memory the rest of the
// decision sees. stop is true when the rest must not run: a failure the work queue retries with
// backoff, which a new send right away would bypass.
func land(f Facts, out Outcome, mem Memory) (Outcome, Memory, bool) {
	fl := f.Flight
	sent := fl.Send
	out.Send = &sent
	out = Settle(f, out, fl.Delivery)
	out.Remember.Landed = true
	if out.Err != nil {
		return out, mem, true
	}
	seq := sent.Snapshot.Sequence
	switch {
	case fl.Delivery.Failure != nil:
		mem.Refused, mem.RefusedAt = seq, f.Now
	case fl.Generation == f.Allowlist.Generation:
		mem = Memory{Delivered: f.Now}
	default:
		// Delivered to the salt-api of an older spec: the current one still needs it.
		out.Remember.Delivered = false
	}
	out.Requeue = 0
	return out, mem, false
}

// landWhileSettling records the finished Flight while Node changes are still settling: the
// selection is not listed now, so Ready speaks only of the acknowledged sequence.
func landWhileSettling(f Facts, out Outcome) Outcome {
	out, _, _ = land(f, out, f.Memory)
	st := &out.Status
	if f.Flight.Delivery.Failure == nil && f.Flight.Send.Snapshot.Kind == protocol.KindSnapshot {
		setCondition(st, f.Allowlist.Generation, f.Now, nodeallowv1alpha1.ConditionReady, metav1.ConditionUnknown, ReasonPublishing,
			fmt.Sprintf("salt-api acknowledged sequence %d (%d addresses); node changes are settling, the next snapshot follows in %s",
				st.PublishedSequence, st.PublishedAddresses, f.DebounceWait.Round(time.Millisecond)))
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
		return Outcome{Forget: true, Remember: Remember{Landed: f.Flight != nil}}
	}
	if fl := f.Flight; fl != nil {
		sent := fl.Send
		out.Send = &sent
		settled := Settle(f, out, fl.Delivery)
		settled.Remember.Landed = true
		if sent.Snapshot.Kind == protocol.KindRetirement {
			return settled
		}
		// A snapshot that was in flight when the deletion started: its result is recorded (its
		// sequence was allocated either way), then the retirement takes the next one.
		out = Outcome{Status: settled.Status, Events: settled.Events, Remember: Remember{Landed: true}}
	}
	seq, allocate, needed := retirement(recordedIn(&out.Status))
	if !needed || (!allocate && f.Memory.Refused == seq) {
		// A refused retirement was abandoned at this salt-api (Settle): with several endpoints the
		// deletion waits for the others without sending it again.
		return Outcome{Release: true, Status: out.Status, Remember: out.Remember}
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
		return Outcome{Release: true, Status: out.Status, Remember: out.Remember, Events: append(out.Events, event(corev1.EventTypeNormal, EventRetirementSkipped, actionRetire, fmt.Sprintf(
			"deleted without a retirement because %s: the Salt master keeps allowlist %s/%s as of sequence %d until it is removed there",
			skip, f.Cluster, nal.Name, out.Status.PublishedSequence)))}
	}
	send(&out, f, Send{
		Snapshot: protocol.Snapshot{Kind: protocol.KindRetirement, Cluster: f.Cluster, Allowlist: nal.Name, Sequence: seq, GeneratedAt: f.Now},
		Digest:   protocol.EmptyDigest, Allocate: allocate, Why: Deleted,
	})
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
