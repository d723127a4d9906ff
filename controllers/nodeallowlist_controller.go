// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/nodeallow/nodeallow/api/protocol"
	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
	"github.com/nodeallow/nodeallow/controllers/plan"
	"github.com/nodeallow/nodeallow/controllers/publisher"
	"github.com/nodeallow/nodeallow/controllers/source"
)

// Finalizer holds a NodeAllowlist until its retirement reached salt-api (see retirement.go).
const Finalizer = "nodeallow.io/retirement"

// ControllerName names the controller in logs and in controller-runtime metrics.
const ControllerName = "nodeallowlist"

// Defaults of the reconciler's tunables.
const (
	// DefaultMaxConcurrentReconciles is how many allowlists may publish at once.
	DefaultMaxConcurrentReconciles = 4
	// DefaultPublishTimeout bounds one publish, all chunks and the client's retries included.
	DefaultPublishTimeout = 2 * time.Minute
	// DefaultRetirementTimeout is how long a deleted allowlist waits for its retirement to be delivered.
	DefaultRetirementTimeout = 10 * time.Minute
)

// Bounds of the retry backoff after a failed reconcile.
const (
	retryBaseDelay = 100 * time.Millisecond
	retryMaxDelay  = 5 * time.Minute
)

// NodeAllowlistReconciler publishes the addresses of the Nodes each
// NodeAllowlist selects to its salt-api, debounced, in sequence order.
type NodeAllowlistReconciler struct {
	// Client reads NodeAllowlists and Nodes from the manager's cache and writes NodeAllowlists.
	client.Client
	// APIReader reads uncached: Secrets (see targetFor) and the NodeAllowlist right before a publish.
	APIReader client.Reader
	// Publisher delivers snapshots; one instance serves every allowlist, each with its own Target.
	Publisher publisher.Publisher
	// Recorder emits Events on NodeAllowlists; nil takes the manager's (events.k8s.io/v1).
	Recorder events.EventRecorder
	// ClusterName is this cluster's name in every payload and hook path, a DNS label.
	ClusterName string
	// Namespace is where the Secrets that NodeAllowlists name live.
	Namespace string
	// MaxConcurrentReconciles lets allowlists that publish to different, possibly slow, Salt masters proceed in parallel.
	MaxConcurrentReconciles int
	// PublishTimeout bounds one publish, all chunks and retries included.
	PublishTimeout time.Duration
	// RetirementTimeout bounds how long a deleted NodeAllowlist waits for its retirement to be delivered.
	RetirementTimeout time.Duration

	debounce *debouncer
	resync   *resyncClock
}

// +kubebuilder:rbac:groups=nodeallow.io,resources=nodeallowlists,verbs=get;list;watch;update
// +kubebuilder:rbac:groups=nodeallow.io,resources=nodeallowlists/status,verbs=update
// +kubebuilder:rbac:groups=nodeallow.io,resources=nodeallowlists/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",namespace=nodeallow-system,resources=secrets,verbs=get
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=nodeallow-system,resources=leases,verbs=get;create;update

// Reconcile brings one NodeAllowlist's salt-api up to date with the Nodes it
// selects: it waits out the debounce, computes the snapshot, allocates a
// sequence in status when the digest changed, publishes, and records the
// outcome in status, conditions, Events, metrics and one log line.
func (r *NodeAllowlistReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var cached nodeallowv1alpha1.NodeAllowlist
	if err := r.Get(ctx, req.NamespacedName, &cached); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.Name)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("reading NodeAllowlist %s from the cache: %w", req.Name, err)
	}
	now := time.Now()
	// Checked on the cached object so that a burst of Node events costs no API call.
	if cached.DeletionTimestamp.IsZero() {
		if wait := r.debounce.wait(cached.Name, now, cached.Spec.Debounce.Min.Duration, cached.Spec.Debounce.Max.Duration); wait > 0 {
			return ctrl.Result{RequeueAfter: wait}, nil
		}
	}

	// The cache may not have caught up with this controller's last status
	// write yet, and allocating a sequence from a stale status would reuse a
	// number; so the object that decides is read from the API server.
	var nal nodeallowv1alpha1.NodeAllowlist
	if err := r.APIReader.Get(ctx, req.NamespacedName, &nal); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.Name)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("reading NodeAllowlist %s: %w", req.Name, err)
	}
	if !nal.DeletionTimestamp.IsZero() {
		return r.retire(ctx, &nal, now)
	}
	if !controllerutil.ContainsFinalizer(&nal, Finalizer) {
		controllerutil.AddFinalizer(&nal, Finalizer)
		if err := r.Update(ctx, &nal); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer %s to NodeAllowlist %s: %w", Finalizer, nal.Name, err)
		}
	}
	if wait := r.debounce.takeIfDue(nal.Name, now, nal.Spec.Debounce.Min.Duration, nal.Spec.Debounce.Max.Duration); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	return r.sync(ctx, &nal, now)
}

