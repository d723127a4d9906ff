// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

// Package release checks what a release is built from: one version for the controller binary, the chart and
// the Salt extension's wheel and sdist.
package release

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/nodeallow/nodeallow/test/testenv"
)

// versionFile reads the repository's VERSION file, the one source of the version.
func versionFile(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "VERSION"))
	if err != nil {
		t.Fatalf("reading VERSION: %v", err)
	}
	v := strings.TrimSpace(string(raw))
	// X.Y.Z or X.Y.ZrcN: a SemVer core for the chart and a PEP 440 version for the wheel, spelled alike.
	if !regexp.MustCompile(`^\d+\.\d+\.\d+((a|b|rc)\d+)?$`).MatchString(v) {
		t.Fatalf("VERSION holds %q; want X.Y.Z (hack/dist.sh accepts the same)", v)
	}
	return v
}

// makeDryRun returns what `make -n <args>` would run in the repository.
func makeDryRun(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("make", append([]string{"-n", "--no-print-directory"}, args...)...)
	cmd.Dir = testenv.RepoRoot()
	// The Makefile's own default, not a VERSION the caller's environment may carry.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VERSION=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestOneVersionForBinaryChartAndSaltExtension checks that the controller binary (make build's -X
// main.version), the chart's appVersion and the Salt extension (make dist, pyproject.toml) all take the
// VERSION file's version, and that `make dist VERSION=x.y.z` overrides it for a release.
func TestOneVersionForBinaryChartAndSaltExtension(t *testing.T) {
	root := testenv.RepoRoot()
	version := versionFile(t)

	if build := makeDryRun(t, "build"); !strings.Contains(build, `-X main.version=`+version+`"`) {
		t.Errorf("make build does not stamp main.version=%s; it runs:\n%s", version, build)
	}
	if dist := makeDryRun(t, "dist"); !strings.Contains(dist, `VERSION="`+version+`" bash hack/dist.sh`) {
		t.Errorf("make dist does not build version %s; it runs:\n%s", version, dist)
	}
	if dist := makeDryRun(t, "dist", "VERSION=9.8.7"); !strings.Contains(dist, `VERSION="9.8.7" bash hack/dist.sh`) {
		t.Errorf("make dist VERSION=9.8.7 does not override the version; it runs:\n%s", dist)
	}

	raw, err := os.ReadFile(filepath.Join(root, "charts", "nodeallow", "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(raw, &chart); err != nil {
		t.Fatalf("charts/nodeallow/Chart.yaml: %v", err)
	}
	if chart.AppVersion != version {
		t.Errorf("the chart's appVersion is %q, VERSION is %q: make them agree", chart.AppVersion, version)
	}

	// The Salt extension reads saltext-nodeallow/VERSION (a link to the repository's) through setuptools.
	ext, err := os.ReadFile(filepath.Join(root, "saltext-nodeallow", "VERSION"))
	if err != nil {
		t.Fatalf("saltext-nodeallow/VERSION (a link to ../VERSION): %v", err)
	}
	if got := strings.TrimSpace(string(ext)); got != version {
		t.Errorf("saltext-nodeallow/VERSION holds %q, VERSION %q: it must be a link to ../VERSION", got, version)
	}
	pyproject, err := os.ReadFile(filepath.Join(root, "saltext-nodeallow", "pyproject.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`dynamic = ["version"]`, `version = {file = "VERSION"}`} {
		if !strings.Contains(string(pyproject), want) {
			t.Errorf("saltext-nodeallow/pyproject.toml lacks %s: the wheel's version would not be VERSION's", want)
		}
	}
}
