// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package packaging

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodeallow/nodeallow/api/protocol"
	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
	"github.com/nodeallow/nodeallow/test/saltapistandin"
)

// metricsAddressArg stands for the metrics address in the chart's arguments
// until start picks a free port.
const metricsAddressArg = "--metrics-bind-address=<free port>"

// The chart is installed as release "nodeallow" in "nodeallow-system"; its
// ServiceAccount is the user the controller acts as (proofUser).
const (
	proofRelease    = "nodeallow"
	proofNamespace  = "nodeallow-system"
	proofCluster    = "proof"
	proofUser       = "system:serviceaccount:" + proofNamespace + ":" + proofRelease
	proofSecret     = "salt-signing-key"
	proofCredSecret = "salt-api-credentials"
	proofAPIUser    = "nodeallow"
	proofAPIPass    = "a-salt-api-password-for-the-proof"
	proofSigningKey = "a-signing-key-for-the-rbac-proof-0123456789"
	proofLeaseName  = "nodeallow-controller.nodeallow.io"
	proofNodeLabel  = "packaging.nodeallow.io/proof"
	eventsNamespace = "default"
	stepTimeout     = 20 * time.Second
	failureBudget   = 2 * time.Second
)

// proofRig is what every RBAC scenario shares: the installed chart's
// controller arguments and the impersonating kubeconfig.
type proofRig struct {
	binary     string
	kubeconfig string
	args       []string
	// scraperToken may read /metrics (bound to the chart's metrics-reader
	// ClusterRole); strangerToken is valid but bound to nothing.
	scraperToken, strangerToken string
}

// setUpProof installs the chart for real (helm install against the test API
// server), creates the Nodes the scenarios select, and writes a kubeconfig
// that acts as the chart's ServiceAccount.
func setUpProof(t *testing.T) *proofRig {
	t.Helper()
	binary := managerBinary(t)
	values := filepath.Join(t.TempDir(), "proof-values.yaml")
	if err := os.WriteFile(values, []byte(fmt.Sprintf(`clusterName: %s
secrets:
  - name: %s
    stringData:
      signing-key: %s
  - name: %s
    stringData:
      username: %s
      password: %s
      eauth: file
`, proofCluster, proofSecret, proofSigningKey, proofCredSecret, proofAPIUser, proofAPIPass)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, stderr, err := runHelm(t, "install", proofRelease, chartDir(), "--kubeconfig", adminKubeconfig,
		"--namespace", proofNamespace, "--create-namespace", "--values", values); err != nil {
		t.Fatalf("helm install %s: %v\n%s%s", proofRelease, err, out, stderr)
	}
	t.Cleanup(func() {
		if _, stderr, err := runHelm(t, "uninstall", proofRelease, "--kubeconfig", adminKubeconfig, "--namespace", proofNamespace); err != nil {
			t.Errorf("helm uninstall %s: %v\n%s", proofRelease, err, stderr)
		}
	})

	objs := render(t, proofRelease, proofNamespace, []string{values})
	deploy := findOne(t, objs, "Deployment", proofRelease)
	containers := nestedMap(t, deploy, "spec", "template", "spec")["containers"].([]any)
	var args []string
	for _, a := range stringList(containers[0].(map[string]any)["args"]) {
		// Ports of a Pod are free; here other tests and processes share the host.
		switch {
		case strings.HasPrefix(a, "--health-probe-bind-address="):
			a = "--health-probe-bind-address=127.0.0.1:0"
		case strings.HasPrefix(a, "--metrics-bind-address="):
			a = metricsAddressArg // each start picks a free port
		}
		args = append(args, a)
	}
	if !slices.Contains(args, "--leader-elect=true") || !slices.Contains(args, "--cluster-name="+proofCluster) {
		t.Fatalf("the chart's controller args %v lack leader election or the cluster name", args)
	}

	kubeconfig := filepath.Join(t.TempDir(), "serviceaccount.kubeconfig")
	if err := writeKubeconfig(adminConfig, kubeconfig, proofUser); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(args, metricsAddressArg) || !slices.Contains(args, "--metrics-secure=true") {
		t.Fatalf("the chart's controller args %v do not serve secure metrics", args)
	}
	createNode(t, "proof-a", map[string]string{proofNodeLabel: "true"}, "10.0.0.1", "fd00::1")
	createNode(t, "proof-other", nil, "10.9.9.9")
	t.Cleanup(func() {
		for _, n := range []string{"proof-a", "proof-other"} {
			deleteObject(t, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}})
		}
	})
	return &proofRig{
		binary: binary, kubeconfig: kubeconfig, args: args,
		scraperToken:  serviceAccountToken(t, proofNamespace, "scraper", proofRelease+"-metrics-reader"),
		strangerToken: serviceAccountToken(t, proofNamespace, "stranger", ""),
	}
}

