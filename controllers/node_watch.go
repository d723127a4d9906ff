// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"context"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
	"github.com/nodeallow/nodeallow/controllers/source"
)

// CacheOptions returns the manager cache options the controller needs: Nodes
// are stored trimmed to what snapshots use, which at 100k Nodes is the
// difference between gigabytes and a few tens of megabytes.
func CacheOptions() cache.Options {
	return cache.Options{
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Node{}: {Transform: TrimNode},
		},
	}
}

// TrimNode is the Node cache transform: it keeps name, uid, resourceVersion,
// labels, deletion state and status addresses, and drops the rest (images,
// conditions, managedFields, spec, annotations …). It is idempotent, as
// transforms must be, and passes anything that is not a Node through.
func TrimNode(obj any) (any, error) {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil
	}
	return &corev1.Node{
		TypeMeta: node.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:              node.Name,
			UID:               node.UID,
			ResourceVersion:   node.ResourceVersion,
			Labels:            node.Labels,
			DeletionTimestamp: node.DeletionTimestamp,
		},
		Status: corev1.NodeStatus{Addresses: node.Status.Addresses},
	}, nil
}

// nodeChangePredicate passes Node creations and deletions, and only those
// updates that change labels, addresses or deletion state: kubelet and other
// agents rewrite Node status all the time (about 20k no-op updates a minute at
// 100k Nodes), and none of that may cost more than this comparison. A
// GenerationChanged predicate would be wrong: addresses live in status.
func nodeChangePredicate() predicate.Funcs {
	return predicate.Funcs{
		CreateFunc: func(event.CreateEvent) bool { return countNodeEvent(true) },
		DeleteFunc: func(event.DeleteEvent) bool { return countNodeEvent(true) },
		GenericFunc: func(event.GenericEvent) bool {
			return countNodeEvent(true)
		},
		UpdateFunc: func(e event.UpdateEvent) bool {
			oldNode, okOld := e.ObjectOld.(*corev1.Node)
			newNode, okNew := e.ObjectNew.(*corev1.Node)
			if !okOld || !okNew {
				return countNodeEvent(true)
			}
			return countNodeEvent(labelsChanged(oldNode, newNode) || nodeStateChanged(oldNode, newNode))
		},
	}
}

// countNodeEvent counts a Node event as received and, when pass, as passed.
func countNodeEvent(pass bool) bool {
	nodeEventsTotal.WithLabelValues(stageReceived).Inc()
	if pass {
		nodeEventsTotal.WithLabelValues(stagePassed).Inc()
	}
	return pass
}

func labelsChanged(a, b *corev1.Node) bool {
	return !labels.Equals(a.Labels, b.Labels)
}

// nodeStateChanged reports changes other than labels that alter a snapshot.
func nodeStateChanged(a, b *corev1.Node) bool {
	return !slices.Equal(a.Status.Addresses, b.Status.Addresses) ||
		(a.DeletionTimestamp == nil) != (b.DeletionTimestamp == nil)
}

// nodeEventHandler maps a Node event to the allowlists it concerns, marks a
// change for their debounce and enqueues them. It is a handler rather than a
// map function because it needs the old object of an update: a Node relabelled
// out of a selector concerns the allowlist it left.
type nodeEventHandler struct {
	reader   client.Reader
	debounce *debouncer
	now      func() time.Time
}

var _ handler.EventHandler = &nodeEventHandler{}

// Create handles a new Node.
func (h *nodeEventHandler) Create(ctx context.Context, e event.CreateEvent, q nodeQueue) {
	h.enqueue(ctx, q, nil, asNode(e.Object))
}

// Update handles a changed Node, seeing it before and after.
func (h *nodeEventHandler) Update(ctx context.Context, e event.UpdateEvent, q nodeQueue) {
	h.enqueue(ctx, q, asNode(e.ObjectOld), asNode(e.ObjectNew))
}

// Delete handles a deleted Node.
func (h *nodeEventHandler) Delete(ctx context.Context, e event.DeleteEvent, q nodeQueue) {
	h.enqueue(ctx, q, asNode(e.Object), nil)
}

// Generic handles a Node event from outside the API server (none today).
func (h *nodeEventHandler) Generic(ctx context.Context, e event.GenericEvent, q nodeQueue) {
	h.enqueue(ctx, q, nil, asNode(e.Object))
}

// nodeQueue is the controller's work queue of allowlist requests.
type nodeQueue = workqueue.TypedRateLimitingInterface[reconcile.Request]

func asNode(obj client.Object) *corev1.Node {
	node, _ := obj.(*corev1.Node)
	return node
}

// enqueue handles one Node event; before is nil for a creation, after for a deletion.
func (h *nodeEventHandler) enqueue(ctx context.Context, q nodeQueue, before, after *corev1.Node) {
	if before == nil && after == nil {
		return
	}
	log := logf.FromContext(ctx)
	var lists nodeallowv1alpha1.NodeAllowlistList
	if err := h.reader.List(ctx, &lists, client.UnsafeDisableDeepCopy); err != nil {
		// The cache only fails here while stopping; nothing to retry.
		log.Error(err, "Listing NodeAllowlists for a Node event failed; the event is dropped")
		return
	}
	// Only a label change: it matters to an allowlist only if the Node moved in or out of its selector.
	labelsOnly := before != nil && after != nil && !nodeStateChanged(before, after)
	now := h.now()
	for i := range lists.Items {
		nal := &lists.Items[i]
		sel, err := source.Selector(&nal.Spec)
		if err != nil {
			continue // the reconciler reports the invalid selector on the allowlist
		}
		matchedBefore := before != nil && sel.Matches(labels.Set(before.Labels))
		matchesAfter := after != nil && sel.Matches(labels.Set(after.Labels))
		relevant := matchedBefore || matchesAfter
		if labelsOnly {
			relevant = matchedBefore != matchesAfter
		}
		if !relevant {
			continue
		}
		h.debounce.mark(nal.Name, now)
		q.Add(reconcile.Request{NamespacedName: client.ObjectKey{Name: nal.Name}})
		log.V(1).Info("Node change concerns allowlist", "node", nodeName(before, after), "allowlist", nal.Name)
	}
}

func nodeName(before, after *corev1.Node) string {
	if after != nil {
		return after.Name
	}
	return before.Name
}
