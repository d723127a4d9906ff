// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

// Package testenv locates what envtest-based tests need (the locally built
// control plane and the generated CRDs) from any working directory.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// controlPlaneBinaries are the programs envtest starts; kubectl is for tests that shell out to it.
var controlPlaneBinaries = []string{"kube-apiserver", "etcd", "kubectl"}

// RepoRoot returns the repository's root folder, found from this source file's
// location so that `go test` works from any package and any working directory.
func RepoRoot() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("testenv: runtime.Caller failed; cannot locate the repository root")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// BinaryAssetsDirectory returns the folder holding kube-apiserver, etcd and
// kubectl: $KUBEBUILDER_ASSETS when set, otherwise the repository's bin/k8s,
// which hack/build-control-plane.sh fills. The error says how to build them.
func BinaryAssetsDirectory() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	source := "KUBEBUILDER_ASSETS"
	if dir == "" {
		dir = filepath.Join(RepoRoot(), "bin", "k8s")
		source = "the repository's bin/k8s"
	}
	var missing []error
	for _, name := range controlPlaneBinaries {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			missing = append(missing, fmt.Errorf("%s: %w", name, err))
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("control plane binaries missing in %s (%s): %w; build them with `make control-plane`",
			dir, source, errors.Join(missing...))
	}
	return dir, nil
}

// CRDDirectory returns config/crd/bases, where controller-gen writes the CRDs.
func CRDDirectory() string {
	return filepath.Join(RepoRoot(), "config", "crd", "bases")
}

// NewEnvironment returns an envtest.Environment that runs the locally built
// control plane with the project's CRDs installed.
func NewEnvironment() (*envtest.Environment, error) {
	assets, err := BinaryAssetsDirectory()
	if err != nil {
		return nil, err
	}
	return &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{CRDDirectory()},
		ErrorIfCRDPathMissing: true,
	}, nil
}

// Kubectl returns the path of the locally built kubectl.
func Kubectl() (string, error) {
	dir, err := BinaryAssetsDirectory()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "kubectl"), nil
}

// WriteKubeconfig stores cfg's client certificate credentials as a kubeconfig
// file, for processes (the controller binary, kubectl) run against envtest.
func WriteKubeconfig(cfg *rest.Config, path string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["local"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
	kc.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "admin"}
	kc.CurrentContext = "local"
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating the kubeconfig's folder: %w", err)
	}
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return nil
}
