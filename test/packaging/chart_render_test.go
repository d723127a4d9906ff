// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package packaging

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/nodeallow/nodeallow/test/testenv"
)

// TestHelmLint lints the chart strictly with the values chart CI uses and
// with every values file of these tests.
func TestHelmLint(t *testing.T) {
	for _, values := range []string{filepath.Join(chartDir(), "ci", "default-values.yaml"), testdata("values-full.yaml"), testdata("values-minimal.yaml")} {
		out, stderr, err := runHelm(t, "lint", chartDir(), "--strict", "--kube-version", renderKubeVersion, "--values", values)
		if err != nil {
			t.Errorf("helm lint --strict with %s failed: %v\n%s%s", filepath.Base(values), err, out, stderr)
		}
	}
}

// TestHelmLintRequiresClusterName checks that the chart's own defaults do not
// pass: a cluster name has to be chosen.
func TestHelmLintRequiresClusterName(t *testing.T) {
	out, stderr, err := runHelm(t, "lint", chartDir(), "--kube-version", renderKubeVersion)
	if err == nil {
		t.Fatalf("helm lint without clusterName passed; want a schema error\n%s", out)
	}
	if !strings.Contains(out+stderr, "/clusterName") {
		t.Errorf("helm lint without clusterName failed without naming clusterName:\n%s%s", out, stderr)
	}
}

// TestSchemaRejectsBadValues renders each values file in testdata/rejected and
// wants helm to refuse it with an error that names the field in the file's
// "# want:" line.
func TestSchemaRejectsBadValues(t *testing.T) {
	files, err := filepath.Glob(testdata("rejected/*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no values files in testdata/rejected (%v)", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			want := wantLine(t, file)
			out, stderr, err := renderRaw(t, "rejected", "rejected", []string{file})
			if err == nil {
				t.Fatalf("helm template accepted %s; want a schema error naming %q\n%s", file, want, out)
			}
			if !strings.Contains(stderr, "values don't meet the specifications of the schema") {
				t.Errorf("helm template refused %s, but not through the schema:\n%s", file, stderr)
			}
			if !strings.Contains(stderr, want) {
				t.Errorf("helm template refused %s without naming %q:\n%s", file, want, stderr)
			}
		})
	}
}

// wantLine returns the text after "# want: " in a values file.
func wantLine(t *testing.T, file string) string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if w, ok := strings.CutPrefix(sc.Text(), "# want: "); ok {
			return w
		}
	}
	t.Fatalf("%s has no '# want: <text the error must contain>' line", file)
	return ""
}