// sync computes the snapshot of a live NodeAllowlist and acts on the plan.
func (r *NodeAllowlistReconciler) sync(ctx context.Context, nal *nodeallowv1alpha1.NodeAllowlist, now time.Time) (ctrl.Result, error) {
	log := logf.FromContext(ctx)
	original := nal.DeepCopy()
	// A spec change may point at another Salt master or key: forgetting the
	// last delivery makes a re-send due until one succeeds, even when the
	// addresses stay the same and the first attempt fails.
	if nal.Status.ObservedGeneration != nal.Generation {
		r.resync.forget(nal.Name)
	}
	nal.Status.ObservedGeneration = nal.Generation

	desired, nodes, err := r.snapshot(ctx, nal)
	if err != nil {
		var invalid *invalidSpecError
		if !errors.As(err, &invalid) {
			return ctrl.Result{}, err
		}
		r.holdWithWarning(nal, ReasonInvalidSpec, invalid.Error())
		// No retry: only a spec change can fix it, and that triggers a reconcile.
		return ctrl.Result{}, r.writeStatus(ctx, original, nal)
	}
	nal.Status.Nodes = statusCount(nodes)
	nal.Status.Addresses = statusCount(len(desired.Addresses))
	addressesGauge.WithLabelValues(nal.Name).Set(float64(len(desired.Addresses)))

	if nal.Spec.Suspend || nal.Spec.DryRun {
		reason, msg := ReasonSuspended, "spec.suspend is set: nothing is published until it is cleared"
		if !nal.Spec.Suspend {
			reason, msg = ReasonDryRun, fmt.Sprintf("spec.dryRun is set: would publish %d addresses from %d nodes (digest %s)",
				len(desired.Addresses), nodes, desired.Digest)
		}
		setCondition(nal, nodeallowv1alpha1.ConditionReady, false, reason, msg)
		setCondition(nal, nodeallowv1alpha1.ConditionPublished, false, reason, msg)
		return ctrl.Result{}, r.writeStatus(ctx, original, nal)
	}

	interval := resyncInterval(nal)
	resyncDue, resyncIn := r.resync.due(nal.Name, now, interval)
	rec := plan.Recorded{Sequence: nal.Status.Sequence, Digest: nal.Status.Digest, PublishedSequence: nal.Status.PublishedSequence,
		PublishedAddresses: int(nal.Status.PublishedAddresses)}
	dec, err := plan.Decide(rec, desired, guards(nal), resyncDue)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("planning NodeAllowlist %s: %w", nal.Name, err)
	}
	switch dec.Action {
	case plan.HoldBelowMinimum, plan.HoldTooMany, plan.HoldTooWide, plan.HoldShrink:
		reason := holdReasons[dec.Action]
		if readyReason(nal) != reason {
			log.Info("Holding the last published snapshot", "allowlist", nal.Name, "reason", reason, "count", len(desired.Addresses),
				"minAddresses", nal.Spec.MinAddresses, "sequence", nal.Status.PublishedSequence)
		}
		r.holdWithWarning(nal, reason, dec.Message)
		// No timer: the Node change that lifts the hold triggers a reconcile.
		return ctrl.Result{}, r.writeStatus(ctx, original, nal)
	case plan.Nothing:
		r.setPublished(nal, nodes)
		return ctrl.Result{RequeueAfter: resyncIn}, r.writeStatus(ctx, original, nal)
	}
	if !dec.Allocate {
		if recent, left := r.resync.refusedRecently(nal.Name, dec.Sequence, now, interval); recent {
			// Unchanged since salt-api refused it: wait for a change or the resync.
			return ctrl.Result{RequeueAfter: left}, r.writeStatus(ctx, original, nal)
		}
	}
	return r.publish(ctx, original, nal, dec, desired, nodes, now)
}

