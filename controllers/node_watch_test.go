// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
	"github.com/nodeallow/nodeallow/controllers/source"
)

// change is one Node change as the NodeCache hands it to its handler.
type change struct{ before, after *source.Node }

// newTestNodeCache returns a NodeCache whose changes are appended to changes, as if started.
func newTestNodeCache(changes *[]change) *NodeCache {
	c := &NodeCache{nodes: map[string]*source.Node{}, synced: make(chan struct{}), started: true}
	c.handler = func(before, after *source.Node) { *changes = append(*changes, change{before, after}) }
	return c
}

// A heartbeat changes nothing the cache keeps: the store drops it (no event, nothing stored anew);
// every change of labels, addresses or deletion state is stored and handed on.
func TestNodeStorePassesOnlyChanges(t *testing.T) {
	base := func() *corev1.Node { return decodedForm(everyFieldNode()) }
	name := everyFieldNode().Name
	cases := []struct {
		name   string
		change func(*corev1.Node)
		pass   bool
	}{
		{"nothing (a trimmed heartbeat)", func(*corev1.Node) {}, false},
		{"resourceVersion only", func(n *corev1.Node) { n.ResourceVersion = "8" }, false},
		{"the same labels in a new map", func(n *corev1.Node) { n.Labels = maps.Clone(n.Labels) }, false},
		{"a label value", func(n *corev1.Node) { n.Labels["pool"] = "b" }, true},
		{"a label added", func(n *corev1.Node) { n.Labels["new"] = "" }, true},
		{"a label removed", func(n *corev1.Node) { delete(n.Labels, "pool") }, true},
		{"an address", func(n *corev1.Node) { n.Status.Addresses[0].Address = "10.9.9.9" }, true},
		{"an address type", func(n *corev1.Node) { n.Status.Addresses[0].Type = corev1.NodeExternalIP }, true},
		{"an address removed", func(n *corev1.Node) { n.Status.Addresses = n.Status.Addresses[1:] }, true},
		{"deletion cleared (never happens, still a change)", func(n *corev1.Node) { n.DeletionTimestamp = nil }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var changes []change
			c := newTestNodeCache(&changes)
			s := (*nodeStore)(c)
			if err := s.Replace([]any{base()}, "1"); err != nil {
				t.Fatal(err)
			}
			stored := c.nodes[name]
			updated := base()
			updated.Labels = maps.Clone(updated.Labels)
			updated.Status.Addresses = slices.Clone(updated.Status.Addresses)
			tc.change(updated)
			if err := s.Update(updated); err != nil {
				t.Fatal(err)
			}
			if got := len(changes) == 1; got != tc.pass {
				t.Fatalf("passed %d changes, want pass = %v", len(changes), tc.pass)
			}
			if tc.pass {
				if changes[0].before != stored || !changes[0].after.Equal(source.NodeOf(updated)) || c.nodes[name] != changes[0].after {
					t.Fatalf("handed on %+v -> %+v, stored %+v", changes[0].before, changes[0].after, c.nodes[name])
				}
			} else if c.nodes[name] != stored {
				t.Fatal("a heartbeat was stored anew")
			}
		})
	}
}

// The first list is the initial state; a later one (a watch that could not be resumed) hands on
// what it changed, added and removed, and nothing for the Nodes it left as they were.
func TestNodeStoreReplace(t *testing.T) {
	node := func(name, addr string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: "1"},
			Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: addr}}}}
	}
	var changes []change
	c := newTestNodeCache(&changes)
	s := (*nodeStore)(c)
	if c.HasSynced() {
		t.Fatal("synced before the first list")
	}
	if err := s.Replace([]any{node("a", "10.0.0.1"), node("b", "10.0.0.2"), node("c", "10.0.0.3")}, "1"); err != nil {
		t.Fatal(err)
	}
	if !c.HasSynced() || len(changes) != 0 || len(c.nodes) != 3 {
		t.Fatalf("after the first list: synced %v, %d changes, %d Nodes", c.HasSynced(), len(changes), len(c.nodes))
	}
	a := c.nodes["a"]
	relisted := node("a", "10.0.0.1")
	relisted.ResourceVersion = "5"
	if err := s.Replace([]any{relisted, node("b", "10.0.0.9"), node("d", "10.0.0.4")}, "5"); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, ch := range changes {
		switch {
		case ch.before == nil:
			got[ch.after.Name] = "created"
		case ch.after == nil:
			got[ch.before.Name] = "deleted"
		default:
			got[ch.after.Name] = "changed " + ch.before.Addresses[0].Address + " -> " + ch.after.Addresses[0].Address
		}
	}
	want := map[string]string{"b": "changed 10.0.0.2 -> 10.0.0.9", "c": "deleted", "d": "created"}
	if !maps.Equal(got, want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
	if len(c.nodes) != 3 || c.nodes["c"] != nil {
		t.Fatalf("cache holds %v after the second list", slices.Collect(maps.Keys(c.nodes)))
	}
	if c.nodes["a"] != a {
		t.Fatal("an unchanged Node was stored anew by the second list")
	}
	if err := s.Delete(toolscache.DeletedFinalStateUnknown{Key: "d", Obj: node("d", "10.0.0.4")}); err != nil {
		t.Fatal(err)
	}
	if last := changes[len(changes)-1]; last.after != nil || last.before.Name != "d" || c.nodes["d"] != nil {
		t.Fatalf("deleting d handed on %+v", last)
	}
	if err := s.Add("not a node"); err == nil {
		t.Fatal("the store took something that is not a Node")
	}
}

