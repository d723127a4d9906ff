// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package packaging

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/nodeallow/nodeallow/test/testenv"
)

// renderKubeVersion is the Kubernetes version charts are rendered for; helm
// template otherwise assumes v1.20, below the chart's kubeVersion.
const renderKubeVersion = "1.37.2"

// chartDir returns the chart's folder.
func chartDir() string { return filepath.Join(testenv.RepoRoot(), "charts", "nodeallow") }

// helmBinary returns bin/helm, failing the test with how to build it when it is missing.
func helmBinary(t *testing.T) string {
	t.Helper()
	path := filepath.Join(testenv.RepoRoot(), "bin", "helm")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("helm is missing at %s (%v): build it with `make helm` (or bash hack/helm.sh)", path, err)
	}
	return path
}

// runHelm runs helm with args and returns stdout, stderr and the error.
func runHelm(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(helmBinary(t), args...)
	// A private HOME keeps the user's helm repositories and plugins out of the test.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// render runs helm template for release in namespace with the given values
// files and --set pairs, and returns the objects it renders (CRDs included).
func render(t *testing.T, release, namespace string, valuesFiles []string, sets ...string) []*unstructured.Unstructured {
	t.Helper()
	out, stderr, err := renderRaw(t, release, namespace, valuesFiles, sets...)
	if err != nil {
		t.Fatalf("helm template %s with %v %v failed: %v\n%s", release, valuesFiles, sets, err, stderr)
	}
	objs, err := decodeObjects(out)
	if err != nil {
		t.Fatalf("decoding helm template output of %s: %v", release, err)
	}
	return objs
}

// renderRaw runs helm template and returns its raw output.
func renderRaw(t *testing.T, release, namespace string, valuesFiles []string, sets ...string) (string, string, error) {
	t.Helper()
	args := []string{"template", release, chartDir(), "--namespace", namespace, "--include-crds", "--kube-version", renderKubeVersion}
	for _, f := range valuesFiles {
		args = append(args, "--values", f)
	}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	return runHelm(t, args...)
}

// decodeObjects splits a multi-document YAML stream into objects, skipping
// empty documents. Numbers decode as int64, as they do from the API server.
func decodeObjects(stream string) ([]*unstructured.Unstructured, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(stream)))
	var objs []*unstructured.Unstructured
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		js, err := utilyaml.ToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("converting a document to JSON: %w", err)
		}
		if s := strings.TrimSpace(string(js)); s == "null" || s == "{}" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", js, err)
		}
		objs = append(objs, u)
	}
}

// find returns the objects of one kind, in rendering order.
func find(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// findOne returns the only object of kind named name, failing the test otherwise.
func findOne(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	var match []*unstructured.Unstructured
	for _, o := range find(objs, kind) {
		if o.GetName() == name {
			match = append(match, o)
		}
	}
	if len(match) != 1 {
		t.Fatalf("want exactly one %s %q in the rendered chart, found %d", kind, name, len(match))
	}
	return match[0]
}

// testdata returns the path of a file in testdata/.
func testdata(name string) string {
	return filepath.Join(testenv.RepoRoot(), "test", "packaging", "testdata", name)
}
