// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package packaging

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
	"github.com/nodeallow/nodeallow/test/testenv"
)

// One API server serves every test in the package; tests keep apart by using
// their own namespaces, release names and object names.
var (
	adminConfig     *rest.Config
	adminClient     client.Client
	adminKubeconfig string
	scheme          = runtime.NewScheme()
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		fmt.Fprintf(os.Stderr, "packaging: building the scheme: %v\n", err)
		return 1
	}
	if err := nodeallowv1alpha1.AddToScheme(scheme); err != nil {
		fmt.Fprintf(os.Stderr, "packaging: building the scheme: %v\n", err)
		return 1
	}
	env, err := testenv.NewEnvironment()
	if err != nil {
		fmt.Fprintf(os.Stderr, "packaging: %v\n", err)
		return 1
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "packaging: starting kube-apiserver and etcd: %v\n", err)
		return 1
	}
	defer stopEnv(env)
	adminConfig = cfg
	adminClient, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintf(os.Stderr, "packaging: creating the admin client: %v\n", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "nodeallow-packaging-kube-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "packaging: %v\n", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	adminKubeconfig = filepath.Join(dir, "admin.kubeconfig")
	if err := writeKubeconfig(cfg, adminKubeconfig, ""); err != nil {
		fmt.Fprintf(os.Stderr, "packaging: %v\n", err)
		return 1
	}
	code := m.Run()
	cleanupBinaries()
	return code
}

func stopEnv(env *envtest.Environment) {
	if err := env.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "packaging: stopping kube-apiserver and etcd: %v\n", err)
	}
}