// TestRenderDefaults checks what the issue requires of the default install.
func TestRenderDefaults(t *testing.T) {
	objs := render(t, "nodeallow", "nodeallow-system", []string{filepath.Join(chartDir(), "ci", "default-values.yaml")})

	deploy := findOne(t, objs, "Deployment", "nodeallow")
	if got := nested[int64](t, deploy, "spec", "replicas"); got != 2 {
		t.Errorf("replicas = %d, want 2", got)
	}
	pod := nestedMap(t, deploy, "spec", "template", "spec")
	if got := pod["serviceAccountName"]; got != "nodeallow" {
		t.Errorf("serviceAccountName = %v, want nodeallow", got)
	}
	psc := pod["securityContext"].(map[string]any)
	if psc["runAsNonRoot"] != true {
		t.Errorf("pod securityContext.runAsNonRoot = %v, want true", psc["runAsNonRoot"])
	}
	if sp, _ := psc["seccompProfile"].(map[string]any); sp["type"] != "RuntimeDefault" {
		t.Errorf("pod seccompProfile = %v, want RuntimeDefault", psc["seccompProfile"])
	}
	containers := pod["containers"].([]any)
	if len(containers) != 1 {
		t.Fatalf("%d containers, want 1", len(containers))
	}
	c := containers[0].(map[string]any)
	sc := c["securityContext"].(map[string]any)
	if sc["readOnlyRootFilesystem"] != true || sc["allowPrivilegeEscalation"] != false {
		t.Errorf("container securityContext = %v, want readOnlyRootFilesystem and no privilege escalation", sc)
	}
	if drop := sc["capabilities"].(map[string]any)["drop"].([]any); !slices.Equal(drop, []any{"ALL"}) {
		t.Errorf("capabilities.drop = %v, want [ALL]", drop)
	}
	res := c["resources"].(map[string]any)
	for _, k := range []string{"requests", "limits"} {
		m, _ := res[k].(map[string]any)
		if m["cpu"] == nil || m["memory"] == nil {
			t.Errorf("resources.%s = %v, want cpu and memory", k, m)
		}
	}
	args := stringList(c["args"])
	for _, want := range []string{"--cluster-name=ci", "--controller-namespace=nodeallow-system", "--leader-elect=true",
		"--health-probe-bind-address=:8081", "--metrics-bind-address=:8443", "--metrics-secure=true"} {
		if !slices.Contains(args, want) {
			t.Errorf("args %v lack %s", args, want)
		}
	}
	probePort := containerPort(t, c, "probes")
	for _, probe := range []string{"livenessProbe", "readinessProbe"} {
		p, _ := c[probe].(map[string]any)
		get, _ := p["httpGet"].(map[string]any)
		if get["port"] != "probes" || probePort != 8081 {
			t.Errorf("%s = %v, want an httpGet on the probes port (8081)", probe, p)
		}
	}
	if got := deploy.GetLabels()["app.kubernetes.io/managed-by"]; got != "Helm" {
		t.Errorf("app.kubernetes.io/managed-by = %q, want Helm", got)
	}
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			continue
		}
		for _, l := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version", "helm.sh/chart"} {
			if o.GetLabels()[l] == "" {
				t.Errorf("%s %s has no %s label", o.GetKind(), o.GetName(), l)
			}
		}
	}

	pdb := findOne(t, objs, "PodDisruptionBudget", "nodeallow")
	if got := nested[int64](t, pdb, "spec", "minAvailable"); got != 1 {
		t.Errorf("PodDisruptionBudget minAvailable = %d, want 1", got)
	}
	findOne(t, objs, "Service", "nodeallow-metrics")
	findOne(t, objs, "ServiceAccount", "nodeallow")
	findOne(t, objs, "CustomResourceDefinition", "nodeallowlists.nodeallow.io")
	if sm := find(objs, "ServiceMonitor"); len(sm) != 0 {
		t.Errorf("a ServiceMonitor is rendered by default; it needs the prometheus-operator CRD and must be opt-in")
	}
	secretsRole := findOne(t, objs, "Role", "nodeallow-secrets")
	if secretsRole.GetNamespace() != "nodeallow-system" {
		t.Errorf("the Secrets Role is in namespace %q, want the release namespace", secretsRole.GetNamespace())
	}
}

// TestRenderOptionalParts checks the optional objects of values-full.yaml and
// that values-minimal.yaml leaves them out.
func TestRenderOptionalParts(t *testing.T) {
	full := render(t, "full", "full", []string{testdata("values-full.yaml")})
	deploy := findOne(t, full, "Deployment", "full-nodeallow")
	c := nestedMap(t, deploy, "spec", "template", "spec")["containers"].([]any)[0].(map[string]any)
	if want := "registry.example.com/platform/nodeallow@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"; c["image"] != want {
		t.Errorf("image = %v, want %s (the digest pins it)", c["image"], want)
	}
	if args := stringList(c["args"]); !slices.Contains(args, "--enable-http2=false") || !slices.Contains(args, "--zap-log-level=2") ||
		!slices.Contains(args, "--zap-encoder=console") {
		t.Errorf("args %v lack the extra argument, the log level or the log format", args)
	}
	sm := findOne(t, full, "ServiceMonitor", "full-nodeallow")
	if sm.GetLabels()["release"] != "prometheus" {
		t.Errorf("ServiceMonitor labels %v lack release=prometheus", sm.GetLabels())
	}
	nal := findOne(t, full, "NodeAllowlist", "full-workers")
	if nal.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
		t.Errorf("NodeAllowlist from values is not kept on uninstall: annotations %v", nal.GetAnnotations())
	}
	findOne(t, full, "Secret", "full-salt-signing-key")
	findOne(t, full, "Secret", "full-salt-credentials")
	pdb := findOne(t, full, "PodDisruptionBudget", "full-nodeallow")
	if got := nested[int64](t, pdb, "spec", "minAvailable"); got != 2 {
		t.Errorf("PodDisruptionBudget minAvailable = %d, want 2", got)
	}

	minimal := render(t, "minimal", "minimal", []string{testdata("values-minimal.yaml")})
	for _, kind := range []string{"PodDisruptionBudget", "Service", "ServiceMonitor", "NodeAllowlist", "Secret", "ConfigMap", "PrometheusRule"} {
		if n := len(find(minimal, kind)); n != 0 {
			t.Errorf("values-minimal.yaml renders %d %s, want none", n, kind)
		}
	}
	c = nestedMap(t, findOne(t, minimal, "Deployment", "minimal-nodeallow"), "spec", "template", "spec")["containers"].([]any)[0].(map[string]any)
	if args := stringList(c["args"]); !slices.Contains(args, "--leader-elect=false") || !slices.Contains(args, "--metrics-bind-address=0") {
		t.Errorf("values-minimal.yaml args %v, want leader election and metrics off", args)
	}
}

