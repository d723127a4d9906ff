// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

// Command localcluster runs the locally built kube-apiserver and etcd (envtest)
// with nodeallow's CRDs installed, writes an admin kubeconfig, and keeps them
// running until interrupted. `make demo` and the end-to-end tests use it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/nodeallow/nodeallow/test/testenv"
)

func main() {
	kubeconfig := flag.String("write-kubeconfig", "", "where to write the admin kubeconfig (required)")
	flag.Parse()
	if *kubeconfig == "" {
		fmt.Fprintln(os.Stderr, "localcluster: --write-kubeconfig is required")
		os.Exit(2)
	}
	if err := run(*kubeconfig); err != nil {
		fmt.Fprintf(os.Stderr, "localcluster: %v\n", err)
		os.Exit(1)
	}
}

func run(kubeconfig string) error {
	env, err := testenv.NewEnvironment()
	if err != nil {
		return err
	}
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	defer func() { _ = env.Stop() }()

	if err := writeKubeconfig(cfg, kubeconfig); err != nil {
		return err
	}
	fmt.Printf("localcluster: kube-apiserver at %s; kubeconfig %s\n", cfg.Host, kubeconfig)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	fmt.Println("localcluster: stopping")
	return nil
}

// writeKubeconfig stores cfg's client certificate credentials as a kubeconfig file.
func writeKubeconfig(cfg *rest.Config, path string) error {
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