// TestRBACProof runs the controller binary as the chart's ServiceAccount: with
// the chart's RBAC the core scenario passes; without any one of the rules in
// requiredRules it fails, and the controller says Forbidden in its log (and,
// where it can still write status, in a condition).
func TestRBACProof(t *testing.T) {
	rig := setUpProof(t)

	t.Run("chart RBAC is enough", func(t *testing.T) {
		salt := saltapistandin.NewForTest(t, []byte(proofSigningKey))
		p := rig.start(t)
		name := "proof-full"
		defer forceDelete(t, name)
		defer p.stop(t)
		if err := exercise(t, salt, name, stepTimeout); err != nil {
			t.Fatal(err)
		}
		if err := metricsScenario(rig, p); err != nil {
			t.Error(err)
		}
		if l, ok := p.findLine("forbidden"); ok {
			t.Errorf("with the chart's RBAC the controller logged a Forbidden error:\n%s", l.Raw)
		}
		if r := salt.Problems(); len(r) > 0 {
			t.Errorf("the salt-api stand-in refused requests: %v", r)
		}
	})

	for _, rm := range requiredRules {
		t.Run("without "+rm.rule.String(), func(t *testing.T) {
			restore := removeVerb(t, rm.rule)
			defer restore()
			salt := saltapistandin.NewForTest(t, []byte(proofSigningKey))
			p := rig.start(t, rm.env...)
			name := "proof-" + rm.slug
			// Deferred calls run in reverse: stop the controller, then clean up, then restore the rule.
			defer forceDelete(t, name)
			defer p.stop(t)
			var failed error
			if rm.metrics {
				failed = metricsScenario(rig, p)
			} else {
				failed = exercise(t, salt, name, failureBudget)
			}
			if failed == nil {
				t.Errorf("without %s the scenario still passed", rm.rule)
			} else {
				t.Logf("the scenario fails: %v", failed)
			}

			line, ok := p.waitForLine(stepTimeout, "is forbidden", rm.rule.forbiddenText())
			if !ok {
				t.Errorf("without %s the controller logged no Forbidden error containing %q within %s",
					rm.rule, rm.rule.forbiddenText(), stepTimeout)
			} else {
				t.Logf("the controller logs: %.400s", line.Text)
			}
			if rm.condition != "" {
				c, err := waitForCondition(name, nodeallowv1alpha1.ConditionPublished, rm.condition, stepTimeout)
				switch {
				case err != nil:
					t.Error(err)
				case c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "forbidden"):
					t.Errorf("condition %s = %s %q, want False with the Forbidden message", c.Type, c.Status, c.Message)
				default:
					t.Logf("condition %s=%s reason %s: %.300s", c.Type, c.Status, c.Reason, c.Message)
				}
			}
		})
	}
}

// exercise is the core scenario, each step given timeout: an allowlist
// publishes the addresses of the nodes it selects and reports it in status
// and an Event; a node joins and leaves, each a new snapshot; deleting the
// allowlist publishes its retirement and lets it go. It returns the first
// step that failed.
func exercise(t *testing.T, salt *saltapistandin.Server, name string, timeout time.Duration) error {
	createAllowlist(t, name, salt)
	snap, err := waitForSnapshot(salt, name, protocol.KindSnapshot, timeout, "10.0.0.1/32", "fd00::1/128")
	if err != nil {
		return err
	}
	nal, err := waitForPublished(name, snap.Sequence, timeout)
	if err != nil {
		return err
	}
	if nal.Status.Nodes != 1 || nal.Status.Addresses != 2 {
		return fmt.Errorf("status of %s counts nodes=%d addresses=%d, want 1 and 2", name, nal.Status.Nodes, nal.Status.Addresses)
	}
	if err := waitForEvent(name, nodeallowv1alpha1.ConditionPublished, timeout); err != nil {
		return err
	}

	joiner := name + "-joiner"
	createNode(t, joiner, map[string]string{proofNodeLabel: "true"}, "10.0.0.2")
	defer deleteObject(t, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: joiner}})
	grown, err := waitForSnapshot(salt, name, protocol.KindSnapshot, timeout, "10.0.0.1/32", "10.0.0.2/32", "fd00::1/128")
	if err != nil {
		return fmt.Errorf("after Node %s joined: %w", joiner, err)
	}
	if grown.Sequence <= snap.Sequence {
		return fmt.Errorf("sequence after a node joined = %d, want more than %d", grown.Sequence, snap.Sequence)
	}
	deleteObject(t, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: joiner}})
	shrunk, err := waitForSnapshot(salt, name, protocol.KindSnapshot, timeout, "10.0.0.1/32", "fd00::1/128")
	if err != nil {
		return fmt.Errorf("after Node %s left: %w", joiner, err)
	}
	if _, err := waitForPublished(name, shrunk.Sequence, timeout); err != nil {
		return err
	}

	var lease coordinationv1.Lease
	if err := adminClient.Get(context.Background(), client.ObjectKey{Namespace: proofNamespace, Name: proofLeaseName}, &lease); err != nil {
		return fmt.Errorf("the leader election Lease %s/%s: %w", proofNamespace, proofLeaseName, err)
	}
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
		return fmt.Errorf("Lease %s/%s has no holder", proofNamespace, proofLeaseName)
	}

	obj := &nodeallowv1alpha1.NodeAllowlist{ObjectMeta: metav1.ObjectMeta{Name: name}}
	deleteObject(t, obj)
	if _, err := waitForSnapshot(salt, name, protocol.KindRetirement, timeout); err != nil {
		return fmt.Errorf("after NodeAllowlist %s was deleted: %w", name, err)
	}
	return waitGone(obj, timeout)
}

