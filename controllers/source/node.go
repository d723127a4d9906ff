// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package source

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Node is everything the controller keeps of a Node: the one definition of what the Node cache
// holds (NodeOf builds it), ~0.5 kB a Node instead of a trimmed corev1.Node's ~1.7 kB, which set
// the memory at 100k Nodes (docs/benchmarks.md). Uid, resourceVersion, annotations, spec, images,
// conditions, capacity, nodeInfo and managedFields are not read by anything and not kept: the
// Node watch's reflector reads the resourceVersion off the decoded Node before it is stored.
// A stored Node is never modified, so readers share it without copying.
type Node struct {
	// Name keys the cache and names the Node in logs and in ignored-address reports.
	Name string
	// Labels are matched against every allowlist's nodeSelector.
	Labels Labels
	// Addresses are what a snapshot publishes, filtered by each allowlist's types and families.
	Addresses []corev1.NodeAddress
	// Deleting is set once the Node has a deletion timestamp: its addresses stop being allowed.
	Deleting bool
}

// NodeOf returns what the cache keeps of node. Its strings are node's, so that label keys and
// values the decoder shares between Nodes stay shared.
func NodeOf(node *corev1.Node) *Node {
	out := &Node{Name: node.Name, Deleting: node.DeletionTimestamp != nil}
	if len(node.Status.Addresses) > 0 {
		out.Addresses = slices.Clip(slices.Clone(node.Status.Addresses))
	}
	if len(node.Labels) > 0 {
		out.Labels = make(Labels, 0, 2*len(node.Labels))
		for k, v := range node.Labels {
			out.Labels = append(out.Labels, k, v)
		}
		out.Labels.sort()
	}
	return out
}

// Same reports whether node would be stored as n: a heartbeat that changed nothing kept is not
// stored again, and costs no allocation beyond its decode.
func (n *Node) Same(node *corev1.Node) bool {
	return n.Name == node.Name && n.Deleting == (node.DeletionTimestamp != nil) &&
		slices.Equal(n.Addresses, node.Status.Addresses) && n.Labels.equalSet(node.Labels)
}

// Equal reports whether n and o hold the same.
func (n *Node) Equal(o *Node) bool {
	return n.Name == o.Name && n.Labels.Equal(o.Labels) && n.SamePublished(o)
}

// SamePublished reports whether n and o contribute the same to a snapshot that selects both:
// the same addresses and deletion state (labels aside).
func (n *Node) SamePublished(o *Node) bool {
	return n.Deleting == o.Deleting && slices.Equal(n.Addresses, o.Addresses)
}

// Labels is a Node's labels as key, value, key, value … sorted by key: 16 bytes a string where a
// map[string]string costs ~60 bytes a label. It implements labels.Labels for selectors.
type Labels []string

var _ labels.Labels = Labels(nil)

// Has implements labels.Labels.
func (l Labels) Has(key string) bool {
	_, ok := l.Lookup(key)
	return ok
}

// Get implements labels.Labels.
func (l Labels) Get(key string) string {
	v, _ := l.Lookup(key)
	return v
}

// Lookup implements labels.Labels.
func (l Labels) Lookup(key string) (string, bool) {
	for i := 0; i+1 < len(l); i += 2 {
		if l[i] == key {
			return l[i+1], true
		}
	}
	return "", false
}

// Equal reports whether l and o hold the same labels.
func (l Labels) Equal(o Labels) bool { return slices.Equal(l, o) }

// equalSet reports whether l holds exactly the labels of m.
func (l Labels) equalSet(m map[string]string) bool {
	if len(l) != 2*len(m) {
		return false
	}
	for i := 0; i+1 < len(l); i += 2 {
		if v, ok := m[l[i]]; !ok || v != l[i+1] {
			return false
		}
	}
	return true
}

// sort orders the pairs by key (keys are unique), so that equal label sets are equal slices. An
// insertion sort in place: a Node has about ten labels.
func (l Labels) sort() {
	for i := 2; i+1 < len(l); i += 2 {
		for j := i; j >= 2 && l[j-2] > l[j]; j -= 2 {
			l[j-2], l[j-1], l[j], l[j+1] = l[j], l[j+1], l[j-2], l[j-1]
		}
	}
}
