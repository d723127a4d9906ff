// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/nodeallow/nodeallow/api/protocol"
	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
	"github.com/nodeallow/nodeallow/controllers/plan"
	"github.com/nodeallow/nodeallow/controllers/source"
)

// gather reads what plan.Decide needs about allowlist name, adding the finalizer to a live one, and
// takes the Salt masters' answers to the checks asked beside earlier reconciles (ask). It stops
// early while Node changes are still settling: first on the cached object, so that a burst of Node
// events costs no API call, then on the object read from the API server, right before the Nodes are
// listed (debouncer.takeIfDue says why right before). The object that decides is read uncached
// because the cache may not have caught up with this controller's last status write yet, and
// allocating a sequence from a stale status would reuse a number. The sends this process has in
// flight are facts too (plan.Flight, one per salt-api endpoint): while every endpoint has one in the
// air, nothing else is gathered (Decide waits for them); once one landed, the debounce's cached
// shortcut is skipped so that its result is recorded at once. The per-endpoint facts come back in
// the order of plan.EndpointURLs.
func (r *NodeAllowlistReconciler) gather(ctx context.Context, name string, now time.Time) (plan.Facts, []plan.EndpointFacts, error) {
	f := plan.Facts{Now: now, Name: name, Cluster: r.ClusterName, RetirementTimeout: r.RetirementTimeout}
	key := client.ObjectKey{Name: name}
	flights := r.memory.flightsOf(name)
	var cached nodeallowv1alpha1.NodeAllowlist
	if err := r.Get(ctx, key, &cached); err != nil {
		if apierrors.IsNotFound(err) {
			f.Gone = true
			return f, nil, nil
		}
		return f, nil, fmt.Errorf("reading NodeAllowlist %s from the cache: %w", name, err)
	}
	if cached.DeletionTimestamp.IsZero() && len(flights) == 0 {
		if f.DebounceWait = r.debounce.wait(name, now, cached.Spec.Debounce.Min.Duration, cached.Spec.Debounce.Max.Duration); f.DebounceWait > 0 {
			return f, nil, nil
		}
	}

	nal := &nodeallowv1alpha1.NodeAllowlist{}
	if err := r.APIReader.Get(ctx, key, nal); err != nil {
		if apierrors.IsNotFound(err) {
			f.Gone = true
			return f, nil, nil
		}
		return f, nil, fmt.Errorf("reading NodeAllowlist %s: %w", name, err)
	}
	f.Allowlist = nal
	urls := plan.EndpointURLs(nal)
	eps := make([]plan.EndpointFacts, len(urls))
	inAir := 0
	for i, url := range urls {
		eps[i] = plan.EndpointFacts{URL: url, Flight: flights[url]}
		if fl := eps[i].Flight; fl != nil && !fl.Done {
			inAir++
		}
	}
	if !nal.DeletionTimestamp.IsZero() {
		return f, eps, nil
	}
	// A live allowlist carries the finalizer before anything is decided, so nothing is published
	// that its deletion could not retire. The API server answers with the object as stored, whose
	// generation the status then records.
	if !controllerutil.ContainsFinalizer(nal, plan.Finalizer) {
		controllerutil.AddFinalizer(nal, plan.Finalizer)
		if err := r.Update(ctx, nal); err != nil {
			return f, nil, fmt.Errorf("adding finalizer %s to NodeAllowlist %s: %w", plan.Finalizer, nal.Name, err)
		}
	}
	if inAir == len(eps) {
		// Decide only waits for them; the reconcile a landing triggers lists the Nodes.
		return f, eps, nil
	}
	if f.DebounceWait = r.debounce.takeIfDue(name, now, nal.Spec.Debounce.Min.Duration, nal.Spec.Debounce.Max.Duration); f.DebounceWait > 0 {
		return f, eps, nil
	}
	f.Selection = r.selection(ctx, nal)
	for i := range eps {
		ep := &eps[i]
		key := endpointKey{name, ep.URL}
		ep.Memory = r.memory.get(key)
		if ep.Flight == nil {
			ep.Check, ep.Checking = r.memory.takeCheck(key)
		} else {
			// A send that landed unrecorded changes the acknowledged sequence; the answer waits for its record.
			ep.Checking = r.memory.checking(key)
		}
	}
	return f, eps, nil
}

// selection lists the Nodes a live allowlist selects and computes the canonical address list. A spec
// that cannot be used is a fact (Selection.Invalid), not an error: only editing it helps.
func (r *NodeAllowlistReconciler) selection(ctx context.Context, nal *nodeallowv1alpha1.NodeAllowlist) plan.Selection {
	// The API server validates the name; it is checked again because it goes into the hook URL path.
	if !protocol.IsDNSLabel(nal.Name) {
		return plan.Selection{Invalid: fmt.Sprintf("the name %q is not a DNS label; recreate the NodeAllowlist under a valid name", nal.Name)}
	}
	sel, err := source.Selector(&nal.Spec)
	if err != nil {
		return plan.Selection{Invalid: err.Error()}
	}
	// From the Node cache. The controller starts its workers only after it and
	// the NodeAllowlist informer synced, so no selection is ever made from a
	// partial Node list. The cached Nodes are read-only, so they are not copied.
	nodes := r.Nodes.selected(sel)
	res, err := source.Collect(&nal.Spec, nodes)
	if err != nil {
		return plan.Selection{Invalid: err.Error()}
	}
	if n := len(res.Ignored); n > 0 {
		first := res.Ignored[0]
		logf.FromContext(ctx).V(1).Info("Ignoring node addresses that are not valid IP addresses",
			"ignored", n, "node", first.Node, "address", first.Address, "reason", first.Reason)
	}
	desired := plan.Compute(res.Addresses)
	addressesGauge.WithLabelValues(nal.Name).Set(float64(len(desired.Addresses)))
	return plan.Selection{Desired: desired, Nodes: res.Nodes}
}
