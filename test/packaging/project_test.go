// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package packaging

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
	"github.com/nodeallow/nodeallow/test/testenv"
)

// kubebuilderProject is the part of kubebuilder's PROJECT file (config version 3) these checks read.
type kubebuilderProject struct {
	CLIVersion  string   `json:"cliVersion"`
	Domain      string   `json:"domain"`
	Layout      []string `json:"layout"`
	ProjectName string   `json:"projectName"`
	Repo        string   `json:"repo"`
	Version     string   `json:"version"`
	Resources   []struct {
		API *struct {
			CRDVersion string `json:"crdVersion"`
			Namespaced bool   `json:"namespaced"`
		} `json:"api"`
		Controller bool   `json:"controller"`
		Domain     string `json:"domain"`
		Group      string `json:"group"`
		Kind       string `json:"kind"`
		Path       string `json:"path"`
		Version    string `json:"version"`
	} `json:"resources"`
}

// TestProjectFileMatchesCode checks that PROJECT describes this repository as
// kubebuilder 4.16 expects: the go/v4 layout, the module path, and the one
// resource with the API group, version, kind, path and scope the code has.
func TestProjectFileMatchesCode(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "PROJECT"))
	if err != nil {
		t.Fatal(err)
	}
	var p kubebuilderProject
	if err := utilyaml.UnmarshalStrict(raw, &p); err != nil {
		t.Fatalf("PROJECT does not parse as kubebuilder config version 3: %v", err)
	}
	gomod, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	module := strings.TrimPrefix(strings.SplitN(string(gomod), "\n", 2)[0], "module ")
	if p.Version != "3" || !strings.HasPrefix(p.CLIVersion, "4.16.") || len(p.Layout) != 1 || p.Layout[0] != "go.kubebuilder.io/v4" {
		t.Errorf("PROJECT version %q, cliVersion %q, layout %v; want 3, 4.16.x, [go.kubebuilder.io/v4]", p.Version, p.CLIVersion, p.Layout)
	}
	if p.Repo != module || p.ProjectName != "nodeallow" {
		t.Errorf("PROJECT repo %q, projectName %q; want %q, nodeallow", p.Repo, p.ProjectName, module)
	}
	if len(p.Resources) != 1 {
		t.Fatalf("PROJECT lists %d resources, want the NodeAllowlist only", len(p.Resources))
	}
	r := p.Resources[0]
	gv := nodeallowv1alpha1.GroupVersion
	if r.Group+"."+r.Domain != gv.Group || p.Domain != r.Domain || r.Version != gv.Version || r.Kind != "NodeAllowlist" {
		t.Errorf("PROJECT resource %s.%s/%s %s, the code has %s %s (domain %s)", r.Group, r.Domain, r.Version, r.Kind, gv, "NodeAllowlist", p.Domain)
	}
	if r.Path != module+"/api/"+gv.Version || !r.Controller {
		t.Errorf("PROJECT resource path %q controller %v, want %s/api/%s and true", r.Path, r.Controller, module, gv.Version)
	}
	// NodeAllowlist is cluster-scoped (+kubebuilder:resource:scope=Cluster); kubebuilder records that by omitting namespaced.
	crd := readObjects(t, filepath.Join("config", "crd", "bases", "nodeallow.io_nodeallowlists.yaml"))[0]
	scope := nested[string](t, crd, "spec", "scope")
	if r.API == nil || r.API.CRDVersion != "v1" || r.API.Namespaced != (scope == "Namespaced") {
		t.Errorf("PROJECT api %+v does not match the CRD (v1, scope %s)", r.API, scope)
	}
}
