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
	"syscall"

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

	if err := testenv.WriteKubeconfig(cfg, kubeconfig); err != nil {
		return err
	}
	fmt.Printf("localcluster: kube-apiserver at %s; kubeconfig %s\n", cfg.Host, kubeconfig)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	fmt.Println("localcluster: stopping")
	return nil
}
