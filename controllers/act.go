// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
	"github.com/nodeallow/nodeallow/controllers/plan"
	"github.com/nodeallow/nodeallow/controllers/publisher"
)

// act makes the Send of an Outcome, its allocation first, and returns the Outcome plan.Settle makes
// of the Send's Delivery. An error means the allocation could not be recorded and nothing was sent
// or is recorded; the work queue retries with backoff.
func (r *NodeAllowlistReconciler) act(ctx context.Context, obj *nodeallowv1alpha1.NodeAllowlist, f plan.Facts, out plan.Outcome) (plan.Outcome, error) {
	if out.Send == nil {
		return out, nil
	}
	d, err := r.deliver(ctx, obj, out)
	if err != nil {
		return out, err
	}
	return plan.Settle(f, out, d), nil
}

// deliver reads the salt-api endpoint (Secrets included), records the Send's allocation, and sends.
func (r *NodeAllowlistReconciler) deliver(ctx context.Context, obj *nodeallowv1alpha1.NodeAllowlist, out plan.Outcome) (plan.Delivery, error) {
	send := out.Send
	endpoint, err := r.endpointFor(ctx, obj)
	if err != nil {
		return plan.Delivery{Failure: classify(err)}, nil
	}
	var d plan.Delivery
	if send.Allocate {
		obj.Status = *out.Status.DeepCopy()
		obj.Status.Sequence = send.Snapshot.Sequence
		obj.Status.Digest = send.Digest
		// Recorded before sending, so that a process that dies mid-publish
		// leaves a record that this number may be out there: the next one
		// re-sends it or moves past it, never reuses it for other addresses.
		if err := r.Status().Update(ctx, obj); err != nil {
			return d, fmt.Errorf("recording %s sequence %d of NodeAllowlist %s before sending it: %w",
				send.Snapshot.Kind, send.Snapshot.Sequence, obj.Name, err)
		}
		d.Allocated = true
	}
	res, fail := r.publish(ctx, endpoint, send)
	d.Chunks, d.Failure = res.Chunks, fail
	return d, nil
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

	kv := []any{"allowlist", snap.Allowlist, "kind", snap.Kind, "sequence", snap.Sequence, "digest", send.Digest,
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
	switch {
	case errors.As(err, &secret):
		return &plan.Failure{Reason: secret.Reason, Err: err}
	case errors.As(err, &refused):
		return &plan.Failure{Reason: plan.ReasonRefused, Err: err, StatusCode: refused.StatusCode, Answer: refused.Message}
	case errors.As(err, &invalid):
		return &plan.Failure{Reason: plan.ReasonInvalidSpec, Err: err}
	default:
		return &plan.Failure{Reason: plan.ReasonPublishFailed, Err: err}
	}
}

// record carries out the rest of an Outcome: Events, this process's memory, then one status write,
// or the release of the finalizer.
func (r *NodeAllowlistReconciler) record(ctx context.Context, obj *nodeallowv1alpha1.NodeAllowlist, f plan.Facts, out plan.Outcome) (ctrl.Result, error) {
	if obj != nil {
		for _, e := range out.Events {
			r.Recorder.Eventf(obj, nil, e.Type, e.Reason, e.Action, "%s", e.Note)
		}
		r.memory.remember(f.Name, f.Now, out.Remember)
		logHold(ctx, f, out)
	}
	err := out.Err
	switch {
	case out.Forget:
		r.forget(f.Name)
	case out.Release:
		err = errors.Join(err, r.release(ctx, obj))
	case obj != nil:
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
	logf.FromContext(ctx).Info("Holding the last published snapshot", "allowlist", nal.Name, "reason", after,
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
