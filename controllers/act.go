// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
	"github.com/nodeallow/nodeallow/controllers/plan"
	"github.com/nodeallow/nodeallow/controllers/publisher"
)

// act makes the Sends of the endpoints' Outcomes: it reads each salt-api endpoint (Secrets
// included), records the allocation once for all of them, and launches each publish in its own
// goroutine (launch), so that the reconcile records Publishing now, a later one PublishStalled if a
// salt-api hangs, and no endpoint waits for another. The checks the Outcomes ask for run the same
// way (ask). A Secret that cannot be read stops that
// endpoint's Send before anything is allocated or sent, and plan.Settle makes its Outcome at once. An
// error means the allocation could not be recorded and nothing was sent; the work queue retries
// with backoff.
func (r *NodeAllowlistReconciler) act(ctx context.Context, obj *nodeallowv1alpha1.NodeAllowlist, f plan.Facts, plans []plan.EndpointPlan) error {
	endpoints := make([]publisher.Endpoint, len(plans))
	allocate := false
	for i := range plans {
		p := &plans[i]
		if p.Out.Send == nil {
			continue
		}
		endpoint, err := r.endpointFor(ctx, p.Facts.Allowlist)
		if err != nil {
			p.Out = plan.Settle(p.Facts, p.Out, plan.Delivery{Failure: classify(err)})
			continue
		}
		endpoints[i] = endpoint
		allocate = allocate || p.Out.Send.Allocate
	}
	if allocate {
		// Recorded before sending, so that a process that dies mid-publish leaves a record that this
		// number may be out there: the next one re-sends it or moves past it, never reuses it for
		// other addresses. Every endpoint's send of this reconcile carries the same allocation.
		launched := slices.Clone(plans)
		for i := range launched {
			launched[i].Out = plan.Launched(launched[i].Out)
		}
		obj.Status = plan.Merge(f, launched).Status
		if err := r.Status().Update(ctx, obj); err != nil {
			return fmt.Errorf("recording sequence %d of NodeAllowlist %s before sending it: %w", obj.Status.Sequence, obj.Name, err)
		}
	}
	for i := range plans {
		p := &plans[i]
		if p.Out.Send == nil {
			continue
		}
		var replaces uint64
		if p.Out.Remember.Landed && p.Facts.Flight != nil {
			replaces = p.Facts.Flight.ID
		}
		r.launch(ctx, obj, endpoints[i], *p.Out.Send, replaces)
		p.Out = plan.Launched(p.Out)
	}
	for i := range plans {
		if p := &plans[i]; p.Out.Ask {
			r.ask(ctx, p.Facts.Allowlist)
		}
	}
	return nil
}

// launch publishes send to one endpoint in a goroutine, tracked as that endpoint's flight in r.memory, and triggers
// a reconcile through r.landed when it returns. ctx is the controller's (controller-runtime does not
// cancel it when Reconcile returns), so a manager that stops or loses its lease cancels the publish;
// the next leader re-sends the allocated sequence. The publish timeout bounds it otherwise. replaces
// is the landed flight this reconcile records, 0 when none.
func (r *NodeAllowlistReconciler) launch(ctx context.Context, obj *nodeallowv1alpha1.NodeAllowlist, endpoint publisher.Endpoint, send plan.Send, replaces uint64) {
	now := time.Now()
	name := obj.Name
	key := endpointKey{name, endpoint.URL}
	id, ok := r.memory.launch(key, plan.Flight{Send: send, URL: endpoint.URL, Generation: obj.Generation, Since: now, Deadline: now.Add(r.PublishTimeout)}, replaces)
	if !ok {
		// plan.Decide sends nothing while a send is in flight, and one allowlist is never reconciled twice at once.
		logf.FromContext(ctx).Error(errors.New("a send is already in flight"), "Not publishing", "url", endpoint.URL, "sequence", send.Snapshot.Sequence)
		return
	}
	go func() {
		// Failed attempts the publisher retries show in PublishStalled (a refused connection is not a hang).
		pctx := publisher.WithProgress(ctx, func(a publisher.Attempt) { r.memory.progress(key, id, a) })
		res, fail := r.publish(pctx, endpoint, &send)
		if !r.memory.land(key, id, plan.Delivery{Chunks: res.Chunks, Failure: fail}) {
			return
		}
		select {
		case r.landed <- event.TypedGenericEvent[*nodeallowv1alpha1.NodeAllowlist]{Object: &nodeallowv1alpha1.NodeAllowlist{ObjectMeta: metav1.ObjectMeta{Name: name}}}:
		case <-ctx.Done():
		}
	}()
}