// publish allocates the decided sequence (when new), sends it, and records the outcome.
func (r *NodeAllowlistReconciler) publish(ctx context.Context, original, nal *nodeallowv1alpha1.NodeAllowlist,
	dec plan.Decision, desired plan.Desired, nodes int, now time.Time) (ctrl.Result, error) {
	target, err := r.targetFor(ctx, nal)
	if err != nil {
		return r.secretFailed(ctx, original, nal, err)
	}
	if dec.Allocate {
		nal.Status.Sequence = dec.Sequence
		nal.Status.Digest = desired.Digest
		// Recorded before sending, so that a process that dies mid-publish
		// leaves a record that this number may be out there: the next one
		// re-sends it or moves past it, never reuses it for other addresses.
		if err := r.Status().Update(ctx, nal); err != nil {
			return ctrl.Result{}, fmt.Errorf("recording sequence %d of NodeAllowlist %s before publishing it: %w", dec.Sequence, nal.Name, err)
		}
		original = nal.DeepCopy()
	}

	snap := protocol.Snapshot{Kind: protocol.KindSnapshot, Cluster: r.ClusterName, Allowlist: nal.Name,
		Sequence: dec.Sequence, GeneratedAt: now, Addresses: desired.Addresses}
	res, err := r.send(ctx, target, snap, desired.Digest, string(dec.Why))
	interval := resyncInterval(nal)
	if err != nil {
		return r.publishFailed(ctx, original, nal, dec.Sequence, err, interval)
	}

	nal.Status.PublishedSequence = dec.Sequence
	nal.Status.PublishedAddresses = statusCount(len(desired.Addresses))
	nal.Status.LastPublishedTime = &metav1.Time{Time: now}
	nal.Status.LastError = ""
	r.setPublished(nal, nodes)
	r.resync.delivered(nal.Name, now)
	lastSuccessTimestamp.WithLabelValues(nal.Name).Set(float64(now.Unix()))
	if dec.Why != plan.Resync {
		r.event(nal, corev1.EventTypeNormal, ReasonPublished, actionPublish, fmt.Sprintf(
			"salt-api at %s acknowledged sequence %d: %d addresses from %d nodes in %d chunk(s), digest %s",
			target.URL, dec.Sequence, len(desired.Addresses), nodes, res.Chunks, desired.Digest))
	}
	return ctrl.Result{RequeueAfter: interval}, r.writeStatus(ctx, original, nal)
}

// send publishes one snapshot and reports it: metrics and the one Info line per publish.
func (r *NodeAllowlistReconciler) send(ctx context.Context, target publisher.Target, snap protocol.Snapshot, digest, why string) (publisher.Result, error) {
	pctx, cancel := context.WithTimeout(ctx, r.PublishTimeout)
	defer cancel()
	start := time.Now()
	res, err := r.Publisher.Publish(pctx, target, snap)
	elapsed := time.Since(start)

	result := resultSuccess
	var invalid *publisher.InvalidTargetError
	if err != nil {
		result = resultFailure
		if _, refused := asPermanent(err); refused {
			result = resultRefused
		} else if errors.As(err, &invalid) {
			result = resultInvalid
		}
	}
	publishesTotal.WithLabelValues(result).Inc()
	publishDuration.Observe(elapsed.Seconds())

	kv := []any{"allowlist", snap.Allowlist, "kind", snap.Kind, "sequence", snap.Sequence, "digest", digest,
		"count", len(snap.Addresses), "chunks", res.Chunks, "result", result, "duration", elapsed,
		"why", why, "attempts", res.Attempts, "url", target.URL}
	if err != nil {
		kv = append(kv, "error", err.Error())
	}
	logf.FromContext(ctx).Info("Publish", kv...)
	return res, err
}

