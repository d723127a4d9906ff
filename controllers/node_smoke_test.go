// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Nodes are the controller's input; this proves the real API server stores
// their status addresses (a subresource write) and lists them by label.
var _ = Describe("Nodes in the real API server", func() {
	It("stores status addresses and lists nodes by label", func() {
		names := []string{"smoke-a", "smoke-b", "smoke-c"}
		for i, name := range names {
			node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
				Name:   name,
				Labels: map[string]string{"nodeallow.io/smoke": "true"},
			}}
			Expect(k8sClient.Create(ctx, node)).To(Succeed())
			DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, node))).To(Succeed()) })

			node.Status.Addresses = []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: []string{"10.0.0.1", "10.0.0.2", "fd00::3"}[i]},
				{Type: corev1.NodeHostName, Address: name},
			}
			Expect(k8sClient.Status().Update(ctx, node)).To(Succeed())
		}

		var list corev1.NodeList
		Expect(k8sClient.List(ctx, &list, client.MatchingLabels{"nodeallow.io/smoke": "true"})).To(Succeed())
		got := map[string]string{}
		for _, n := range list.Items {
			for _, a := range n.Status.Addresses {
				if a.Type == corev1.NodeInternalIP {
					got[n.Name] = a.Address
				}
			}
		}
		Expect(got).To(Equal(map[string]string{"smoke-a": "10.0.0.1", "smoke-b": "10.0.0.2", "smoke-c": "fd00::3"}))
	})
})
