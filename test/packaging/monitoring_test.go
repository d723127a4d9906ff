// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package packaging

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/nodeallow/nodeallow/api/protocol"
	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
	"github.com/nodeallow/nodeallow/controllers/plan"
	"github.com/nodeallow/nodeallow/test/saltapistandin"
	"github.com/nodeallow/nodeallow/test/testenv"
)

// The chart's alerts; docs/monitoring.md has a section for each.
var wantAlerts = []string{"NodeallowNoRecentSuccess", "NodeallowPublishFailing", "NodeallowSubscribersBehind"}

// dashboardDatasource is what every panel and target of the dashboard must
// query: the data source template variable, so the dashboard works with any
// Prometheus the operator picks.
const dashboardDatasource = "${datasource}"

// grafanaDashboard is the part of Grafana's dashboard JSON these tests read.
type grafanaDashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []grafanaVariable `json:"list"`
	} `json:"templating"`
	Panels []grafanaPanel `json:"panels"`
}

// grafanaVariable is one template variable; Query is a string for data source
// variables and {query: ...} for query variables.
type grafanaVariable struct {
	Name       string             `json:"name"`
	Type       string             `json:"type"`
	Datasource *grafanaDatasource `json:"datasource"`
	Query      json.RawMessage    `json:"query"`
}