// asPermanent finds a salt-api refusal in err.
func asPermanent(err error) (*publisher.PermanentError, bool) {
	var perm *publisher.PermanentError
	if errors.As(err, &perm) {
		return perm, true
	}
	return nil, false
}

// publishFailed records a failed publish. A refusal is not retried with
// backoff (the same body would be refused again) but at the next change or
// resync; anything else is returned for the work queue's backoff.
func (r *NodeAllowlistReconciler) publishFailed(ctx context.Context, original, nal *nodeallowv1alpha1.NodeAllowlist,
	seq int64, err error, interval time.Duration) (ctrl.Result, error) {
	url := nal.Spec.Salt.URL
	if perm, refused := asPermanent(err); refused {
		msg := fmt.Sprintf("salt-api at %s refused sequence %d with HTTP %d: %q; fix the cause, it is retried at the next node change or in %s",
			url, seq, perm.StatusCode, perm.Message, interval)
		r.fail(nal, ReasonRefused, msg)
		r.resync.refused(nal.Name, seq, time.Now())
		return ctrl.Result{RequeueAfter: interval}, r.writeStatus(ctx, original, nal)
	}
	var invalid *publisher.InvalidTargetError
	if errors.As(err, &invalid) {
		msg := fmt.Sprintf("sequence %d cannot be published as configured: %v; fix the NodeAllowlist or its Secrets", seq, err)
		r.fail(nal, ReasonInvalidSpec, msg)
		r.resync.refused(nal.Name, seq, time.Now())
		// No backoff: the same input fails the same way; a spec change triggers a reconcile, a Secret fix the resync.
		return ctrl.Result{RequeueAfter: interval}, r.writeStatus(ctx, original, nal)
	}
	msg := fmt.Sprintf("publishing sequence %d to salt-api at %s failed: %v; retrying with backoff", seq, url, err)
	r.fail(nal, ReasonPublishFailed, msg)
	if werr := r.writeStatus(ctx, original, nal); werr != nil {
		return ctrl.Result{}, errors.Join(err, werr)
	}
	return ctrl.Result{}, fmt.Errorf("publishing NodeAllowlist %s sequence %d: %w", nal.Name, seq, err)
}

// secretFailed records that a Secret or key is missing and returns the error
// for the work queue's backoff; creating the Secret needs no other action.
func (r *NodeAllowlistReconciler) secretFailed(ctx context.Context, original, nal *nodeallowv1alpha1.NodeAllowlist, err error) (ctrl.Result, error) {
	reason := ReasonSecretUnreadable
	var se *secretError
	if errors.As(err, &se) {
		reason = se.Reason
	}
	r.failOnce(nal, reason, actionReadSecret, err.Error())
	if werr := r.writeStatus(ctx, original, nal); werr != nil {
		return ctrl.Result{}, errors.Join(err, werr)
	}
	return ctrl.Result{}, fmt.Errorf("NodeAllowlist %s: %w", nal.Name, err)
}

// fail sets both conditions and lastError to a failure and emits a Warning Event.
func (r *NodeAllowlistReconciler) fail(nal *nodeallowv1alpha1.NodeAllowlist, reason, msg string) {
	setCondition(nal, nodeallowv1alpha1.ConditionReady, false, reason, msg)
	setCondition(nal, nodeallowv1alpha1.ConditionPublished, false, reason, msg)
	nal.Status.LastError = truncate(msg, maxLastError)
	r.event(nal, corev1.EventTypeWarning, reason, actionPublish, msg)
}

// failOnce is fail for errors retried quickly (the work queue starts at
// milliseconds): the Warning Event is emitted only when the message changes.
func (r *NodeAllowlistReconciler) failOnce(nal *nodeallowv1alpha1.NodeAllowlist, reason, action, msg string) {
	if nal.Status.LastError != truncate(msg, maxLastError) || readyReason(nal) != reason {
		r.event(nal, corev1.EventTypeWarning, reason, action, msg)
	}
	setCondition(nal, nodeallowv1alpha1.ConditionReady, false, reason, msg)
	setCondition(nal, nodeallowv1alpha1.ConditionPublished, false, reason, msg)
	nal.Status.LastError = truncate(msg, maxLastError)
}

