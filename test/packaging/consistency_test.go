// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package packaging

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/nodeallow/nodeallow/test/testenv"
)

// TestChartCRDsMatchGenerated keeps charts/nodeallow/crds a byte-for-byte copy
// of config/crd/bases, which controller-gen writes.
func TestChartCRDsMatchGenerated(t *testing.T) {
	generated, err := filepath.Glob(filepath.Join(testenv.CRDDirectory(), "*.yaml"))
	if err != nil || len(generated) == 0 {
		t.Fatalf("no CRDs in %s (%v); run `make manifests`", testenv.CRDDirectory(), err)
	}
	copies, _ := filepath.Glob(filepath.Join(chartDir(), "crds", "*.yaml"))
	var names []string
	for _, g := range generated {
		names = append(names, filepath.Base(g))
		want, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(chartDir(), "crds", filepath.Base(g)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("charts/nodeallow/crds/%s differs from config/crd/bases (%v); run: cp config/crd/bases/*.yaml charts/nodeallow/crds/",
				filepath.Base(g), err)
		}
	}
	for _, c := range copies {
		if !slices.Contains(names, filepath.Base(c)) {
			t.Errorf("charts/nodeallow/crds/%s has no generated original in config/crd/bases; remove it", filepath.Base(c))
		}
	}
}

// grant is one verb on one resource in one scope: "cluster", the controller's
// namespace, or the namespace Events about cluster-scoped objects go to.
type grant struct{ scope, group, resource, verb string }

func (g grant) String() string {
	return fmt.Sprintf("%s %s/%s in %s", g.verb, g.group, g.resource, g.scope)
}

const (
	scopeCluster    = "cluster"
	scopeController = "controller namespace"
	scopeEvents     = "events namespace"
)

// TestChartRBACMatchesGenerated compares the chart's controller RBAC with what
// the markers in controllers/ generate (config/rbac/role.yaml) plus the
// leader-election Role kustomize adds (config/rbac/leader_election_role.yaml).
// One difference is deliberate: the chart grants events.k8s.io Events in the
// "default" namespace only, where client-go records Events about cluster-scoped
// objects, instead of cluster-wide. The metrics roles must match too.
func TestChartRBACMatchesGenerated(t *testing.T) {
	objs := render(t, "nodeallow", "nodeallow-system", []string{filepath.Join(chartDir(), "ci", "default-values.yaml")})
	chart := map[grant]bool{}
	for _, o := range objs {
		switch {
		case o.GetKind() == "ClusterRole" && o.GetName() == "nodeallow-manager":
			addGrants(t, chart, scopeCluster, o)
		case o.GetKind() == "Role" && o.GetNamespace() == "nodeallow-system":
			addGrants(t, chart, scopeController, o)
		case o.GetKind() == "Role" && o.GetNamespace() == "default":
			addGrants(t, chart, scopeEvents, o)
		case o.GetKind() == "Role" || o.GetKind() == "ClusterRole" && !strings.HasPrefix(o.GetName(), "nodeallow-metrics-"):
			t.Errorf("%s %s/%s is not covered by this comparison; extend the test", o.GetKind(), o.GetNamespace(), o.GetName())
		}
	}

	generated := map[grant]bool{}
	for _, o := range readObjects(t, filepath.Join("config", "rbac", "role.yaml"), filepath.Join("config", "rbac", "leader_election_role.yaml")) {
		scope := scopeCluster
		if o.GetKind() == "Role" {
			scope = scopeController
		}
		addGrants(t, generated, scope, o)
	}
	// The deliberate difference: cluster-wide in the markers, one namespace in the chart.
	for g := range generated {
		if g.group == "events.k8s.io" && g.scope == scopeCluster {
			delete(generated, g)
			g.scope = scopeEvents
			generated[g] = true
		}
	}
	for _, g := range sortedGrants(generated) {
		if !chart[g] {
			t.Errorf("the markers grant %s, the chart does not: add it to charts/nodeallow/templates/rbac-*.yaml", g)
		}
	}
	for _, g := range sortedGrants(chart) {
		if !generated[g] {
			t.Errorf("the chart grants %s, the markers in controllers/ do not: remove it, or add the marker and run `make manifests`", g)
		}
	}

	for _, pair := range [][2]string{
		{"nodeallow-metrics-auth", "config/rbac/metrics_auth_role.yaml"},
		{"nodeallow-metrics-reader", "config/rbac/metrics_reader_role.yaml"},
	} {
		kust := readObjects(t, pair[1])
		if len(kust) != 1 {
			t.Fatalf("%s holds %d objects, want 1", pair[1], len(kust))
		}
		if got, want := rulesOf(t, findOne(t, objs, "ClusterRole", pair[0])), rulesOf(t, kust[0]); !equalRules(got, want) {
			t.Errorf("ClusterRole %s rules %v differ from %s's %v", pair[0], got, pair[1], want)
		}
	}
}