// publish sends one snapshot and reports it: metrics and the one Info line per publish.
func (r *NodeAllowlistReconciler) publish(ctx context.Context, endpoint publisher.Endpoint, send *plan.Send) (publisher.Result, *plan.Failure) {
	pctx, cancel := context.WithTimeout(ctx, r.PublishTimeout)
	defer cancel()
	start := time.Now()
	snap := send.Snapshot
	res, err := r.Publisher.Publish(pctx, endpoint, snap)
	elapsed := time.Since(start)

	var fail *plan.Failure
	if err != nil {
		fail = classify(err)
	}
	result := publishResult(fail)
	publishesTotal.WithLabelValues(result).Inc()
	publishDuration.Observe(elapsed.Seconds())
	if fail == nil {
		lastSuccessTimestamp.WithLabelValues(snap.Allowlist).Set(float64(time.Now().Unix()))
	}

	// The reconcile's logger names the allowlist (SetupWithManager's LogConstructor).
	kv := []any{"kind", snap.Kind, "sequence", snap.Sequence, "digest", send.Digest,
		"count", len(snap.Addresses), "chunks", res.Chunks, "result", result, "duration", elapsed,
		"why", send.Why, "attempts", res.Attempts, "url", endpoint.URL}
	if err != nil {
		kv = append(kv, "error", err.Error())
	}
	logf.FromContext(ctx).Info("Publish", kv...)
	return res, fail
}

// classify maps an error of reading the Secrets or of a publish to the condition reason it is
// recorded under. It is the one place that looks at those error types.
func classify(err error) *plan.Failure {
	var secret *secretError
	var refused *publisher.PermanentError
	var invalid *publisher.InvalidEndpointError
	var login *publisher.LoginError
	switch {
	case errors.As(err, &secret):
		return &plan.Failure{Reason: secret.Reason, Err: err}
	case errors.As(err, &login):
		return &plan.Failure{Reason: plan.ReasonLoginFailed, Err: login, StatusCode: login.StatusCode, Answer: login.Message}
	case errors.As(err, &refused):
		return &plan.Failure{Reason: plan.ReasonRefused, Err: err, StatusCode: refused.StatusCode, Answer: refused.Message}
	case errors.As(err, &invalid):
		return &plan.Failure{Reason: plan.ReasonInvalidSpec, Err: err}
	default:
		return &plan.Failure{Reason: plan.ReasonPublishFailed, Err: err}
	}
}

// record carries out the rest of the endpoints' Outcomes: Events, this process's memory of each
// endpoint, then one status write of their plan.Merge, or the release of the finalizer.
func (r *NodeAllowlistReconciler) record(ctx context.Context, obj *nodeallowv1alpha1.NodeAllowlist, f plan.Facts, plans []plan.EndpointPlan) (ctrl.Result, error) {
	out := plan.Merge(f, plans)
	if obj != nil {
		for _, e := range out.Events {
			r.Recorder.Eventf(obj, nil, e.Type, e.Reason, e.Action, "%s", e.Note)
		}
		for _, p := range plans {
			key := endpointKey{f.Name, p.URL}
			r.memory.remember(key, f.Now, p.Out.Remember)
			if p.Out.Remember.Landed && p.Facts.Flight != nil {
				r.memory.drop(key, p.Facts.Flight.ID)
			}
		}
		// An endpoint removed from the spec is no longer published to.
		r.memory.retain(f.Name, plan.EndpointURLs(f.Allowlist))
		logHold(ctx, f, out)
	}
	err := out.Err
	switch {
	case out.Forget:
		r.forget(f.Name)
	case out.Release:
		err = errors.Join(err, r.release(ctx, obj))
	case obj != nil:
		recordStatusMetrics(f.Name, &out.Status)
		err = errors.Join(err, r.writeStatus(ctx, obj, out.Status))
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: out.Requeue}, nil
}

// logHold logs, once per reason, that the last published set is held.
func logHold(ctx context.Context, f plan.Facts, out plan.Outcome) {
	before, after := plan.ReadyReason(&f.Allowlist.Status), plan.ReadyReason(&out.Status)
	if !plan.IsHold(after) || before == after {
		return
	}
	nal := f.Allowlist
	logf.FromContext(ctx).Info("Holding the last published snapshot", "reason", after,
		"count", len(f.Selection.Desired.Addresses), "minAddresses", nal.Spec.MinAddresses, "sequence", nal.Status.PublishedSequence)
}

// writeStatus writes status when it differs from obj's.
func (r *NodeAllowlistReconciler) writeStatus(ctx context.Context, obj *nodeallowv1alpha1.NodeAllowlist, status nodeallowv1alpha1.NodeAllowlistStatus) error {
	if equality.Semantic.DeepEqual(obj.Status, status) {
		return nil
	}
	obj.Status = status
	if err := r.Status().Update(ctx, obj); err != nil {
		return fmt.Errorf("writing status of NodeAllowlist %s: %w", obj.Name, err)
	}
	return nil
}

// release removes the finalizer so the API server can finish the deletion.
func (r *NodeAllowlistReconciler) release(ctx context.Context, obj *nodeallowv1alpha1.NodeAllowlist) error {
	controllerutil.RemoveFinalizer(obj, plan.Finalizer)
	if err := r.Update(ctx, obj); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("removing finalizer %s from NodeAllowlist %s: %w", plan.Finalizer, obj.Name, err)
	}
	r.forget(obj.Name)
	return nil
}
