// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

// Package kubeletnode builds Nodes shaped like the ones a kubelet writes
// (labels, annotations, capacity, six conditions, 40 images, addresses), so
// that benchmarks measure what real Nodes cost, not what toy objects cost.
package kubeletnode

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Images is how many container images each Node reports in status.images.
const Images = 40

// conditionTypes are the conditions a kubelet (and a CNI) report.
var conditionTypes = []corev1.NodeConditionType{
	corev1.NodeNetworkUnavailable, corev1.NodeMemoryPressure, corev1.NodeDiskPressure,
	corev1.NodePIDPressure, corev1.NodeReady, "KernelDeadlock",
}

// Name is the name of Node i.
func Name(i int) string { return fmt.Sprintf("node-%06d", i) }

// InternalIP is the InternalIP address of Node i (unique for i below 2^24).
func InternalIP(i int) string { return fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255) }

// New returns Node i as a kubelet would have created it, with its status as
// the kubelet reports it and heartbeat times at heartbeat. It has no uid,
// resourceVersion or managedFields: the API server sets those.
func New(i int, heartbeat time.Time) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: Name(i),
			Labels: map[string]string{
				"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
				"kubernetes.io/arch": "amd64", "kubernetes.io/hostname": Name(i), "kubernetes.io/os": "linux",
				"node.kubernetes.io/instance-type": "m6i.2xlarge", "topology.kubernetes.io/region": "eu-west-1",
				"topology.kubernetes.io/zone": fmt.Sprintf("eu-west-1%c", 'a'+i%3), "pool": "workers",
			},
			Annotations: map[string]string{
				"node.alpha.kubernetes.io/ttl":                           "0",
				"volumes.kubernetes.io/controller-managed-attach-detach": "true",
				"csi.volume.kubernetes.io/nodeid":                        fmt.Sprintf(`{"ebs.csi.aws.com":"i-%017x"}`, i),
			},
		},
		Spec:   corev1.NodeSpec{PodCIDR: "10.244.1.0/24", ProviderID: fmt.Sprintf("aws:///eu-west-1a/i-%017x", i)},
		Status: Status(i, heartbeat),
	}
	return n
}

// Status returns the status of Node i as its kubelet reports it, with heartbeat times at heartbeat.
func Status(i int, heartbeat time.Time) corev1.NodeStatus {
	s := corev1.NodeStatus{
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: InternalIP(i)},
			{Type: corev1.NodeHostName, Address: Name(i)},
		},
		Capacity: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi"),
			corev1.ResourcePods: resource.MustParse("110"), corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
		},
		Allocatable: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("7910m"), corev1.ResourceMemory: resource.MustParse("31Gi"),
			corev1.ResourcePods: resource.MustParse("110"), corev1.ResourceEphemeralStorage: resource.MustParse("95Gi"),
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID: fmt.Sprintf("%032x", i), SystemUUID: fmt.Sprintf("ec2%029x", i), BootID: fmt.Sprintf("%032x", i*7919),
			KernelVersion: "6.1.0-28-cloud-amd64", OSImage: "Debian GNU/Linux 12 (bookworm)", ContainerRuntimeVersion: "containerd://2.1.0",
			KubeletVersion: "v1.37.2", OperatingSystem: "linux", Architecture: "amd64",
		},
		Conditions: Conditions(heartbeat),
	}
	for img := range Images {
		s.Images = append(s.Images, corev1.ContainerImage{
			Names: []string{
				fmt.Sprintf("registry.example.com/team-%02d/service-%02d@sha256:%064x", img%7, img, img*7919+i),
				fmt.Sprintf("registry.example.com/team-%02d/service-%02d:v1.%d.%d", img%7, img, img, i%100),
			},
			SizeBytes: int64(50_000_000 + img),
		})
	}
	return s
}

// Conditions returns the six conditions a kubelet reports, last heard of at heartbeat.
func Conditions(heartbeat time.Time) []corev1.NodeCondition {
	out := make([]corev1.NodeCondition, 0, len(conditionTypes))
	for _, t := range conditionTypes {
		c := corev1.NodeCondition{
			Type: t, Status: corev1.ConditionFalse,
			LastHeartbeatTime: metav1.NewTime(heartbeat), LastTransitionTime: metav1.NewTime(time.Unix(1_780_000_000, 0)),
			Reason: "KubeletHasSufficientResources", Message: "kubelet has sufficient resources available on this node",
		}
		if t == corev1.NodeReady {
			c.Status, c.Reason, c.Message = corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"
		}
		out = append(out, c)
	}
	return out
}
