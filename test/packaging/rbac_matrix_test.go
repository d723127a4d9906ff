// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package packaging

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodeallow/nodeallow/test/saltapistandin"
)

// TestRBACMatrix removes every verb of every rule the chart grants, one at a
// time, runs the core scenario and reports which removals it notices. It takes
// a few minutes, so it runs only with NODEALLOW_RBAC_MATRIX=1; its table says
// which grants the controller could do without on this API server (some, such
// as list with watch-list streaming, are still needed elsewhere).
func TestRBACMatrix(t *testing.T) {
	if os.Getenv("NODEALLOW_RBAC_MATRIX") != "1" {
		t.Skip("set NODEALLOW_RBAC_MATRIX=1 to remove every granted verb in turn (a few minutes)")
	}
	rig := setUpProof(t)
	var table []string
	n := 0
	for _, r := range grantedVerbs(t) {
		n++
		ok := t.Run(r.String(), func(t *testing.T) {
			restore := removeVerb(t, r)
			defer restore()
			salt := saltapistandin.NewForTest(t, []byte(proofSigningKey))
			p := rig.start(t)
			name := fmt.Sprintf("matrix-%d", n)
			defer forceDelete(t, name)
			defer p.stop(t)
			err := exercise(t, salt, name, 4*time.Second)
			_, forbidden := p.findLine("is forbidden", r.forbiddenText())
			outcome := "scenario FAILS"
			if err == nil {
				outcome = "scenario passes (not needed here)"
			}
			table = append(table, fmt.Sprintf("%-70s %-36s forbidden logged: %v", r, outcome, forbidden))
		})
		if !ok {
			table = append(table, fmt.Sprintf("%-70s test error", r))
		}
	}
	t.Logf("without one verb each:\n%s", strings.Join(table, "\n"))
}

// grantedVerbs lists every verb of every single-resource rule in the installed
// chart's manager, Secrets, leader-election and Events roles.
func grantedVerbs(t *testing.T) []ruleRef {
	t.Helper()
	ctx := context.Background()
	var out []ruleRef
	add := func(kind, ns, suffix string, rules []rbacv1.PolicyRule) {
		for _, rule := range rules {
			for _, g := range rule.APIGroups {
				for _, res := range rule.Resources {
					for _, v := range rule.Verbs {
						out = append(out, ruleRef{kind, ns, suffix, g, res, v})
					}
				}
			}
		}
	}
	var cr rbacv1.ClusterRole
	if err := adminClient.Get(ctx, client.ObjectKey{Name: proofRelease + "-manager"}, &cr); err != nil {
		t.Fatal(err)
	}
	add("ClusterRole", "", "-manager", cr.Rules)
	for _, r := range []struct{ ns, suffix string }{{proofNamespace, "-secrets"}, {proofNamespace, "-leader-election"}, {eventsNamespace, "-events"}} {
		var role rbacv1.Role
		if err := adminClient.Get(ctx, client.ObjectKey{Namespace: r.ns, Name: proofRelease + r.suffix}, &role); err != nil {
			t.Fatal(err)
		}
		add("Role", r.ns, r.suffix, role.Rules)
	}
	return out
}
