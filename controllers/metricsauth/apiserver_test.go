// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package metricsauth

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/nodeallow/nodeallow/test/testenv"
)

// TestAgainstAPIServer runs the filter as controller-runtime's metrics server does, against a real
// kube-apiserver with the RBAC of config/rbac: the controller's ServiceAccount bound to the metrics-auth
// ClusterRole, a scraper bound to metrics-reader, and one bound to nothing.
func TestAgainstAPIServer(t *testing.T) {
	env, err := testenv.NewEnvironment()
	if err != nil {
		t.Fatal(err)
	}
	admin, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	kube := kubernetes.NewForConfigOrDie(admin)
	ctx := context.Background()
	const ns = "monitoring"
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"metrics_reader_role.yaml", "metrics_auth_role.yaml"} {
		role := clusterRole(t, file)
		if _, err := kube.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating ClusterRole %s from config/rbac/%s: %v", role.Name, file, err)
		}
	}
	reader := serviceAccountToken(t, kube, ns, "prometheus", "metrics-reader")
	stranger := serviceAccountToken(t, kube, ns, "stranger", "")
	serviceAccountToken(t, kube, ns, "controller", "metrics-auth-role")
	serviceAccountToken(t, kube, ns, "unprivileged", "")
	// RBAC takes the bindings from an informer: wait until they are in effect, lest a denial be remembered.
	waitAllowed(t, kube, authorizationv1.SubjectAccessReviewSpec{User: "system:serviceaccount:" + ns + ":prometheus",
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/metrics", Verb: "get"}})
	waitAllowed(t, kube, authorizationv1.SubjectAccessReviewSpec{User: "system:serviceaccount:" + ns + ":controller",
		ResourceAttributes: &authorizationv1.ResourceAttributes{Group: "authorization.k8s.io", Resource: "subjectaccessreviews", Verb: "create"}})

	// The guard acts as a ServiceAccount, as the controller does in its Pod.
	guard := func(t *testing.T, sa string) (http.Handler, *[]string) {
		cfg := rest.CopyConfig(admin)
		cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":" + sa}
		httpClient, err := rest.HTTPClientFor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		filter, err := FilterProvider(cfg, httpClient)
		if err != nil {
			t.Fatal(err)
		}
		var logs []string
		log := funcr.New(func(_, args string) { logs = append(logs, args) }, funcr.Options{})
		h, err := filter(log, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("metrics")) }))
		if err != nil {
			t.Fatal(err)
		}
		return h, &logs
	}

	t.Run("with the metrics-auth ClusterRole", func(t *testing.T) {
		h, _ := guard(t, "controller")
		for _, c := range []struct {
			name, method, path, authorization string
			want                              int
		}{
			{"metrics-reader", http.MethodGet, "/metrics", "Bearer " + reader, http.StatusOK},
			{"metrics-reader again (remembered)", http.MethodGet, "/metrics", "Bearer " + reader, http.StatusOK},
			{"bound to nothing", http.MethodGet, "/metrics", "Bearer " + stranger, http.StatusForbidden},
			{"no token", http.MethodGet, "/metrics", "", http.StatusUnauthorized},
			{"a made-up token", http.MethodGet, "/metrics", "Bearer not-a-token", http.StatusUnauthorized},
			{"a token with a forged signature", http.MethodGet, "/metrics", "Bearer " + reader[:len(reader)-4] + "AAAA", http.StatusUnauthorized},
			{"metrics-reader, POST", http.MethodPost, "/metrics", "Bearer " + reader, http.StatusForbidden},
			{"metrics-reader, another path", http.MethodGet, "/debug/pprof/", "Bearer " + reader, http.StatusForbidden},
		} {
			rec := do(h, c.method, c.path, c.authorization)
			if rec.Code != c.want {
				t.Errorf("%s: status %d (%q), want %d", c.name, rec.Code, strings.TrimSpace(rec.Body.String()), c.want)
			}
		}
	})

	t.Run("without it", func(t *testing.T) {
		h, logs := guard(t, "unprivileged")
		rec := do(h, http.MethodGet, "/metrics", "Bearer "+reader)
		if rec.Code != http.StatusInternalServerError {
			t.Fatalf("status %d (%q), want 500", rec.Code, rec.Body.String())
		}
		want := `cannot create resource \"tokenreviews\" in API group \"authentication.k8s.io\"`
		if !slices.ContainsFunc(*logs, func(l string) bool { return strings.Contains(l, "is forbidden") && strings.Contains(l, want) }) {
			t.Errorf("no log line says the TokenReview is forbidden (%s): %q", want, *logs)
		}
	})
}

// waitAllowed waits until the API server grants what spec asks.
func waitAllowed(t *testing.T, kube kubernetes.Interface, spec authorizationv1.SubjectAccessReviewSpec) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		r, err := kube.AuthorizationV1().SubjectAccessReviews().Create(context.Background(),
			&authorizationv1.SubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status.Allowed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API server still denies %+v: %s", spec, r.Status.Reason)
		}
	}
}

// clusterRole reads one ClusterRole of config/rbac.
func clusterRole(t *testing.T, file string) *rbacv1.ClusterRole {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "rbac", file))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(data, &role); err != nil {
		t.Fatalf("config/rbac/%s: %v", file, err)
	}
	return &role
}

// serviceAccountToken creates ServiceAccount name in ns, binds it to clusterRole when that is set, and
// returns a token for it.
func serviceAccountToken(t *testing.T, kube kubernetes.Interface, ns, name, clusterRole string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}},
		metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if clusterRole != "" {
		if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-" + clusterRole},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	expiry := int64(time.Hour / time.Second)
	tr, err := kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("requesting a token for %s/%s: %v", ns, name, err)
	}
	return tr.Status.Token
}