// holdWithWarning marks the allowlist not ready without publishing; the
// Warning Event is emitted when the reason or message changes.
func (r *NodeAllowlistReconciler) holdWithWarning(nal *nodeallowv1alpha1.NodeAllowlist, reason, msg string) {
	if nal.Status.LastError != truncate(msg, maxLastError) || readyReason(nal) != reason {
		r.event(nal, corev1.EventTypeWarning, reason, actionCompute, msg)
	}
	setCondition(nal, nodeallowv1alpha1.ConditionReady, false, reason, msg)
	nal.Status.LastError = truncate(msg, maxLastError)
}

// setPublished marks the acknowledged snapshot as current.
func (r *NodeAllowlistReconciler) setPublished(nal *nodeallowv1alpha1.NodeAllowlist, nodes int) {
	st := &nal.Status
	setCondition(nal, nodeallowv1alpha1.ConditionPublished, true, ReasonPublished,
		fmt.Sprintf("salt-api acknowledged sequence %d (digest %s)", st.PublishedSequence, st.Digest))
	setCondition(nal, nodeallowv1alpha1.ConditionReady, true, ReasonPublished,
		fmt.Sprintf("the published sequence %d holds the %d addresses of the %d selected nodes", st.PublishedSequence, st.Addresses, nodes))
	st.LastError = ""
}

// event emits an Event on the allowlist; note is not a format string.
func (r *NodeAllowlistReconciler) event(nal *nodeallowv1alpha1.NodeAllowlist, eventType, reason, action, note string) {
	r.Recorder.Eventf(nal, nil, eventType, reason, action, "%s", truncate(note, maxEventNote))
}

// writeStatus writes nal's status when it differs from original's.
func (r *NodeAllowlistReconciler) writeStatus(ctx context.Context, original, nal *nodeallowv1alpha1.NodeAllowlist) error {
	if equality.Semantic.DeepEqual(original.Status, nal.Status) {
		return nil
	}
	if err := r.Status().Update(ctx, nal); err != nil {
		return fmt.Errorf("writing status of NodeAllowlist %s: %w", nal.Name, err)
	}
	return nil
}

// invalidSpecError is a spec the controller cannot use; only editing it helps.
type invalidSpecError struct{ msg string }

func (e *invalidSpecError) Error() string { return e.msg }

// snapshot lists the selected Nodes and computes the canonical snapshot.
func (r *NodeAllowlistReconciler) snapshot(ctx context.Context, nal *nodeallowv1alpha1.NodeAllowlist) (plan.Desired, int, error) {
	// The API server validates the name; it is checked again because it goes into the hook URL path.
	if !protocol.IsDNSLabel(nal.Name) {
		return plan.Desired{}, 0, &invalidSpecError{fmt.Sprintf("the name %q is not a DNS label; recreate the NodeAllowlist under a valid name", nal.Name)}
	}
	sel, err := source.Selector(&nal.Spec)
	if err != nil {
		return plan.Desired{}, 0, &invalidSpecError{err.Error()}
	}
	// From the informer cache. The controller starts its workers only after
	// the Node and NodeAllowlist informers synced, so no snapshot is ever made
	// from a partial Node list. The list is read-only, so it is not copied.
	var nodes corev1.NodeList
	if err := r.List(ctx, &nodes, client.MatchingLabelsSelector{Selector: sel}, client.UnsafeDisableDeepCopy); err != nil {
		return plan.Desired{}, 0, fmt.Errorf("listing Nodes for NodeAllowlist %s from the cache: %w", nal.Name, err)
	}
	res, err := source.Collect(&nal.Spec, nodes.Items)
	if err != nil {
		return plan.Desired{}, 0, &invalidSpecError{err.Error()}
	}
	if n := len(res.Ignored); n > 0 {
		first := res.Ignored[0]
		logf.FromContext(ctx).V(1).Info("Ignoring node addresses that are not valid IP addresses", "allowlist", nal.Name,
			"ignored", n, "node", first.Node, "address", first.Address, "reason", first.Reason)
	}
	return plan.Compute(res.Addresses), res.Nodes, nil
}

