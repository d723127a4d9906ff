// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package packaging

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestPodMeetsRestrictedStandard creates the chart's Pod (its Deployment's pod
// template) in a namespace that enforces the "restricted" Pod Security
// Standard, in a server-side dry run, so the API server's own PodSecurity
// admission judges it. A copy allowed to run as root must be refused, which
// shows the namespace really enforces.
func TestPodMeetsRestrictedStandard(t *testing.T) {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "restricted", Labels: map[string]string{
		"pod-security.kubernetes.io/enforce":         "restricted",
		"pod-security.kubernetes.io/enforce-version": "latest",
	}}}
	if err := adminClient.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	objs := render(t, "nodeallow", ns.Name, []string{filepath.Join(chartDir(), "ci", "default-values.yaml")})
	template := nestedMap(t, findOne(t, objs, "Deployment", "nodeallow"), "spec", "template")
	pod := &corev1.Pod{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(template, pod); err != nil {
		t.Fatalf("decoding the pod template: %v", err)
	}
	pod.Namespace, pod.Name = ns.Name, "nodeallow-restricted-check"
	if err := adminClient.Create(ctx, pod.DeepCopy(), client.DryRunAll); err != nil {
		t.Fatalf("the chart's Pod does not meet the restricted Pod Security Standard: %v", err)
	}

	root := pod.DeepCopy()
	nonRoot, uid := false, int64(0)
	root.Spec.SecurityContext.RunAsNonRoot, root.Spec.SecurityContext.RunAsUser = &nonRoot, &uid
	err := adminClient.Create(ctx, root, client.DryRunAll)
	if err == nil || !strings.Contains(err.Error(), "restricted") {
		t.Fatalf("a root Pod passed the namespace's restricted enforcement (%v); the check above proves nothing", err)
	}
}