// TestKustomizeMatchesChart renders config/default with kubectl kustomize,
// creates every object in the real API server (server-side dry run, strict
// fields) and compares its Deployment with the chart's: same security
// settings, probes and replicas, and no flag the chart lacks.
func TestKustomizeMatchesChart(t *testing.T) {
	kubectl, err := testenv.Kubectl()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(kubectl, "kustomize", filepath.Join(testenv.RepoRoot(), "config", "default")).Output()
	if err != nil {
		t.Fatalf("kubectl kustomize config/default: %v", err)
	}
	kust, err := decodeObjects(string(out))
	if err != nil {
		t.Fatal(err)
	}
	applyDryRun(t, kust)
	samples, err := exec.Command(kubectl, "kustomize", filepath.Join(testenv.RepoRoot(), "config", "samples")).Output()
	if err != nil {
		t.Fatalf("kubectl kustomize config/samples: %v", err)
	}
	sampleObjs, err := decodeObjects(string(samples))
	if err != nil {
		t.Fatal(err)
	}
	applyDryRun(t, sampleObjs)

	chart := render(t, "nodeallow", "nodeallow-system", []string{filepath.Join(chartDir(), "ci", "default-values.yaml")})
	kd := findOne(t, kust, "Deployment", "nodeallow-controller-manager")
	cd := findOne(t, chart, "Deployment", "nodeallow")
	if k, c := nested[int64](t, kd, "spec", "replicas"), nested[int64](t, cd, "spec", "replicas"); k != c {
		t.Errorf("replicas: kustomize %d, chart %d", k, c)
	}
	kPod, cPod := nestedMap(t, kd, "spec", "template", "spec"), nestedMap(t, cd, "spec", "template", "spec")
	if !equalJSON(kPod["securityContext"], cPod["securityContext"]) {
		t.Errorf("pod securityContext: kustomize %v, chart %v", kPod["securityContext"], cPod["securityContext"])
	}
	kc, cc := kPod["containers"].([]any)[0].(map[string]any), cPod["containers"].([]any)[0].(map[string]any)
	for _, field := range []string{"securityContext", "command"} {
		if !equalJSON(kc[field], cc[field]) {
			t.Errorf("container %s: kustomize %v, chart %v", field, kc[field], cc[field])
		}
	}
	for _, probe := range []string{"livenessProbe", "readinessProbe"} {
		kp, _ := kc[probe].(map[string]any)["httpGet"].(map[string]any)
		cp, _ := cc[probe].(map[string]any)["httpGet"].(map[string]any)
		if kp["path"] != cp["path"] || containerPort(t, kc, "probes") != containerPort(t, cc, "probes") {
			t.Errorf("%s: kustomize %v, chart %v", probe, kp, cp)
		}
	}
	chartFlags := flagNames(stringList(cc["args"]))
	for _, f := range flagNames(stringList(kc["args"])) {
		if !slices.Contains(chartFlags, f) {
			t.Errorf("kustomize passes %s, the chart does not", f)
		}
	}
	for _, want := range []string{"--cluster-name", "--leader-elect", "--health-probe-bind-address", "--metrics-bind-address"} {
		if !slices.Contains(flagNames(stringList(kc["args"])), want) {
			t.Errorf("kustomize's Deployment lacks %s", want)
		}
	}
}

// applyDryRun creates each object in a server-side dry run with strict field
// validation; the namespace objects need is created for real first.
func applyDryRun(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == "Namespace" {
			createNamespace(t, o.GetName())
		}
	}
	for _, o := range objs {
		if o.GetKind() == "Namespace" || o.GetKind() == "CustomResourceDefinition" {
			continue
		}
		if err := adminClient.Create(t.Context(), o.DeepCopy(), clientDryRunStrict()...); err != nil {
			t.Errorf("server-side dry run of %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
	}
}

// flagNames returns the --name part of each argument.
func flagNames(args []string) []string {
	var out []string
	for _, a := range args {
		name, _, _ := strings.Cut(a, "=")
		out = append(out, name)
	}
	return out
}

// readObjects decodes repository files (paths relative to the root).
func readObjects(t *testing.T, paths ...string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, p := range paths {
		raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), p))
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decodeObjects(string(raw))
		if err != nil {
			t.Fatalf("decoding %s: %v", p, err)
		}
		out = append(out, objs...)
	}
	return out
}

// rulesOf converts a decoded Role or ClusterRole's rules.
func rulesOf(t *testing.T, o *unstructured.Unstructured) []rbacv1.PolicyRule {
	t.Helper()
	var role rbacv1.ClusterRole
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &role); err != nil {
		t.Fatalf("decoding the rules of %s %s: %v", o.GetKind(), o.GetName(), err)
	}
	return role.Rules
}

// addGrants adds every (group, resource, verb) of o's rules in scope.
func addGrants(t *testing.T, into map[grant]bool, scope string, o *unstructured.Unstructured) {
	t.Helper()
	for _, r := range rulesOf(t, o) {
		if len(r.NonResourceURLs) > 0 || len(r.ResourceNames) > 0 {
			t.Errorf("%s %s has a rule this test cannot compare: %v", o.GetKind(), o.GetName(), r)
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					into[grant{scope, g, res, v}] = true
				}
			}
		}
	}
}

func sortedGrants(m map[grant]bool) []grant {
	out := make([]grant, 0, len(m))
	for g := range m {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// equalRules compares rule lists as sets of (group, resource or URL, verb).
func equalRules(a, b []rbacv1.PolicyRule) bool {
	flat := func(rules []rbacv1.PolicyRule) []string {
		var out []string
		for _, r := range rules {
			for _, v := range r.Verbs {
				for _, u := range r.NonResourceURLs {
					out = append(out, "url "+u+" "+v)
				}
				for _, g := range r.APIGroups {
					for _, res := range r.Resources {
						out = append(out, g+"/"+res+" "+v)
					}
				}
			}
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return slices.Equal(flat(a), flat(b))
}

// equalJSON compares two decoded YAML values.
func equalJSON(a, b any) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}
