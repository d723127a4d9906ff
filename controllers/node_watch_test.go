// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
)

func fullNode() *corev1.Node {
	now := metav1.Now()
	return &corev1.Node{
		TypeMeta: metav1.TypeMeta{Kind: "Node", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "n1", UID: "u1", ResourceVersion: "7", Labels: map[string]string{"pool": "a"},
			Annotations:       map[string]string{"big": "yes"},
			ManagedFields:     []metav1.ManagedFieldsEntry{{Manager: "kubelet"}},
			DeletionTimestamp: &now,
		},
		Spec: corev1.NodeSpec{PodCIDR: "10.244.0.0/24"},
		Status: corev1.NodeStatus{
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.1"}},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			Images:     []corev1.ContainerImage{{Names: []string{"registry/image:tag"}, SizeBytes: 1 << 30}},
		},
	}
}

func TestTrimNodeKeepsOnlyWhatSnapshotsUse(t *testing.T) {
	in := fullNode()
	out, err := TrimNode(in)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.Node)
	want := &corev1.Node{
		TypeMeta: in.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "u1", ResourceVersion: "7", Labels: in.Labels,
			DeletionTimestamp: in.DeletionTimestamp},
		Status: corev1.NodeStatus{Addresses: in.Status.Addresses},
	}
	if !equalNodes(got, want) {
		t.Fatalf("TrimNode = %+v, want %+v", got, want)
	}
	again, _ := TrimNode(got)
	if !equalNodes(again.(*corev1.Node), want) {
		t.Fatal("TrimNode is not idempotent")
	}
	if other, _ := TrimNode("not a node"); other != "not a node" {
		t.Fatal("TrimNode changed something that is not a Node")
	}
}

func equalNodes(a, b *corev1.Node) bool {
	return a.Name == b.Name && a.UID == b.UID && a.ResourceVersion == b.ResourceVersion &&
		len(a.Annotations) == 0 && len(a.ManagedFields) == 0 && a.Spec.PodCIDR == "" &&
		len(a.Status.Conditions) == 0 && len(a.Status.Images) == 0 &&
		slices.Equal(a.Status.Addresses, b.Status.Addresses) && a.DeletionTimestamp.Equal(b.DeletionTimestamp) &&
		len(a.Labels) == len(b.Labels) && a.Labels["pool"] == b.Labels["pool"]
}

func TestNodeChangePredicate(t *testing.T) {
	base := func() *corev1.Node { n, _ := TrimNode(fullNode()); return n.(*corev1.Node) }
	cases := []struct {
		name   string
		change func(*corev1.Node)
		pass   bool
	}{
		{"nothing (a trimmed heartbeat)", func(*corev1.Node) {}, false},
		{"resourceVersion only", func(n *corev1.Node) { n.ResourceVersion = "8" }, false},
		{"a label", func(n *corev1.Node) { n.Labels = map[string]string{"pool": "b"} }, true},
		{"an address", func(n *corev1.Node) {
			n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.2"}}
		}, true},
		{"an address type", func(n *corev1.Node) { n.Status.Addresses[0].Type = corev1.NodeExternalIP }, true},
		{"deletion cleared (never happens, still a change)", func(n *corev1.Node) { n.DeletionTimestamp = nil }, true},
	}
	p := nodeChangePredicate()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			oldNode, newNode := base(), base()
			newNode.Status.Addresses = slices.Clone(oldNode.Status.Addresses)
			tc.change(newNode)
			if got := p.Update(event.UpdateEvent{ObjectOld: oldNode, ObjectNew: newNode}); got != tc.pass {
				t.Fatalf("Update passed = %v, want %v", got, tc.pass)
			}
		})
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

	node := func(pool, addr string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{"pool": pool, "zone": "z1"}},
			Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: addr}}}}
	}
	cases := []struct {
		name          string
		before, after *corev1.Node
		want          []string
	}{
		{"created worker", nil, node("workers", "10.0.0.1"), []string{"all", "workers"}},
		{"deleted infra", node("infra", "10.0.0.1"), nil, []string{"all", "infra"}},
		{"moved from workers to infra", node("workers", "10.0.0.1"), node("infra", "10.0.0.1"), []string{"infra", "workers"}},
		{"unrelated label on a worker", node("workers", "10.0.0.1"), func() *corev1.Node {
			n := node("workers", "10.0.0.1")
			n.Labels["zone"] = "z2"
			return n
		}(), nil},
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
