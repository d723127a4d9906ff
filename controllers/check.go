// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"context"
	"errors"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
	"github.com/nodeallow/nodeallow/controllers/plan"
)

// ask asks the Salt master of one endpoint's view (plan.View) about the acknowledged sequence in a
// goroutine, as launch publishes: the runner call through salt-api takes a noticeable part of a
// second at the master, and a reconcile that waited for it held up the next publish. Its answer is
// kept in r.memory and reconciles the allowlist through r.landed, whose gather takes it
// (plan.Facts.Check). ctx is the controller's, so a manager that stops cancels it.
func (r *NodeAllowlistReconciler) ask(ctx context.Context, view *nodeallowv1alpha1.NodeAllowlist) {
	key := endpointKey{view.Name, view.Spec.Salt.URL}
	id, ok := r.memory.ask(key)
	if !ok {
		// plan.Decide asks nothing while a check is unanswered (Facts.Checking).
		logf.FromContext(ctx).Error(errors.New("a check is already unanswered"), "Not asking the Salt master", "url", key.url)
		return
	}
	view = view.DeepCopy()
	go func() {
		c := r.checkDelivery(ctx, view)
		if !r.memory.answer(key, id, *c) {
			return
		}
		select {
		case r.landed <- event.TypedGenericEvent[*nodeallowv1alpha1.NodeAllowlist]{Object: &nodeallowv1alpha1.NodeAllowlist{ObjectMeta: metav1.ObjectMeta{Name: key.name}}}:
		case <-ctx.Done():
		}
	}()
}

// checkDelivery asks the Salt master of one endpoint's view (plan.View), through its salt-api, what it
// stored and what its subscribers applied. A failure is a fact for plan.Decide (Stored or Applied
// Unknown, reason CheckFailed), not an error: publishing goes on without it.
func (r *NodeAllowlistReconciler) checkDelivery(ctx context.Context, nal *nodeallowv1alpha1.NodeAllowlist) *plan.Check {
	start := time.Now()
	c := &plan.Check{Sequence: nal.Status.PublishedSequence}
	if endpoint, err := r.endpointFor(ctx, nal); err != nil {
		c.Err = err
	} else {
		cctx, cancel := context.WithTimeout(ctx, DeliveryCheckTimeout)
		c.Entry, c.Found, c.Err = r.Deliveries.ReadDelivery(cctx, endpoint, r.ClusterName, nal.Name)
		cancel()
	}
	result := resultSuccess
	if c.Err != nil {
		result = resultFailure
	}
	deliveryChecksTotal.WithLabelValues(result).Inc()
	kv := []any{"url", nal.Spec.Salt.URL, "result", result, "duration", time.Since(start), "found", c.Found,
		"storedSequence", c.Entry.Sequence, "subscribers", len(c.Entry.Subscribers)}
	if c.Err != nil {
		kv = append(kv, "error", c.Err.Error())
	}
	logf.FromContext(ctx).V(1).Info("Delivery check", kv...)
	return c
}