// grafanaDatasource is a panel's or target's data source reference.
type grafanaDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// grafanaPanel is one panel; rows would carry their panels inside.
type grafanaPanel struct {
	ID         int                `json:"id"`
	Type       string             `json:"type"`
	Title      string             `json:"title"`
	Datasource *grafanaDatasource `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []grafanaTarget `json:"targets"`
	Panels  []grafanaPanel  `json:"panels"`
}

// grafanaTarget is one query of a panel.
type grafanaTarget struct {
	Datasource *grafanaDatasource `json:"datasource"`
	Expr       string             `json:"expr"`
	RefID      string             `json:"refId"`
}

// promExpr is one PromQL expression of the dashboard or the alerts, with where it comes from.
type promExpr struct {
	where, expr string
}

// TestRenderMonitoring renders the dashboard ConfigMap and the PrometheusRule:
// off by default, on with their values, each alert switchable, and with the
// content docs/monitoring.md describes.
func TestRenderMonitoring(t *testing.T) {
	defaults := render(t, "nodeallow", "nodeallow-system", []string{filepath.Join(chartDir(), "ci", "default-values.yaml")})
	for _, kind := range []string{"ConfigMap", "PrometheusRule"} {
		if n := len(find(defaults, kind)); n != 0 {
			t.Errorf("the defaults render %d %s; the dashboard and the alerts must be opt-in", n, kind)
		}
	}

	t.Run("dashboard", func(t *testing.T) {
		objs := render(t, "nodeallow", "nodeallow-system", []string{filepath.Join(chartDir(), "ci", "default-values.yaml")},
			"monitoring.dashboard.enabled=true", "monitoring.dashboard.namespace=grafana",
			"monitoring.dashboard.annotations.grafana_folder=nodeallow")
		cm := findOne(t, objs, "ConfigMap", "nodeallow-dashboard")
		if cm.GetNamespace() != "grafana" {
			t.Errorf("the dashboard ConfigMap is in namespace %q, want the override grafana", cm.GetNamespace())
		}
		if got := cm.GetLabels()["grafana_dashboard"]; got != "1" {
			t.Errorf("the dashboard ConfigMap's grafana_dashboard label = %q, want \"1\" (the sidecar's default); labels %v", got, cm.GetLabels())
		}
		if got := cm.GetAnnotations()["grafana_folder"]; got != "nodeallow" {
			t.Errorf("the dashboard ConfigMap's annotations %v lack grafana_folder=nodeallow", cm.GetAnnotations())
		}
		data := nestedMap(t, cm, "data")
		if keys := slices.Sorted(maps.Keys(data)); !slices.Equal(keys, []string{"nodeallow.json"}) {
			t.Fatalf("the dashboard ConfigMap holds %v, want exactly nodeallow.json", keys)
		}
		file, err := os.ReadFile(dashboardFile())
		if err != nil {
			t.Fatal(err)
		}
		if data["nodeallow.json"] != strings.TrimRight(string(file), "\n") {
			t.Errorf("the ConfigMap's nodeallow.json differs from %s", dashboardFile())
		}
		checkDashboard(t, []byte(data["nodeallow.json"].(string)))

		own := render(t, "nodeallow", "nodeallow-system", []string{filepath.Join(chartDir(), "ci", "default-values.yaml")},
			"monitoring.dashboard.enabled=true", "monitoring.dashboard.labels.grafana_dashboard=null", "monitoring.dashboard.labels.dashboards=nodeallow")
		cm = findOne(t, own, "ConfigMap", "nodeallow-dashboard")
		if l := cm.GetLabels(); l["dashboards"] != "nodeallow" || l["grafana_dashboard"] != "" || cm.GetNamespace() != "nodeallow-system" {
			t.Errorf("with its own sidecar label the ConfigMap has labels %v in %q, want dashboards=nodeallow only, in the release namespace", l, cm.GetNamespace())
		}
	})

	t.Run("alerts", func(t *testing.T) {
		full := render(t, "full", "full", []string{testdata("values-full.yaml")})
		rules := alertRules(t, findOne(t, full, "PrometheusRule", "full-nodeallow"))
		if got := slices.Sorted(maps.Keys(rules)); !slices.Equal(got, wantAlerts) {
			t.Fatalf("the PrometheusRule has alerts %v, want %v", got, wantAlerts)
		}
		if pr := findOne(t, full, "PrometheusRule", "full-nodeallow"); pr.GetLabels()["release"] != "prometheus" || pr.GetNamespace() != "full" {
			t.Errorf("the PrometheusRule is in %q with labels %v, want the release namespace and release=prometheus", pr.GetNamespace(), pr.GetLabels())
		}
		headings := docHeadings(t, filepath.Join(testenv.RepoRoot(), "docs", "monitoring.md"))
		for name, r := range rules {
			checkAlertRule(t, name, r, headings)
		}
		// values-full.yaml: threshold 1h30m, for 10m, severity critical; publishFailing keeps its defaults.
		nrs, pf := rules["NodeallowNoRecentSuccess"], rules["NodeallowPublishFailing"]
		if !strings.Contains(nrs["expr"].(string), "> 5400") || nrs["for"] != "10m" || nrs["labels"].(map[string]any)["severity"] != "critical" {
			t.Errorf("NodeallowNoRecentSuccess = %v, want the threshold 1h30m as > 5400, for 10m, severity critical", nrs)
		}
		if !strings.Contains(pf["expr"].(string), "[15m]") || pf["for"] != "10m" || pf["labels"].(map[string]any)["severity"] != "warning" {
			t.Errorf("NodeallowPublishFailing = %v, want window 15m, for 10m, severity warning (the defaults)", pf)
		}
		for name, r := range rules {
			if r["labels"].(map[string]any)["team"] != "platform" {
				t.Errorf("alert %s lacks the additional label team=platform: %v", name, r["labels"])
			}
		}

		one := render(t, "one", "one", []string{filepath.Join(chartDir(), "ci", "default-values.yaml")},
			"monitoring.alerts.enabled=true", "monitoring.alerts.publishFailing.enabled=false", "monitoring.alerts.subscribersBehind.enabled=false")
		if got := slices.Sorted(maps.Keys(alertRules(t, findOne(t, one, "PrometheusRule", "one-nodeallow")))); !slices.Equal(got, []string{"NodeallowNoRecentSuccess"}) {
			t.Errorf("with publishFailing and subscribersBehind off the alerts are %v, want only NodeallowNoRecentSuccess", got)
		}
		if nrs := alertRules(t, findOne(t, one, "PrometheusRule", "one-nodeallow"))["NodeallowNoRecentSuccess"]; !strings.Contains(nrs["expr"].(string), "> 900") {
			t.Errorf("the default threshold of NodeallowNoRecentSuccess is not 15m (> 900): %s", nrs["expr"])
		}
		none := render(t, "none", "none", []string{filepath.Join(chartDir(), "ci", "default-values.yaml")},
			"monitoring.alerts.enabled=true", "monitoring.alerts.publishFailing.enabled=false", "monitoring.alerts.noRecentSuccess.enabled=false",
			"monitoring.alerts.subscribersBehind.enabled=false")
		if n := len(find(none, "PrometheusRule")); n != 0 {
			t.Errorf("with every alert off %d PrometheusRule are rendered, want none (a group without rules)", n)
		}
	})
}

// TestMonitoringQueriesUseExportedMetrics parses every PromQL expression of the
// dashboard and the alerts with Prometheus' own parser (test/packaging/promqlcheck)
// and checks that each metric they name is one the real manager binary serves on
// /metrics after a publish, and that the dashboard shows every nodeallow metric.
func TestMonitoringQueriesUseExportedMetrics(t *testing.T) {
	file, err := os.ReadFile(dashboardFile())
	if err != nil {
		t.Fatal(err)
	}
	exprs := dashboardExprs(t, file)
	full := render(t, "full", "full", []string{testdata("values-full.yaml")})
	for name, r := range alertRules(t, findOne(t, full, "PrometheusRule", "full-nodeallow")) {
		exprs = append(exprs, promExpr{"alert " + name, r["expr"].(string)})
	}
	named := parsePromQL(t, exprs)

	families := scrapeFamiliesAfterPublish(t)
	t.Logf("the manager serves %d metric families", len(families))
	dashboardNames := map[string]bool{}
	for _, e := range exprs {
		for _, m := range named[e.expr] {
			if !exportedBy(families, m) {
				t.Errorf("%s names metric %s, which the manager does not serve (%s)", e.where, m, e.expr)
			}
			if strings.HasPrefix(e.where, "dashboard") {
				dashboardNames[baseFamily(families, m)] = true
			}
		}
	}
	for name := range families {
		if strings.HasPrefix(name, "nodeallow_") && !dashboardNames[name] {
			t.Errorf("the manager serves %s, but no panel of %s shows it: add one", name, dashboardFile())
		}
	}
	// The check itself must be able to fail: a metric nobody exports.
	if exportedBy(families, "nodeallow_subscribers_behind") || exportedBy(families, "nodeallow_publishes_total_bucket") {
		t.Errorf("the exported-metric check accepts names the manager does not serve")
	}
}

// dashboardFile is the chart's Grafana dashboard, which the ConfigMap carries.
func dashboardFile() string { return filepath.Join(chartDir(), "dashboards", "nodeallow.json") }

// checkDashboard checks the dashboard's structure: a Prometheus data source
// variable that every panel and target uses, namespace and job variables,
// unique panel ids, and at least one query per panel.
func checkDashboard(t *testing.T, raw []byte) {
	t.Helper()
	var d grafanaDashboard
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("the dashboard is not valid JSON: %v", err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("the dashboard has uid %q and title %q; want both (a stable uid keeps links working)", d.UID, d.Title)
	}
	vars := map[string]grafanaVariable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	if ds, ok := vars["datasource"]; !ok || ds.Type != "datasource" || string(ds.Query) != `"prometheus"` {
		t.Errorf("the dashboard has no Prometheus data source variable named datasource: %+v", ds)
	}
	for _, name := range []string{"namespace", "job"} {
		if v, ok := vars[name]; !ok || v.Type != "query" || v.Datasource == nil || v.Datasource.UID != dashboardDatasource {
			t.Errorf("the dashboard has no query variable %s on %s: %+v", name, dashboardDatasource, v)
		}
	}
	if len(d.Panels) == 0 {
		t.Fatal("the dashboard has no panels")
	}
	ids := map[int]string{}
	for _, p := range d.Panels {
		if len(p.Panels) > 0 || p.Type == "row" {
			t.Errorf("panel %q is a row; keep the dashboard flat so every panel is checked", p.Title)
		}
		if other, dup := ids[p.ID]; dup || p.ID == 0 {
			t.Errorf("panel %q has id %d, also used by %q (or zero)", p.Title, p.ID, other)
		}
		ids[p.ID] = p.Title
		if p.Title == "" || p.Type == "" {
			t.Errorf("panel %d has type %q and title %q; want both", p.ID, p.Type, p.Title)
		}
		if p.Datasource == nil || p.Datasource.UID != dashboardDatasource || p.Datasource.Type != "prometheus" {
			t.Errorf("panel %q has data source %+v, want prometheus %s", p.Title, p.Datasource, dashboardDatasource)
		}
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q has gridPos %+v, outside Grafana's 24 columns", p.Title, p.GridPos)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no targets", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.Datasource == nil || tg.Datasource.UID != dashboardDatasource {
				t.Errorf("a target of panel %q has data source %+v, want %s", p.Title, tg.Datasource, dashboardDatasource)
			}
			if strings.TrimSpace(tg.Expr) == "" || tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("panel %q has a target with expr %q and refId %q (empty or repeated)", p.Title, tg.Expr, tg.RefID)
			}
			refs[tg.RefID] = true
		}
	}
}

// alertRules returns the rules of a PrometheusRule's groups by alert name,
// failing on a rule without a name or a repeated one.
func alertRules(t *testing.T, pr *unstructured.Unstructured) map[string]map[string]any {
	t.Helper()
	groups := nested[[]any](t, pr, "spec", "groups")
	out := map[string]map[string]any{}
	for _, g := range groups {
		gm := g.(map[string]any)
		if gm["name"] == "" || gm["name"] == nil {
			t.Errorf("a rule group of %s has no name", pr.GetName())
		}
		rules, _ := gm["rules"].([]any)
		if len(rules) == 0 {
			t.Errorf("rule group %v of %s has no rules", gm["name"], pr.GetName())
		}
		for _, r := range rules {
			rm := r.(map[string]any)
			name, _ := rm["alert"].(string)
			if _, dup := out[name]; name == "" || dup {
				t.Errorf("PrometheusRule %s has a rule named %q (empty or repeated)", pr.GetName(), name)
			}
			out[name] = rm
		}
	}
	return out
}

// promDurationPattern is Prometheus' duration syntax, as in the `for` field.
var promDurationPattern = regexp.MustCompile(`^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$`)

// checkAlertRule checks one alert: an expression, a Prometheus duration, a
// severity, annotations that tell the operator what to look at, and a runbook
// link to a section of docs/monitoring.md.
func checkAlertRule(t *testing.T, name string, r map[string]any, headings map[string]bool) {
	t.Helper()
	if expr, _ := r["expr"].(string); strings.TrimSpace(expr) == "" {
		t.Errorf("alert %s has no expr", name)
	}
	if f, _ := r["for"].(string); f == "" || !promDurationPattern.MatchString(f) {
		t.Errorf("alert %s has for %q, want a Prometheus duration", name, f)
	}
	labels, _ := r["labels"].(map[string]any)
	if labels["severity"] == nil || labels["severity"] == "" {
		t.Errorf("alert %s has no severity label: %v", name, labels)
	}
	ann, _ := r["annotations"].(map[string]any)
	desc, _ := ann["description"].(string)
	if summary, _ := ann["summary"].(string); summary == "" {
		t.Errorf("alert %s has no summary", name)
	}
	for _, want := range []string{"kubectl describe nal", "logs deploy/full-nodeallow", "salt-run nodeallow.status"} {
		if !strings.Contains(desc, want) {
			t.Errorf("the description of alert %s does not say %q: %s", name, want, desc)
		}
	}
	url, _ := ann["runbook_url"].(string)
	base, anchor, ok := strings.Cut(url, "#")
	if !ok || !strings.HasSuffix(base, "/docs/monitoring.md") || anchor != strings.ToLower(name) || !headings[anchor] {
		t.Errorf("alert %s has runbook_url %q, want docs/monitoring.md#%s, a section of that file", name, url, strings.ToLower(name))
	}
}

// docHeadings returns the anchors GitHub gives the headings of a Markdown file.
func docHeadings(t *testing.T, path string) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "#") {
			heading := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
			out[strings.ReplaceAll(drop.ReplaceAllString(heading, ""), " ", "-")] = true
		}
	}
	return out
}

// grafanaIntervals stand in for Grafana's built-in range variables when the
// expressions are parsed; the values only need to be valid durations.
var grafanaIntervals = map[string]string{"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}

// labelValuesQuery is Grafana's label_values(selector, label) variable query.
var labelValuesQuery = regexp.MustCompile(`^label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)

