// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

// Command localcluster runs the locally built kube-apiserver and etcd (envtest)
// with nodeallow's CRDs installed, writes an admin kubeconfig, and keeps them
// running until interrupted. `make demo` and the end-to-end tests use it.
//
// SIGUSR1 stops kube-apiserver (SIGTERM, as a rollout or a node drain would)
// and SIGUSR2 starts it again on the same port with the same certificates,
// while etcd and its data stay: the end-to-end tests' API server outage. Each
// prints a line ("localcluster: kube-apiserver stopped" / "started") when done.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

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
	// A folder of our own for kube-apiserver's certificates: envtest removes a folder it created
	// when kube-apiserver stops, and a restart would then serve with a new CA the kubeconfig does
	// not trust.
	certDir, err := os.MkdirTemp("", "localcluster-apiserver-")
	if err != nil {
		return fmt.Errorf("creating kube-apiserver's certificate folder: %w", err)
	}
	defer func() { _ = os.RemoveAll(certDir) }()
	env.ControlPlane.APIServer = &envtest.APIServer{CertDir: certDir}
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
	outage := make(chan os.Signal, 4)
	signal.Notify(outage, syscall.SIGUSR1, syscall.SIGUSR2)
	stopped := false
	for {
		select {
		case <-ctx.Done():
			fmt.Println("localcluster: stopping")
			return nil
		case sig := <-outage:
			if stopped, err = toggle(env.ControlPlane.APIServer, sig, stopped); err != nil {
				return err
			}
		}
	}
}

// toggle stops kube-apiserver on SIGUSR1 and starts it again on SIGUSR2, and
// reports whether it is stopped now; a signal that finds it already in that
// state only prints the line again (envtest would start a second one).
func toggle(apiServer *envtest.APIServer, sig os.Signal, stopped bool) (bool, error) {
	addr := apiServer.HostPort() // the secure port: the only one envtest serves
	if sig == syscall.SIGUSR1 {
		if !stopped {
			// Open watches keep kube-apiserver draining until envtest's stop timeout
			// (KUBEBUILDER_CONTROLPLANE_STOP_TIMEOUT), then envtest kills it, as the
			// kubelet does after a static Pod's grace period: that is still a stop.
			if err := apiServer.Stop(); err != nil {
				fmt.Printf("localcluster: %v\n", err)
			}
			if err := waitPortFree(addr, 10*time.Second); err != nil {
				return false, fmt.Errorf("stopping kube-apiserver (SIGUSR1): %w", err)
			}
		}
		fmt.Println("localcluster: kube-apiserver stopped")
		return true, nil
	}
	if stopped {
		if err := apiServer.Start(); err != nil {
			return true, fmt.Errorf("starting kube-apiserver again (SIGUSR2): %w", err)
		}
	}
	fmt.Println("localcluster: kube-apiserver started")
	return false, nil
}

// waitPortFree waits until nothing listens on addr any more (a killed
// kube-apiserver may take a moment to go), so that a restart can bind it.
func waitPortFree(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		l, err := net.Listen("tcp", addr)
		if err == nil {
			return l.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is still in use %s after kube-apiserver was stopped: %w", addr, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
