// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os/exec"
	"strings"
	"testing"
)

// unneeded are module paths the manager must not link: each one cost resident memory for code the
// controller never runs (docs/benchmarks.md). controller-runtime's metrics/filters pulled in the first four;
// controllers/metricsauth does its job with client-go.
var unneeded = []string{
	"k8s.io/apiserver/",
	"github.com/google/cel-go/",
	"google.golang.org/grpc",
	"go.opentelemetry.io/",
	"k8s.io/component-base/",
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters",
}

// TestManagerLinksOnlyWhatItNeeds lists the packages the manager links (go list -deps) and fails on any of
// unneeded, naming the import chain's first step to look at (go mod why -m <module>).
func TestManagerLinksOnlyWhatItNeeds(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps .: %v", err)
	}
	pkgs := strings.Fields(string(out))
	if len(pkgs) < 100 {
		t.Fatalf("go list -deps listed only %d packages: %q", len(pkgs), out)
	}
	for _, p := range pkgs {
		for _, bad := range unneeded {
			if strings.HasPrefix(p, bad) {
				t.Errorf("the manager links %s (find who imports it: go mod why %s)", p, p)
			}
		}
	}
}