// selected returns the cached Nodes a selector matches, everything for an empty one.
func TestNodeCacheSelected(t *testing.T) {
	var changes []change
	c := newTestNodeCache(&changes)
	nodes := []any{}
	for i, pool := range []string{"workers", "infra", "workers"} {
		nodes = append(nodes, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint("n", i), Labels: map[string]string{"pool": pool}}})
	}
	if err := (*nodeStore)(c).Replace(nodes, "1"); err != nil {
		t.Fatal(err)
	}
	names := func(sel labels.Selector) []string {
		var out []string
		for _, n := range c.selected(sel) {
			out = append(out, n.Name)
		}
		slices.Sort(out)
		return out
	}
	if got := names(labels.Everything()); !slices.Equal(got, []string{"n0", "n1", "n2"}) {
		t.Fatalf("everything selected %v", got)
	}
	if got := names(labels.SelectorFromSet(labels.Set{"pool": "workers"})); !slices.Equal(got, []string{"n0", "n2"}) {
		t.Fatalf("pool=workers selected %v", got)
	}
}

func TestNodeEventHandlerEnqueuesOnlyConcernedAllowlists(t *testing.T) {
	s := runtime.NewScheme()
	if err := nodeallowv1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	allowlist := func(name string, sel map[string]string) *nodeallowv1alpha1.NodeAllowlist {
		return &nodeallowv1alpha1.NodeAllowlist{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: nodeallowv1alpha1.NodeAllowlistSpec{NodeSelector: metav1.LabelSelector{MatchLabels: sel}}}
	}
	reader := fake.NewClientBuilder().WithScheme(s).WithObjects(
		allowlist("all", nil),
		allowlist("workers", map[string]string{"pool": "workers"}),
		allowlist("infra", map[string]string{"pool": "infra"}),
	).Build()

	node := func(pool, addr string, labels ...string) *source.Node {
		l := map[string]string{"pool": pool, "zone": "z1"}
		for i := 0; i+1 < len(labels); i += 2 {
			l[labels[i]] = labels[i+1]
		}
		return source.NodeOf(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: l},
			Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: addr}}}})
	}
	cases := []struct {
		name          string
		before, after *source.Node
		want          []string
	}{
		{"created worker", nil, node("workers", "10.0.0.1"), []string{"all", "workers"}},
		{"deleted infra", node("infra", "10.0.0.1"), nil, []string{"all", "infra"}},
		{"moved from workers to infra", node("workers", "10.0.0.1"), node("infra", "10.0.0.1"), []string{"infra", "workers"}},
		{"unrelated label on a worker", node("workers", "10.0.0.1"), node("workers", "10.0.0.1", "zone", "z2"), nil},
		{"re-addressed worker", node("workers", "10.0.0.1"), node("workers", "10.0.0.2"), []string{"all", "workers"}},
		{"created in no pool", nil, node("batch", "10.0.0.1"), []string{"all"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
			defer q.ShutDown()
			d := newDebouncer()
			h := &nodeEventHandler{reader: reader, debounce: d, now: time.Now}
			h.enqueue(context.Background(), q, tc.before, tc.after)
			var got []string
			for q.Len() > 0 {
				req, _ := q.Get()
				got = append(got, req.Name)
				q.Done(req)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("enqueued %v, want %v", got, tc.want)
			}
			for _, name := range tc.want {
				if d.wait(name, time.Now(), time.Hour, time.Hour) == 0 {
					t.Fatalf("allowlist %s enqueued without a debounce mark", name)
				}
			}
		})
	}
}