// requiredRules are single verbs whose removal must break the core scenario.
// Verbs not listed here are covered by TestRBACMatrix (opt-in), which shows
// which ones this API server lets the controller do without.
var requiredRules = []requiredRule{
	// This API server streams the initial list over the watch (WatchListClient), so
	// list is needed only where that is off or unsupported: the case switches it off.
	{slug: "nodes-list", rule: ruleRef{"ClusterRole", "", "-manager", "", "nodes", "list"}, env: []string{"KUBE_FEATURE_WatchListClient=false"}},
	{slug: "nal-get", rule: ruleRef{"ClusterRole", "", "-manager", "nodeallow.io", "nodeallowlists", "get"}},
	{slug: "nal-update", rule: ruleRef{"ClusterRole", "", "-manager", "nodeallow.io", "nodeallowlists", "update"}},
	{slug: "status-update", rule: ruleRef{"ClusterRole", "", "-manager", "nodeallow.io", "nodeallowlists/status", "update"}},
	{slug: "secrets-get", rule: ruleRef{"Role", proofNamespace, "-secrets", "", "secrets", "get"}, condition: "SecretUnreadable"},
	{slug: "leases-get", rule: ruleRef{"Role", proofNamespace, "-leader-election", "coordination.k8s.io", "leases", "get"}},
	{slug: "events-create", rule: ruleRef{"Role", eventsNamespace, "-events", "events.k8s.io", "events", "create"}},
	{slug: "tokenreviews", rule: ruleRef{"ClusterRole", "", "-metrics-auth", "authentication.k8s.io", "tokenreviews", "create"}, metrics: true},
	{slug: "subjectaccessreviews", rule: ruleRef{"ClusterRole", "", "-metrics-auth", "authorization.k8s.io", "subjectaccessreviews", "create"}, metrics: true},
}

// metricsScenario scrapes the controller's secure metrics endpoint: a
// ServiceAccount bound to the chart's metrics-reader ClusterRole gets the
// nodeallow metrics, one bound to nothing is forbidden, and no token or one
// the API server rejects is unauthorized.
func metricsScenario(rig *proofRig, p *controllerProcess) error {
	status, body, err := scrapeMetrics(p.metricsAddr, rig.scraperToken)
	if err != nil {
		return err
	}
	if status != http.StatusOK || !strings.Contains(body, "nodeallow_node_events_total") {
		return fmt.Errorf("scraping /metrics as a metrics-reader: status %d, body %.200q; want 200 with the nodeallow metrics", status, body)
	}
	status, _, err = scrapeMetrics(p.metricsAddr, rig.strangerToken)
	if err != nil {
		return err
	}
	if status != http.StatusForbidden {
		return fmt.Errorf("scraping /metrics as a ServiceAccount without metrics-reader: status %d, want 403", status)
	}
	for _, token := range []string{"", "not-a-token"} {
		status, _, err = scrapeMetrics(p.metricsAddr, token)
		if err != nil {
			return err
		}
		if status != http.StatusUnauthorized {
			return fmt.Errorf("scraping /metrics with bearer token %q: status %d, want 401", token, status)
		}
	}
	return nil
}

