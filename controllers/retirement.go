// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/nodeallow/nodeallow/api/protocol"
	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
	"github.com/nodeallow/nodeallow/controllers/plan"
)

// AnnotationSkipRetirement set to "true" on a NodeAllowlist lets its deletion
// finish at once without a retirement (Salt keeps the last published set).
const AnnotationSkipRetirement = "nodeallow.io/skip-retirement"

// retire handles a NodeAllowlist being deleted: it publishes a retirement
// (the next sequence, no addresses), so Salt removes the allowlist's rules,
// and then removes the finalizer.
//
// Deletion is never blocked for good. The finalizer goes without a
// retirement when nothing was ever allocated, when spec.suspend or
// spec.dryRun is set, when the annotation nodeallow.io/skip-retirement is
// "true", and when salt-api refuses the retirement (a refusal does not change
// on retry). A missing Secret or an unreachable salt-api is retried with
// backoff until RetirementTimeout after the deletion started (plus at most one
// backoff step), then abandoned with a Warning Event. Abandoning leaves the
// last published set allowed on the Salt side, which is the fail-safe
// direction for the servers behind it and which the Event tells the operator
// to clean up.
func (r *NodeAllowlistReconciler) retire(ctx context.Context, nal *nodeallowv1alpha1.NodeAllowlist, now time.Time) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(nal, Finalizer) {
		r.forget(nal.Name)
		return ctrl.Result{}, nil
	}
	rec := plan.Recorded{Sequence: nal.Status.Sequence, Digest: nal.Status.Digest, PublishedSequence: nal.Status.PublishedSequence}
	seq, allocate, needed := plan.Retirement(rec)
	if !needed {
		return r.release(ctx, nal)
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
		r.event(nal, corev1.EventTypeNormal, EventRetirementSkipped, actionRetire, fmt.Sprintf(
			"deleted without a retirement because %s: the Salt master keeps allowlist %s/%s as of sequence %d until it is removed there",
			skip, r.ClusterName, nal.Name, nal.Status.PublishedSequence))
		return r.release(ctx, nal)
	}

	original := nal.DeepCopy()
	target, err := r.targetFor(ctx, nal)
	if err != nil {
		return r.retirementFailed(ctx, original, nal, err, now)
	}
	if allocate {
		nal.Status.Sequence = seq
		nal.Status.Digest = protocol.EmptyDigest
		// Recorded before sending for the same reason as a snapshot's sequence.
		if err := r.Status().Update(ctx, nal); err != nil {
			return ctrl.Result{}, fmt.Errorf("recording retirement sequence %d of NodeAllowlist %s: %w", seq, nal.Name, err)
		}
		original = nal.DeepCopy()
	}
	snap := protocol.Snapshot{Kind: protocol.KindRetirement, Cluster: r.ClusterName, Allowlist: nal.Name, Sequence: seq, GeneratedAt: now}
	if _, err := r.send(ctx, target, snap, protocol.EmptyDigest, "deleted"); err != nil {
		if perm, refused := asPermanent(err); refused {
			r.event(nal, corev1.EventTypeWarning, EventRetirementAbandoned, actionRetire, fmt.Sprintf(
				"salt-api at %s refused retirement sequence %d with HTTP %d: %q; deletion goes ahead because a refusal does not change on retry: remove allowlist %s/%s on the Salt master",
				target.URL, seq, perm.StatusCode, perm.Message, r.ClusterName, nal.Name))
			return r.release(ctx, nal)
		}
		return r.retirementFailed(ctx, original, nal, err, now)
	}
	r.event(nal, corev1.EventTypeNormal, EventRetired, actionRetire, fmt.Sprintf(
		"salt-api at %s acknowledged retirement sequence %d: Salt removes allowlist %s/%s", target.URL, seq, r.ClusterName, nal.Name))
	return r.release(ctx, nal)
}

// retirementFailed records a failed retirement and retries with backoff, or
// gives up once RetirementTimeout has passed since the deletion started.
func (r *NodeAllowlistReconciler) retirementFailed(ctx context.Context, original, nal *nodeallowv1alpha1.NodeAllowlist, err error, now time.Time) (ctrl.Result, error) {
	deadline := nal.DeletionTimestamp.Add(r.RetirementTimeout)
	if !now.Before(deadline) {
		r.event(nal, corev1.EventTypeWarning, EventRetirementAbandoned, actionRetire, fmt.Sprintf(
			"no retirement delivered within %s of deletion (last error: %v); deletion goes ahead: remove allowlist %s/%s on the Salt master",
			r.RetirementTimeout, err, r.ClusterName, nal.Name))
		return r.release(ctx, nal)
	}
	reason := ReasonPublishFailed
	var se *secretError
	if errors.As(err, &se) {
		reason = se.Reason
	}
	msg := fmt.Sprintf("retirement not delivered: %v; retrying until %s, or set the annotation %s=true to delete without it",
		err, deadline.UTC().Format(time.RFC3339), AnnotationSkipRetirement)
	r.failOnce(nal, reason, actionRetire, msg)
	if werr := r.writeStatus(ctx, original, nal); werr != nil {
		logf.FromContext(ctx).Error(werr, "Recording a failed retirement in status failed", "allowlist", nal.Name)
	}
	return ctrl.Result{}, fmt.Errorf("retiring NodeAllowlist %s: %w", nal.Name, err)
}

// release removes the finalizer so the API server can finish the deletion.
func (r *NodeAllowlistReconciler) release(ctx context.Context, nal *nodeallowv1alpha1.NodeAllowlist) (ctrl.Result, error) {
	controllerutil.RemoveFinalizer(nal, Finalizer)
	if err := r.Update(ctx, nal); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, fmt.Errorf("removing finalizer %s from NodeAllowlist %s: %w", Finalizer, nal.Name, err)
	}
	r.forget(nal.Name)
	return ctrl.Result{}, nil
}
