// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
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

// CacheOptions returns the manager cache options the controller needs, for
// the manager's REST config cfg. Nodes are watched in protobuf and decoded
// straight into their trimmed form (trimmingDecoder), so neither the cache
// nor a heartbeat pays for the images, conditions and managedFields of a
// Node: a cached Node takes ~1.7 kB instead of ~23 kB, and decoding a
// heartbeat a 6 µs scan instead of a 53 µs decode (docs/benchmarks.md).
// The Node informer has its own client on cfg; the manager's label and field
// selectors (none) do not apply to it.
func CacheOptions(cfg *rest.Config) (cache.Options, error) {
	nodes, err := newNodeListWatch(cfg)
	if err != nil {
		return cache.Options{}, err
	}
	return cache.Options{
		// No transform: the Node client accepts only protobuf, so every cached
		// Node comes out of trimmingDecoder already trimmed.
		NewInformer: func(lw toolscache.ListerWatcher, obj runtime.Object, resync time.Duration, indexers toolscache.Indexers) toolscache.SharedIndexInformer {
			if _, ok := obj.(*corev1.Node); ok {
				lw = nodes
			}
			return toolscache.NewSharedIndexInformer(lw, obj, resync, indexers)
		},
	}, nil
}

// newNodeListWatch returns the list and watch functions of the Node informer:
// a protobuf client whose decoder is trimmingDecoder.
func newNodeListWatch(base *rest.Config) (*toolscache.ListWatch, error) {
	cfg := rest.CopyConfig(base)
	cfg.APIPath = "/api"
	cfg.GroupVersion = &corev1.SchemeGroupVersion
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf
	cfg.NegotiatedSerializer = nodeCodecs()
	// Profiled: inflating the gzip that Go's transport asks for was over a third of the
	// CPU of a heartbeat. Uncompressed, 20k heartbeats a minute are ~6 MB/s
	// inside the cluster, and the API server saves the compression too.
	cfg.DisableCompression = true
	// HTTP/2 added a goroutine hand-off and a flow-control write per event; this
	// connection carries one long watch, which HTTP/1.1 serves as well.
	cfg.NextProtos = []string{"http/1.1"}
	if cfg.UserAgent == "" {
		cfg.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	c, err := rest.RESTClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the Node watch client for %s: %w", cfg.Host, err)
	}
	return &toolscache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			list := &corev1.NodeList{}
			err := c.Get().Resource("nodes").VersionedParams(&opts, clientgoscheme.ParameterCodec).Do(ctx).Into(list)
			return list, err
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.Watch = true
			opts.AllowWatchBookmarks = true
			return c.Get().Resource("nodes").VersionedParams(&opts, clientgoscheme.ParameterCodec).Watch(ctx)
		},
	}, nil
}

// nodeCodecs is client-go's codec factory (without conversion, as
// controller-runtime's clients use it) with the protobuf decoders replaced by
// trimmingDecoder and watchEventDecoder.
func nodeCodecs() runtime.NegotiatedSerializer {
	base := serializer.NewCodecFactory(clientgoscheme.Scheme).WithoutConversion()
	strings := newInternTable()
	infos := slices.Clone(base.SupportedMediaTypes())
	for i := range infos {
		if infos[i].MediaType == runtime.ContentTypeProtobuf {
			infos[i].Serializer = trimmingDecoder{Serializer: infos[i].Serializer, strings: strings}
			stream := *infos[i].StreamSerializer
			stream.Serializer = watchEventDecoder{Serializer: stream.Serializer}
			infos[i].StreamSerializer = &stream
		}
	}
	return mediaTypes{NegotiatedSerializer: base, infos: infos}
}

// mediaTypes is a NegotiatedSerializer with its own list of serializers.
type mediaTypes struct {
	runtime.NegotiatedSerializer
	infos []runtime.SerializerInfo
}

// SupportedMediaTypes implements runtime.NegotiatedSerializer.
func (m mediaTypes) SupportedMediaTypes() []runtime.SerializerInfo { return m.infos }

// TrimNode defines what the Node cache keeps of a Node: name, uid,
// resourceVersion, labels, deletion state and status addresses, not the rest
// (images, conditions, managedFields, spec, annotations …). trimmingDecoder
// decodes exactly this from protobuf (its tests compare the two). TrimNode is
// idempotent and passes anything that is not a Node through.
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

// Create handles a new Node. The Nodes of the informer's initial list are
// not changes: every allowlist is reconciled once at start anyway (its own
// initial list), after the Node cache synced, and marking them would hold
// the first publish for a debounce period.
func (h *nodeEventHandler) Create(ctx context.Context, e event.CreateEvent, q nodeQueue) {
	if e.IsInInitialList {
		return
	}
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
