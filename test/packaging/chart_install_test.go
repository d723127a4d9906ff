// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package packaging

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestHelmInstallUpgradeUninstall installs the chart with every optional part
// into the real API server, checks that each rendered object exists, upgrades
// it, and uninstalls it: NodeAllowlists and the CRD must stay (docs/install.md).
// The minimal values are installed too. The ServiceMonitor's and the
// PrometheusRule's CRDs come from testdata (minimal stand-ins declaring the
// fields the chart sets), since envtest has no prometheus-operator.
func TestHelmInstallUpgradeUninstall(t *testing.T) {
	ctx := context.Background()
	createFromFile(t, testdata("servicemonitor-crd.yaml"))
	createFromFile(t, testdata("prometheusrule-crd.yaml"))

	for _, tc := range []struct{ release, values string }{
		{"full", testdata("values-full.yaml")},
		{"minimal", testdata("values-minimal.yaml")},
	} {
		t.Run(tc.release, func(t *testing.T) {
			ns := tc.release
			objs := render(t, tc.release, ns, []string{tc.values})
			// First every object alone, strictly: a misspelled field in a template fails here,
			// where an ordinary create would drop it silently.
			createNamespace(t, ns)
			for _, o := range objs {
				if o.GetKind() == "CustomResourceDefinition" {
					continue
				}
				if err := adminClient.Create(ctx, o.DeepCopy(), clientDryRunStrict()...); err != nil {
					t.Errorf("server-side dry run of %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
				}
			}
			if out, stderr, err := runHelm(t, "install", tc.release, chartDir(), "--kubeconfig", adminKubeconfig,
				"--namespace", ns, "--create-namespace", "--values", tc.values); err != nil {
				t.Fatalf("helm install %s: %v\n%s%s", tc.release, err, out, stderr)
			}
			for _, o := range objs {
				got := &unstructured.Unstructured{}
				got.SetGroupVersionKind(o.GroupVersionKind())
				if err := adminClient.Get(ctx, client.ObjectKeyFromObject(o), got); err != nil {
					t.Errorf("%s %s/%s was rendered but is not in the API server: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
				}
			}

			deployKey := client.ObjectKey{Namespace: ns, Name: tc.release + "-nodeallow"}
			if out, stderr, err := runHelm(t, "upgrade", tc.release, chartDir(), "--kubeconfig", adminKubeconfig,
				"--namespace", ns, "--values", tc.values, "--set", "replicaCount=1", "--set", "leaderElection.enabled=true"); err != nil {
				t.Fatalf("helm upgrade %s: %v\n%s%s", tc.release, err, out, stderr)
			}
			var deploy appsv1.Deployment
			if err := adminClient.Get(ctx, deployKey, &deploy); err != nil {
				t.Fatal(err)
			}
			if *deploy.Spec.Replicas != 1 {
				t.Errorf("after helm upgrade --set replicaCount=1 the Deployment has %d replicas", *deploy.Spec.Replicas)
			}

			if out, stderr, err := runHelm(t, "uninstall", tc.release, "--kubeconfig", adminKubeconfig, "--namespace", ns, "--wait"); err != nil {
				t.Fatalf("helm uninstall %s: %v\n%s%s", tc.release, err, out, stderr)
			}
			for _, o := range objs {
				got := &unstructured.Unstructured{}
				got.SetGroupVersionKind(o.GroupVersionKind())
				err := adminClient.Get(ctx, client.ObjectKeyFromObject(o), got)
				kept := o.GetKind() == "CustomResourceDefinition" || o.GetKind() == "NodeAllowlist"
				switch {
				case kept && err != nil:
					t.Errorf("%s %s is gone after helm uninstall; it must stay (%v)", o.GetKind(), o.GetName(), err)
				case !kept && !apierrors.IsNotFound(err) && got.GetDeletionTimestamp() == nil:
					t.Errorf("%s %s/%s is still there after helm uninstall (%v)", o.GetKind(), o.GetNamespace(), o.GetName(), err)
				}
				if kept && o.GetKind() == "NodeAllowlist" {
					forceDelete(t, o.GetName())
				}
			}
		})
	}
}

// createFromFile creates every object of a YAML file, rejecting unknown fields,
// and waits for CRDs to be served.
func createFromFile(t *testing.T, path string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeObjects(string(raw))
	if err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	for _, o := range objs {
		if err := adminClient.Create(context.Background(), o, client.FieldValidation("Strict")); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating %s %s from %s: %v", o.GetKind(), o.GetName(), path, err)
		}
		if o.GetKind() == "CustomResourceDefinition" {
			waitServed(t, o)
		}
	}
}

// clientDryRunStrict are the options of a server-side dry-run create that
// rejects unknown fields instead of dropping them.
func clientDryRunStrict() []client.CreateOption {
	return []client.CreateOption{client.DryRunAll, client.FieldValidation("Strict")}
}

// createNamespace creates namespace ns unless it exists.
func createNamespace(t *testing.T, ns string) {
	t.Helper()
	obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	if err := adminClient.Create(context.Background(), obj); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating namespace %s: %v", ns, err)
	}
}

// errNotEstablished is returned while a CRD is not yet served.
var errNotEstablished = errors.New("the CRD is not Established yet")

// waitServed waits until a CRD is Established.
func waitServed(t *testing.T, crd *unstructured.Unstructured) {
	t.Helper()
	err := poll(stepTimeout, func() error {
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(crd.GroupVersionKind())
		if err := adminClient.Get(context.Background(), client.ObjectKeyFromObject(crd), got); err != nil {
			return err
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, c := range conds {
			m := c.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				return nil
			}
		}
		return errNotEstablished
	})
	if err != nil {
		t.Fatalf("CRD %s: %v", crd.GetName(), err)
	}
	// The REST mapper of the admin client learns new kinds lazily; give discovery a moment.
	time.Sleep(200 * time.Millisecond)
}
