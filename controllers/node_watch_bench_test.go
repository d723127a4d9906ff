// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/nodeallow/nodeallow/test/kubeletnode"
)

// realisticNode is Node i as the API server stores it after its kubelet
// wrote it: kubeletnode's Node with uid, resourceVersion and four
// managedFields entries (10–50 KB serialised), so benchmarks measure what the
// cache and the decoder save, not what a toy object costs.
func realisticNode(i int) *corev1.Node {
	n := kubeletnode.New(i, time.Unix(1_790_000_000, 0))
	n.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Node"))
	n.UID = types.UID(fmt.Sprintf("0a1b2c3d-0000-4000-8000-%012d", i))
	n.ResourceVersion = fmt.Sprint(1000 + i)
	n.CreationTimestamp = metav1.NewTime(time.Unix(1_780_000_000, 0))
	for m := range 4 {
		n.ManagedFields = append(n.ManagedFields, metav1.ManagedFieldsEntry{
			Manager: fmt.Sprintf("manager-%d", m), Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
			Time: &metav1.Time{Time: time.Unix(1_780_000_000, 0)}, FieldsType: "FieldsV1",
			FieldsV1: metav1.NewFieldsV1(`{"f:status":{"f:conditions":{}}}` + strings.Repeat(" ", 2000)),
		})
	}
	return n
}

// retainedBytes returns the heap growth from keeping what build returns for n nodes.
func retainedBytes(n int, build func(i int) any) (uint64, []any) {
	keep := make([]any, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		keep[i] = build(i)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	return after.HeapAlloc - before.HeapAlloc, keep
}

// BenchmarkNodeCacheFootprint reports the heap a Node costs in full, as
// trimmingDecoder decodes it from protobuf (a corev1.Node with only the kept
// fields: what the cache held before source.Node), and as the NodeCache
// stores it (source.NodeOf of that, with its map entry); the ratio is full
// over stored.
func BenchmarkNodeCacheFootprint(b *testing.B) {
	nodes := 5000
	if testing.Short() {
		nodes = 200
	}
	encoded := make([][]byte, nodes)
	for i := range encoded {
		encoded[i] = protobufOf(b, realisticNode(i))
	}
	var full, decoded, stored uint64
	for b.Loop() {
		var keepFull, keepDecoded []any
		full, keepFull = retainedBytes(nodes, func(i int) any { return realisticNode(i) })
		d := newTrimmingDecoder()
		decode := func(i int) *corev1.Node {
			out, _, err := d.Decode(encoded[i], nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			return out.(*corev1.Node)
		}
		decoded, keepDecoded = retainedBytes(nodes, func(i int) any { return decode(i) })
		var changes []change
		c := newTestNodeCache(&changes)
		list := make([]any, nodes)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range list {
			list[i] = decode(i)
		}
		if err := (*nodeStore)(c).Replace(list, "1"); err != nil {
			b.Fatal(err)
		}
		clear(list)
		runtime.GC()
		runtime.ReadMemStats(&after)
		stored = after.HeapAlloc - before.HeapAlloc
		runtime.KeepAlive(keepFull)
		runtime.KeepAlive(keepDecoded)
		runtime.KeepAlive(c)
	}
	b.ReportMetric(float64(full)/float64(nodes), "B/full-node")
	b.ReportMetric(float64(decoded)/float64(nodes), "B/decoded-node")
	b.ReportMetric(float64(stored)/float64(nodes), "B/stored-node")
	b.ReportMetric(float64(full)/float64(max(stored, 1)), "ratio")
}

// BenchmarkNodeDecode compares decoding one realistic Node from protobuf in
// full (what a standard informer does for every heartbeat, the anchor) with
// trimmingDecoder, which the Node watch uses.
func BenchmarkNodeDecode(b *testing.B) {
	data := protobufOf(b, realisticNode(1))
	full := protobuf.NewSerializer(clientgoscheme.Scheme, clientgoscheme.Scheme)
	trimming := newTrimmingDecoder()
	b.Run("full", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, _, err := full.Decode(data, nil, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("trimming", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, _, err := trimming.Decode(data, nil, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkNodeHeartbeatStore measures the NodeCache's share of a
// heartbeat-only Node update, the event the controller sees most at scale:
// the decoded Node compared with the stored one and dropped (the whole cost
// per update, decoding included, is in test/scale).
func BenchmarkNodeHeartbeatStore(b *testing.B) {
	d := newTrimmingDecoder()
	decode := func(n *corev1.Node) *corev1.Node {
		out, _, err := d.Decode(protobufOf(b, n), nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		return out.(*corev1.Node)
	}
	oldNode := realisticNode(1)
	newNode := oldNode.DeepCopy()
	newNode.ResourceVersion = "999999"
	newNode.Status.Conditions[0].LastHeartbeatTime = metav1.NewTime(time.Now().Add(time.Minute))
	var changes []change
	c := newTestNodeCache(&changes)
	s := (*nodeStore)(c)
	if err := s.Replace([]any{decode(oldNode)}, "1"); err != nil {
		b.Fatal(err)
	}
	heartbeat := decode(newNode)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Update(heartbeat); err != nil {
			b.Fatal(err)
		}
	}
	if len(changes) != 0 {
		b.Fatal("a heartbeat-only update was handed on as a change")
	}
}