// dashboardExprs returns the dashboard's PromQL: every target's expression
// and every query variable's selector, with Grafana's variables replaced by
// values PromQL accepts (template variables inside matchers by ".*").
func dashboardExprs(t *testing.T, raw []byte) []promExpr {
	t.Helper()
	var d grafanaDashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("the dashboard %s is not valid JSON: %v", dashboardFile(), err)
	}
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
	}
	// Longest first, so that $job never replaces the start of a longer name.
	sort.Slice(vars, func(i, j int) bool { return len(vars[i]) > len(vars[j]) })
	substitute := func(expr string) string {
		for k, v := range grafanaIntervals {
			expr = strings.ReplaceAll(expr, k, v)
		}
		for _, name := range vars {
			expr = strings.ReplaceAll(expr, "${"+name+"}", ".*")
			expr = strings.ReplaceAll(expr, "$"+name, ".*")
		}
		if strings.Contains(expr, "$") {
			t.Errorf("%q uses a variable the dashboard does not define", expr)
		}
		return expr
	}

	var out []promExpr
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Errorf("variable %s: its query is not {query: ...}: %v", v.Name, err)
			continue
		}
		m := labelValuesQuery.FindStringSubmatch(q.Query)
		if m == nil {
			t.Errorf("variable %s queries %q, want label_values(<selector of a nodeallow metric>, <label>)", v.Name, q.Query)
			continue
		}
		out = append(out, promExpr{"dashboard variable " + v.Name, substitute(m[1])})
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out = append(out, promExpr{fmt.Sprintf("dashboard panel %q", p.Title), substitute(tg.Expr)})
		}
	}
	return out
}

