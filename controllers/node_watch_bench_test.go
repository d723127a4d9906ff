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
	"sigs.k8s.io/controller-runtime/pkg/event"

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

// BenchmarkNodeCacheFootprint reports the heap a cached Node costs in full,
// trimmed by TrimNode, and as the Node watch stores it (decoded from protobuf
// by trimmingDecoder, label keys and common values shared); the ratio is full
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
	var full, trimmed, stored uint64
	for b.Loop() {
		var keepFull, keepTrimmed, keepStored []any
		full, keepFull = retainedBytes(nodes, func(i int) any { return realisticNode(i) })
		trimmed, keepTrimmed = retainedBytes(nodes, func(i int) any {
			out, _ := TrimNode(realisticNode(i))
			return out
		})
		d := newTrimmingDecoder()
		stored, keepStored = retainedBytes(nodes, func(i int) any {
			out, _, err := d.Decode(encoded[i], nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			return out
		})
		runtime.KeepAlive(keepFull)
		runtime.KeepAlive(keepTrimmed)
		runtime.KeepAlive(keepStored)
	}
	b.ReportMetric(float64(full)/float64(nodes), "B/full-node")
	b.ReportMetric(float64(trimmed)/float64(nodes), "B/trimmed-node")
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

// BenchmarkNodeUpdatePredicate measures the predicate's share of a
// heartbeat-only Node update, the event the controller sees most at scale
// (the whole cost per update, decoding included, is in test/scale).
func BenchmarkNodeUpdatePredicate(b *testing.B) {
	oldNode := realisticNode(1)
	newNode := oldNode.DeepCopy()
	newNode.ResourceVersion = "999999"
	newNode.Status.Conditions[0].LastHeartbeatTime = metav1.NewTime(time.Now().Add(time.Minute))
	oldT, _ := TrimNode(oldNode)
	newT, _ := TrimNode(newNode)
	pred := nodeChangePredicate()
	b.ReportAllocs()
	for b.Loop() {
		if pred.Update(updateEvent(oldT.(*corev1.Node), newT.(*corev1.Node))) {
			b.Fatal("a heartbeat-only update passed the predicate")
		}
	}
}

func updateEvent(oldNode, newNode *corev1.Node) event.UpdateEvent {
	return event.UpdateEvent{ObjectOld: oldNode, ObjectNew: newNode}
}