// holdReasons are the condition reasons of the plan's holds.
var holdReasons = map[plan.Action]string{
	plan.HoldBelowMinimum: ReasonBelowMinimum,
	plan.HoldTooMany:      ReasonTooManyAddresses,
	plan.HoldTooWide:      ReasonTooWide,
	plan.HoldShrink:       ReasonShrinkHeld,
}

// guards are the spec's bounds on what may be published, with the shrink acknowledgement annotation.
func guards(nal *nodeallowv1alpha1.NodeAllowlist) plan.Guards {
	l := nal.Spec.Limits
	return plan.Guards{
		MinAddresses: int(max(nal.Spec.MinAddresses, 1)),
		Limits: protocol.Limits{
			MinPrefixIPv4: int(l.IPv4.MinPrefixLength), MaxSpanPrefixIPv4: int(l.IPv4.MaxSpanPrefixLength),
			MinPrefixIPv6: int(l.IPv6.MinPrefixLength), MaxSpanPrefixIPv6: int(l.IPv6.MaxSpanPrefixLength),
		},
		MaxShrinkPercent:   int(nal.Spec.MaxShrinkPercent),
		ShrinkAcknowledged: nal.Annotations[plan.AllowShrinkAnnotation],
	}
}

// resyncInterval is spec.resyncInterval, which the API server defaults and
// bounds; the fallback only guards objects that bypassed defaulting.
func resyncInterval(nal *nodeallowv1alpha1.NodeAllowlist) time.Duration {
	if d := nal.Spec.ResyncInterval.Duration; d > 0 {
		return d
	}
	return 10 * time.Minute
}

// forget drops what this process remembers about a deleted allowlist.
func (r *NodeAllowlistReconciler) forget(name string) {
	r.debounce.forget(name)
	r.resync.forget(name)
	forgetAllowlistMetrics(name)
}

// deletionStarted passes the update that sets deletionTimestamp, which a
// generation predicate would otherwise be trusted to pass.
var deletionStarted = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetDeletionTimestamp() == nil && e.ObjectNew.GetDeletionTimestamp() != nil
	},
}

// SetupWithManager validates the reconciler's settings and registers it with
// the manager: NodeAllowlists trigger it on spec, annotation and deletion
// changes (not on its own status writes), Nodes through nodeEventHandler.
func (r *NodeAllowlistReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if !protocol.IsDNSLabel(r.ClusterName) {
		return fmt.Errorf("cluster name %q is not a DNS label (1-63 of a-z, 0-9 and '-')", r.ClusterName)
	}
	if r.Namespace == "" {
		return errors.New("the controller namespace (where Secrets are read) is empty")
	}
	if r.Publisher == nil {
		return errors.New("no publisher configured")
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder("nodeallow-controller")
	}
	if r.MaxConcurrentReconciles <= 0 {
		r.MaxConcurrentReconciles = DefaultMaxConcurrentReconciles
	}
	if r.PublishTimeout <= 0 {
		r.PublishTimeout = DefaultPublishTimeout
	}
	if r.RetirementTimeout <= 0 {
		r.RetirementTimeout = DefaultRetirementTimeout
	}
	r.debounce = newDebouncer()
	r.resync = newResyncClock()

	nodes := &nodeEventHandler{reader: mgr.GetClient(), debounce: r.debounce, now: time.Now}
	return ctrl.NewControllerManagedBy(mgr).
		For(&nodeallowv1alpha1.NodeAllowlist{}, builder.WithPredicates(predicate.Or[client.Object](
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, deletionStarted))).
		Watches(&corev1.Node{}, nodes, builder.WithPredicates(nodeChangePredicate())).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: r.MaxConcurrentReconciles,
			// Failures (a missing Secret, an unreachable salt-api) back off
			// exponentially, capped well below the default 1000 s so that a fix
			// is picked up within minutes without any other trigger.
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](retryBaseDelay, retryMaxDelay),
		}).
		Named(ControllerName).
		Complete(r)
}
