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
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
	"github.com/nodeallow/nodeallow/controllers/source"
)

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

// countNodeEvent counts a Node watch event as received and, when pass, as passed on as a change.
func countNodeEvent(pass bool) {
	nodeEventsTotal.WithLabelValues(stageReceived).Inc()
	if pass {
		nodeEventsTotal.WithLabelValues(stagePassed).Inc()
	}
}

// nodeEventHandler maps a change of a Node in the NodeCache to the allowlists it concerns, marks
// it for their debounce and enqueues them. The cache sends only changes of what it keeps (labels,
// addresses, deletion state): kubelet and other agents rewrite Node status all the time (about 20k
// heartbeats a minute at 100k Nodes), and those are dropped before they get here.
type nodeEventHandler struct {
	reader   client.Reader
	debounce *debouncer
	now      func() time.Time
}

// enqueue handles one Node change; before is nil for a creation, after for a deletion. A Node
// relabelled out of a selector concerns the allowlist it left.
func (h *nodeEventHandler) enqueue(ctx context.Context, q nodeQueue, before, after *source.Node) {
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
	labelsOnly := before != nil && after != nil && before.SamePublished(after)
	now := h.now()
	for i := range lists.Items {
		nal := &lists.Items[i]
		sel, err := source.Selector(&nal.Spec)
		if err != nil {
			continue // the reconciler reports the invalid selector on the allowlist
		}
		matchedBefore := before != nil && sel.Matches(before.Labels)
		matchesAfter := after != nil && sel.Matches(after.Labels)
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

// nodeQueue is the controller's work queue of allowlist requests.
type nodeQueue = workqueue.TypedRateLimitingInterface[reconcile.Request]

func nodeName(before, after *source.Node) string {
	if after != nil {
		return after.Name
	}
	return before.Name
}