// TestNotesPointToSaltSide checks that the install notes name the next step
// (a server-side dry run against the test API server: nothing is created).
func TestNotesPointToSaltSide(t *testing.T) {
	out, stderr, err := runHelm(t, "install", "notes", chartDir(), "--dry-run=server", "--kubeconfig", adminKubeconfig,
		"--namespace", "notes", "--create-namespace", "--set", "clusterName=notes")
	if err != nil {
		t.Fatalf("helm install --dry-run failed: %v\n%s", err, stderr)
	}
	_, notes, ok := strings.Cut(out, "NOTES:")
	if !ok {
		t.Fatalf("helm install --dry-run printed no NOTES:\n%s", out)
	}
	for _, want := range []string{"docs/salt.md", "docs/install.md", `"notes"`, "salt-api-credentials", "caBundle", "kubectl get nodeallowlists"} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES lack %q:\n%s", want, notes)
		}
	}
	// Every command the NOTES give is docs/install.md's, in the release's namespace: no key made here that
	// the Salt master never learns, no Secret install.md does not name.
	install := strings.ReplaceAll(readInstallDoc(t), "\\\n ", "")
	install = strings.ReplaceAll(install, "nodeallow-system", "notes")
	var commands int
	for _, line := range strings.Split(strings.ReplaceAll(notes, "\\\n ", ""), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "KEY=") || strings.HasPrefix(line, "PASSWORD=") || strings.Contains(line, "create secret generic") {
			commands++
			if !strings.Contains(strings.Join(strings.Fields(install), " "), strings.Join(strings.Fields(line), " ")) {
				t.Errorf("the NOTES command %q is not in docs/install.md", line)
			}
		}
	}
	if commands != 4 {
		t.Errorf("NOTES give %d of install.md's 4 Secret commands:\n%s", commands, notes)
	}
}

// readInstallDoc returns docs/install.md.
func readInstallDoc(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "docs", "install.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestInstallDocNamesTheMetricsReader checks docs/install.md's name of the metrics reader ClusterRole against
// what the chart renders for the documented release name and for another one.
func TestInstallDocNamesTheMetricsReader(t *testing.T) {
	doc := readInstallDoc(t)
	for release, want := range map[string]string{"nodeallow": "nodeallow-metrics-reader", "prod": "prod-nodeallow-metrics-reader"} {
		objs := render(t, release, "nodeallow-system", nil, "clusterName=prod-eu1")
		findOne(t, objs, "ClusterRole", want)
		documented := strings.ReplaceAll(want, release+"-", "<release>-")
		if release == "nodeallow" {
			documented = want
		}
		if !strings.Contains(doc, "`"+documented+"`") {
			t.Errorf("docs/install.md does not name the ClusterRole %s renders for release %q as `%s`", want, release, documented)
		}
	}
}

// nested returns a typed field of obj, failing the test when it is absent.
func nested[T any](t *testing.T, obj *unstructured.Unstructured, fields ...string) T {
	t.Helper()
	v, ok, err := unstructured.NestedFieldNoCopy(obj.Object, fields...)
	if err != nil || !ok {
		t.Fatalf("%s %s has no %s (%v)", obj.GetKind(), obj.GetName(), strings.Join(fields, "."), err)
	}
	typed, ok := v.(T)
	if !ok {
		t.Fatalf("%s %s: %s is %T, not %T", obj.GetKind(), obj.GetName(), strings.Join(fields, "."), v, typed)
	}
	return typed
}

// nestedMap returns a map field of obj.
func nestedMap(t *testing.T, obj *unstructured.Unstructured, fields ...string) map[string]any {
	t.Helper()
	return nested[map[string]any](t, obj, fields...)
}

// stringList converts a decoded YAML list of strings.
func stringList(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, s := range list {
		out = append(out, s.(string))
	}
	return out
}

// containerPort returns the number of a named port of a decoded container.
func containerPort(t *testing.T, c map[string]any, name string) int64 {
	t.Helper()
	ports, _ := c["ports"].([]any)
	for _, p := range ports {
		pm := p.(map[string]any)
		if pm["name"] == name {
			return pm["containerPort"].(int64)
		}
	}
	t.Fatalf("container has no port named %s", name)
	return 0
}
