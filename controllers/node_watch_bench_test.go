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
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"
)

// realisticNode builds a Node shaped like a real one (images, conditions,
// managedFields, annotations: 10–50 KB serialised), so the benchmark measures
// what the cache transform saves, not what a toy object costs.
func realisticNode(i int) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:            fmt.Sprintf("node-%06d", i),
			UID:             "0a1b2c3d-0000-4000-8000-000000000000",
			ResourceVersion: fmt.Sprint(1000 + i),
			Labels: map[string]string{
				"kubernetes.io/hostname": fmt.Sprintf("node-%06d", i), "kubernetes.io/os": "linux",
				"node.kubernetes.io/instance-type": "m6i.2xlarge", "topology.kubernetes.io/zone": "eu-west-1a",
				"pool": "workers",
			},
			Annotations: map[string]string{
				"node.alpha.kubernetes.io/ttl":                           "0",
				"volumes.kubernetes.io/controller-managed-attach-detach": "true",
				"csi.volume.kubernetes.io/nodeid":                        `{"ebs.csi.aws.com":"i-0123456789abcdef0"}`,
			},
		},
		Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24", ProviderID: "aws:///eu-west-1a/i-0123456789abcdef0"},
		Status: corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)},
				{Type: corev1.NodeHostName, Address: fmt.Sprintf("node-%06d", i)},
			},
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi")},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("7910m"), corev1.ResourceMemory: resource.MustParse("31Gi")},
			NodeInfo:    corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", OSImage: "Debian GNU/Linux 12", ContainerRuntimeVersion: "containerd://2.1.0"},
		},
	}
	for c := range 6 {
		n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{
			Type: corev1.NodeConditionType(fmt.Sprintf("Condition%d", c)), Status: corev1.ConditionFalse,
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(),
			Reason: "KubeletHasSufficientResources", Message: "kubelet has sufficient resources available on this node",
		})
	}
	for img := range 40 {
		n.Status.Images = append(n.Status.Images, corev1.ContainerImage{
			Names: []string{
				fmt.Sprintf("registry.example.com/team-%02d/service-%02d@sha256:%064x", img%7, img, img*7919+i),
				fmt.Sprintf("registry.example.com/team-%02d/service-%02d:v1.%d.%d", img%7, img, img, i%100),
			},
			SizeBytes: int64(50_000_000 + img),
		})
	}
	for m := range 4 {
		n.ManagedFields = append(n.ManagedFields, metav1.ManagedFieldsEntry{
			Manager: fmt.Sprintf("manager-%d", m), Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
			Time:     &metav1.Time{Time: time.Unix(1_780_000_000, 0)},
			FieldsV1: metav1.NewFieldsV1(strings.Repeat("f", 2048)),
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

// BenchmarkNodeCacheFootprint reports the heap a cached Node costs with and
// without the TrimNode transform; the ratio is what the transform saves at scale.
func BenchmarkNodeCacheFootprint(b *testing.B) {
	nodes := 5000
	if testing.Short() {
		nodes = 200
	}
	var full, trimmed uint64
	for b.Loop() {
		var keepFull, keepTrimmed []any
		full, keepFull = retainedBytes(nodes, func(i int) any { return realisticNode(i) })
		trimmed, keepTrimmed = retainedBytes(nodes, func(i int) any {
			out, _ := TrimNode(realisticNode(i))
			return out
		})
		runtime.KeepAlive(keepFull)
		runtime.KeepAlive(keepTrimmed)
	}
	b.ReportMetric(float64(full)/float64(nodes), "B/full-node")
	b.ReportMetric(float64(trimmed)/float64(nodes), "B/trimmed-node")
	b.ReportMetric(float64(full)/float64(max(trimmed, 1)), "ratio")
}

// BenchmarkNodeUpdatePredicate measures the per-event cost of rejecting a
// heartbeat-only Node update, the event the controller sees most at scale.
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