// requiredRule is one verb the controller cannot do without.
type requiredRule struct {
	slug      string
	rule      ruleRef
	condition string   // reason of the Published condition that must report it, "" when status cannot be written
	env       []string // extra environment of the controller
	metrics   bool     // the metrics scenario notices it, not the core one
}

// ruleRef names one verb of one resource in one of the chart's (Cluster)Roles.
type ruleRef struct {
	kind, namespace, nameSuffix string
	group, resource, verb       string
}

func (r ruleRef) String() string {
	g := r.group
	if g == "" {
		g = "core"
	}
	return fmt.Sprintf("%s %s on %s (%s)", r.verb, r.resource, g, r.roleName())
}

func (r ruleRef) roleName() string { return proofRelease + r.nameSuffix }

// forbiddenText is what the API server's Forbidden message says about this verb.
func (r ruleRef) forbiddenText() string {
	return fmt.Sprintf("cannot %s resource %q in API group %q", r.verb, r.resource, r.group)
}

// start runs the controller as the chart's ServiceAccount, after the previous
// leader's Lease is gone so that this one leads at once.
func (rig *proofRig) start(t *testing.T, env ...string) *controllerProcess {
	t.Helper()
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: proofNamespace, Name: proofLeaseName}}
	if err := adminClient.Delete(context.Background(), lease); err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("deleting the previous Lease: %v", err)
	}
	args := slices.Clone(rig.args)
	addr := freeAddress(t)
	args[slices.Index(args, metricsAddressArg)] = "--metrics-bind-address=" + addr
	p := startController(t, rig.binary, rig.kubeconfig, args, env...)
	p.metricsAddr = addr
	return p
}

// removeVerb takes one verb out of one rule of the installed chart's role, waits
// until the API server denies it to the ServiceAccount, and returns a function
// that puts it back (and waits until it is allowed again).
func removeVerb(t *testing.T, r ruleRef) (restore func()) {
	t.Helper()
	ctx := context.Background()
	var obj client.Object
	var rules *[]rbacv1.PolicyRule
	switch r.kind {
	case "ClusterRole":
		cr := &rbacv1.ClusterRole{}
		obj, rules = cr, &cr.Rules
	case "Role":
		role := &rbacv1.Role{}
		obj, rules = role, &role.Rules
	}
	key := client.ObjectKey{Namespace: r.namespace, Name: r.roleName()}
	if err := adminClient.Get(ctx, key, obj); err != nil {
		t.Fatalf("reading %s %s: %v", r.kind, key, err)
	}
	original := slices.Clone(*rules)
	found := false
	var edited []rbacv1.PolicyRule
	for _, rule := range original {
		rule = *rule.DeepCopy()
		if slices.Contains(rule.APIGroups, r.group) && slices.Contains(rule.Resources, r.resource) && slices.Contains(rule.Verbs, r.verb) {
			found = true
			if len(rule.Resources) > 1 || len(rule.APIGroups) > 1 {
				t.Fatalf("%s %s: rule %v covers more than one resource; the test removes verbs of single-resource rules", r.kind, key, rule)
			}
			rule.Verbs = slices.DeleteFunc(rule.Verbs, func(v string) bool { return v == r.verb })
			if len(rule.Verbs) == 0 {
				continue
			}
		}
		edited = append(edited, rule)
	}
	if !found {
		t.Fatalf("%s %s grants no %s; the chart and this test disagree", r.kind, key, r)
	}
	*rules = edited
	if err := adminClient.Update(ctx, obj); err != nil {
		t.Fatalf("removing %s: %v", r, err)
	}
	waitAllowed(t, r, false)
	return func() {
		if err := adminClient.Get(ctx, key, obj); err != nil {
			t.Fatalf("reading %s %s: %v", r.kind, key, err)
		}
		*rules = original
		if err := adminClient.Update(ctx, obj); err != nil {
			t.Fatalf("restoring %s: %v", r, err)
		}
		waitAllowed(t, r, true)
	}
}

// waitAllowed waits until a SubjectAccessReview for the ServiceAccount gives want.
func waitAllowed(t *testing.T, r ruleRef, want bool) {
	t.Helper()
	res, sub, _ := strings.Cut(r.resource, "/")
	deadline := time.Now().Add(stepTimeout)
	for {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   proofUser,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + proofNamespace, "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: r.namespace, Verb: r.verb, Group: r.group, Resource: res, Subresource: sub,
			},
		}}
		if err := adminClient.Create(context.Background(), sar); err != nil {
			t.Fatalf("SubjectAccessReview for %s: %v", r, err)
		}
		if sar.Status.Allowed == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API server still answers allowed=%v for %s after %s", sar.Status.Allowed, r, stepTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