// nodeallowMetricName finds metric names of ours in an expression's text.
var nodeallowMetricName = regexp.MustCompile(`nodeallow_[a-z_]+`)

// parsePromQL parses each expression with Prometheus' parser and returns the
// metric names its selectors name, by expression. It fails the test for an
// expression that does not parse, names no metric, or names a nodeallow
// metric the parser did not see as a selector (inside a string, say).
func parsePromQL(t *testing.T, exprs []promExpr) map[string][]string {
	t.Helper()
	input := make([]string, 0, len(exprs))
	for _, e := range exprs {
		input = append(input, e.expr)
	}
	body, err := json.Marshal(input)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promqlChecker(t))
	cmd.Stdin = bytes.NewReader(body)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("promqlcheck: %v\n%s", err, stderr.String())
	}
	var results []struct {
		Expr    string   `json:"expr"`
		Error   string   `json:"error"`
		Metrics []string `json:"metrics"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &results); err != nil || len(results) != len(exprs) {
		t.Fatalf("promqlcheck answered %d results for %d expressions (%v): %s", len(results), len(exprs), err, stdout.String())
	}
	named := map[string][]string{}
	for i, r := range results {
		e := exprs[i]
		if r.Error != "" {
			t.Errorf("%s: PromQL does not parse: %s\n%s", e.where, r.Error, e.expr)
		}
		if r.Error == "" && len(r.Metrics) == 0 {
			t.Errorf("%s names no metric: %s", e.where, e.expr)
		}
		for _, m := range nodeallowMetricName.FindAllString(e.expr, -1) {
			if r.Error == "" && !slices.Contains(r.Metrics, m) {
				t.Errorf("%s mentions %s, but not as a metric selector: %s", e.where, m, e.expr)
			}
		}
		named[e.expr] = r.Metrics
	}
	return named
}

// promqlChecker builds test/packaging/promqlcheck, a module of its own so that
// Prometheus' parser never enters the controller's go.mod, and returns the binary.
func promqlChecker(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "promqlcheck")
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = filepath.Join(testenv.RepoRoot(), "test", "packaging", "promqlcheck")
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if combined, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building test/packaging/promqlcheck (go build in %s): %v\n%s", cmd.Dir, err, combined)
	}
	return out
}

// scrapeFamiliesAfterPublish installs the chart, runs the real manager as its
// ServiceAccount until one allowlist is published (so that every labelled
// series exists), scrapes /metrics as a metrics-reader, and returns the metric
// families it serves by name, with their types.
func scrapeFamiliesAfterPublish(t *testing.T) map[string]string {
	t.Helper()
	rig := setUpProof(t)
	salt := saltapistandin.NewForTest(t, []byte(proofSigningKey), saltapistandin.WithLogin(map[string]string{proofAPIUser: proofAPIPass}))
	salt.SetSubscribers("db1")
	p := rig.start(t)
	// One allowlist whose delivery is confirmed (the subscriber series), one held below its minimum.
	name, held := "monitoring", "monitoring-held"
	defer forceDelete(t, name)
	defer forceDelete(t, held)
	defer p.stop(t)
	withLogin := func(s *nodeallowv1alpha1.NodeAllowlistSpec) {
		s.Salt.CredentialsSecretRef = &nodeallowv1alpha1.SecretReference{Name: proofCredSecret}
	}
	createAllowlist(t, name, salt, withLogin, func(s *nodeallowv1alpha1.NodeAllowlistSpec) { s.Delivery.Confirm = true })
	createAllowlist(t, held, salt, withLogin, func(s *nodeallowv1alpha1.NodeAllowlistSpec) { s.MinAddresses = 100 })
	snap, err := waitForSnapshot(salt, name, protocol.KindSnapshot, stepTimeout, "10.0.0.1/32", "fd00::1/128")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := waitForPublished(name, snap.Sequence, stepTimeout); err != nil {
		t.Fatal(err)
	}
	for what, done := range map[string]func(*nodeallowv1alpha1.NodeAllowlist) bool{
		name + " applied 1/1": func(n *nodeallowv1alpha1.NodeAllowlist) bool {
			return n.Status.Delivery != nil && n.Status.Delivery.Summary == "1/1"
		},
		held + " held BelowMinimum": func(n *nodeallowv1alpha1.NodeAllowlist) bool {
			return plan.ReadyReason(&n.Status) == plan.ReasonBelowMinimum
		},
	} {
		if err := waitForAllowlist(strings.Fields(what)[0], stepTimeout, done); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}
	status, body, err := scrapeMetrics(p.metricsAddr, rig.scraperToken)
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK {
		t.Fatalf("scraping /metrics as a metrics-reader: status %d, body %.300q", status, body)
	}
	families := map[string]string{}
	for _, line := range strings.Split(body, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			families[f[2]] = f[3]
		}
	}
	if len(families) == 0 {
		t.Fatalf("/metrics lists no metric families (# TYPE lines): %.300q", body)
	}
	return families
}

// seriesSuffixes are the series a histogram (all three) or a summary (_sum,
// _count) adds to its family's name.
var seriesSuffixes = map[string][]string{"_bucket": {"histogram"}, "_sum": {"histogram", "summary"}, "_count": {"histogram", "summary"}}

// baseFamily returns the family a series name belongs to: itself, or the
// histogram or summary it is a _bucket, _sum or _count of.
func baseFamily(families map[string]string, name string) string {
	if _, ok := families[name]; ok {
		return name
	}
	for suffix, types := range seriesSuffixes {
		if base, ok := strings.CutSuffix(name, suffix); ok && slices.Contains(types, families[base]) {
			return base
		}
	}
	return ""
}

// exportedBy reports whether a series name is served: a family of that name,
// or a histogram's or summary's own series.
func exportedBy(families map[string]string, name string) bool {
	return baseFamily(families, name) != ""
}
