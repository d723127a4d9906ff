// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/nodeallow/nodeallow/controllers/source"
)

// NodeCache is the controller's own cache of Nodes, outside the manager's: a client-go reflector
// lists and watches Nodes in protobuf through trimmingDecoder, and the cache keeps each as a
// source.Node, which defines what is kept. An informer of the manager's cache would keep a
// corev1.Node per Node (its 784-byte struct, a label map, an indexer entry): ~1.7 kB trimmed,
// against ~0.5 kB here, the difference between ~370 MB and ~200 MB at 100k Nodes
// (docs/benchmarks.md). Change events go to the controller through NodeCache.source; the
// manager's client has no Node informer (reading Nodes through it would start one).
type NodeCache struct {
	lw *toolscache.ListWatch

	mu      sync.RWMutex
	nodes   map[string]*source.Node
	synced  chan struct{} // closed by the first Replace
	handler func(before, after *source.Node)
	started bool
}

// NewNodeCache returns the Node cache for the API server of cfg; the controller starts it (NodeAllowlistReconciler.Nodes).
func NewNodeCache(cfg *rest.Config) (*NodeCache, error) {
	lw, err := newNodeListWatch(cfg)
	if err != nil {
		return nil, err
	}
	return &NodeCache{lw: lw, nodes: map[string]*source.Node{}, synced: make(chan struct{})}, nil
}

// HasSynced reports whether the cache holds the API server's full Node list (a readiness check).
func (c *NodeCache) HasSynced() bool {
	select {
	case <-c.synced:
		return true
	default:
		return false
	}
}

// selected returns the cached Nodes that sel matches. They are shared with the cache, which
// never modifies a stored Node, so they are read without copying.
func (c *NodeCache) selected(sel labels.Selector) []*source.Node {
	c.mu.RLock()
	defer c.mu.RUnlock()
	everything := sel.Empty()
	out := make([]*source.Node, 0, len(c.nodes))
	for _, n := range c.nodes {
		if everything || sel.Matches(n.Labels) {
			out = append(out, n)
		}
	}
	return out
}

// start runs the reflector until ctx ends, sending every change to handler (before is nil for a
// new Node, after for a deleted one). It does not wait for the first list.
func (c *NodeCache) start(ctx context.Context, handler func(before, after *source.Node)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return errors.New("the Node cache was started twice; each NodeAllowlistReconciler needs its own")
	}
	c.started, c.handler = true, handler
	r := toolscache.NewReflectorWithOptions(c.lw, &corev1.Node{}, (*nodeStore)(c), toolscache.ReflectorOptions{
		Name: "nodeallow-nodes", TypeDescription: "*v1.Node",
	})
	go r.RunWithContext(ctx)
	return nil
}

// waitForSync returns once the first list is in the cache, or with an error when ctx ends first.
func (c *NodeCache) waitForSync(ctx context.Context) error {
	select {
	case <-c.synced:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the Node cache's first list: %w", ctx.Err())
	}
}

// nodeStore is the NodeCache as the reflector writes to it (toolscache.ReflectorStore): one
// goroutine calls it with the Nodes trimmingDecoder decoded, and it keeps their source.Node.
type nodeStore NodeCache

var _ toolscache.ReflectorStore = &nodeStore{}

// Add implements toolscache.ReflectorStore.
func (s *nodeStore) Add(obj any) error { return s.put(obj) }

// Update implements toolscache.ReflectorStore.
func (s *nodeStore) Update(obj any) error { return s.put(obj) }

// put stores a Node that was created or changed. A heartbeat, which changes nothing the cache
// keeps, is compared and dropped: no allocation, no event.
func (s *nodeStore) put(obj any) error {
	node, err := nodeOf(obj)
	if err != nil {
		return err
	}
	before := s.nodes[node.Name] // only this goroutine writes s.nodes
	if before != nil && before.Same(node) {
		countNodeEvent(false)
		return nil
	}
	after := source.NodeOf(node)
	s.mu.Lock()
	s.nodes[after.Name] = after
	s.mu.Unlock()
	countNodeEvent(true)
	s.handler(before, after)
	return nil
}

// Delete implements toolscache.ReflectorStore.
func (s *nodeStore) Delete(obj any) error {
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	node, err := nodeOf(obj)
	if err != nil {
		return err
	}
	s.mu.Lock()
	before := s.nodes[node.Name]
	delete(s.nodes, node.Name)
	s.mu.Unlock()
	countNodeEvent(true)
	if before != nil {
		s.handler(before, nil)
	}
	return nil
}

// Replace implements toolscache.ReflectorStore: the reflector's full list, at start and after a
// watch could not be resumed. The first one is the initial state, not a change (every allowlist
// is reconciled once at start anyway, after the cache synced); a later one sends what differs
// from the cache as changes.
func (s *nodeStore) Replace(list []any, _ string) error {
	old := s.nodes // only this goroutine writes s.nodes
	nodes := make(map[string]*source.Node, len(list))
	for _, obj := range list {
		node, err := nodeOf(obj)
		if err != nil {
			return err
		}
		if before := old[node.Name]; before != nil && before.Same(node) {
			nodes[node.Name] = before
		} else {
			nodes[node.Name] = source.NodeOf(node)
		}
		countNodeEvent(true)
	}
	s.mu.Lock()
	s.nodes = nodes
	s.mu.Unlock()
	select {
	case <-s.synced:
	default:
		close(s.synced)
		return nil
	}
	for name, after := range nodes {
		if before := old[name]; before != after {
			s.handler(before, after)
		}
	}
	for name, before := range old {
		if nodes[name] == nil {
			s.handler(before, nil)
		}
	}
	return nil
}

// Resync implements toolscache.ReflectorStore; the cache has no resync.
func (s *nodeStore) Resync() error { return nil }

// nodeOf returns obj as a Node, which is all the Node watch's reflector ever stores.
func nodeOf(obj any) (*corev1.Node, error) {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return nil, fmt.Errorf("the Node cache was given a %T, not a *v1.Node", obj)
	}
	return node, nil
}

// nodeSource is the Node cache as the controller's source of Node events: starting it starts the
// cache, and the controller starts its workers once the cache synced, so that no selection is
// made from a partial Node list.
type nodeSource struct {
	cache   *NodeCache
	handler *nodeEventHandler
}

// Start implements source.Source.
func (s nodeSource) Start(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	return s.cache.start(ctx, func(before, after *source.Node) { s.handler.enqueue(ctx, q, before, after) })
}

// WaitForSync implements source.SyncingSource.
func (s nodeSource) WaitForSync(ctx context.Context) error { return s.cache.waitForSync(ctx) }

// String names the source in controller-runtime's logs.
func (s nodeSource) String() string { return "nodeallow Node cache" }
