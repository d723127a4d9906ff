// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package source

import (
	"maps"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

func TestNodeOfKeepsNameLabelsAddressesAndDeletion(t *testing.T) {
	now := metav1.Now()
	in := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "u1", ResourceVersion: "7", DeletionTimestamp: &now,
			Labels:      map[string]string{"zone": "z1", "pool": "a", "kubernetes.io/hostname": "n1", "empty": ""},
			Annotations: map[string]string{"big": "yes"}},
		Spec: corev1.NodeSpec{PodCIDR: "10.244.0.0/24", Unschedulable: true},
		Status: corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.1"}, {Type: corev1.NodeHostName, Address: "n1"}},
			Images:    []corev1.ContainerImage{{Names: []string{"registry/image:tag"}}},
		},
	}
	got := NodeOf(in)
	want := &Node{Name: "n1", Deleting: true, Addresses: in.Status.Addresses,
		Labels: Labels{"empty", "", "kubernetes.io/hostname", "n1", "pool", "a", "zone", "z1"}}
	if !got.Equal(want) || !slices.Equal(got.Labels, want.Labels) {
		t.Fatalf("NodeOf = %+v, want %+v", got, want)
	}
	in.Status.Addresses[0].Address = "10.9.9.9"
	if got.Addresses[0].Address != "10.0.0.1" {
		t.Fatal("NodeOf shares the Node's address slice, which the decoder's next Node may reuse")
	}
	if !got.Labels.equalSet(in.Labels) || got.Same(in) {
		t.Fatal("Same missed the changed address")
	}
}

func TestLabelsSelect(t *testing.T) {
	m := map[string]string{"pool": "workers", "zone": "z1", "gpu": ""}
	l := NodeOf(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: m}}).Labels
	for _, s := range []string{"pool=workers", "pool in (workers,infra)", "gpu", "!spot", "zone!=z2", "pool=workers,zone=z1", "gpu="} {
		sel, err := labels.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		if !sel.Matches(l) || !sel.Matches(labels.Set(m)) {
			t.Errorf("%q: Labels matches %v, the map %v", s, sel.Matches(l), sel.Matches(labels.Set(m)))
		}
	}
	for _, s := range []string{"pool=infra", "spot", "!gpu", "zone notin (z1)"} {
		sel, _ := labels.Parse(s)
		if sel.Matches(l) {
			t.Errorf("%q matched %v", s, l)
		}
	}
	if !l.equalSet(maps.Clone(m)) || l.equalSet(map[string]string{"pool": "workers", "zone": "z1", "gpu": "x"}) || l.equalSet(nil) {
		t.Fatal("equalSet is wrong")
	}
}
