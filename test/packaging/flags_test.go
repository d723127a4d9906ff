// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package packaging

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// chartOwnFlagValues are the flags whose chart default differs from the manager's on purpose: the
// cluster name is required, the namespace is the release's, the chart runs two leader-elected
// replicas, and it serves metrics.
var chartOwnFlagValues = map[string]bool{
	"--cluster-name": true, "--controller-namespace": true, "--leader-elect": true, "--metrics-bind-address": true,
}

// TestChartPassesTheManagersDefaults keeps values.yaml in step with the manager's flags: every flag
// the chart passes exists, and with the chart's defaults it gets the manager's own default (a
// duration compared as a duration: 2m is 2m0s), so a default is changed in one place, cmd/, and
// this test names the value to follow.
func TestChartPassesTheManagersDefaults(t *testing.T) {
	defaults := managerFlagDefaults(t)
	objs := render(t, "nodeallow", "nodeallow-system", []string{filepath.Join(chartDir(), "ci", "default-values.yaml")})
	c := nestedMap(t, findOne(t, objs, "Deployment", "nodeallow"), "spec", "template", "spec")["containers"].([]any)[0].(map[string]any)
	for _, arg := range stringList(c["args"]) {
		name, value, _ := strings.Cut(arg, "=")
		def, known := defaults[name]
		switch {
		case !known:
			t.Errorf("the chart passes %s, which `manager -help` does not list", arg)
		case chartOwnFlagValues[name]:
		case !sameFlagValue(def, value):
			t.Errorf("the chart passes %s by default, the manager's default is %q: change values.yaml to match cmd/", arg, def)
		}
	}
}

// helpFlag matches a flag's line in the output of Go's flag.PrintDefaults.
var helpFlag = regexp.MustCompile(`^  -([a-z0-9-]+)`)

// helpDefault matches the default that flag.PrintDefaults appends to a flag's usage.
var helpDefault = regexp.MustCompile(`\(default "?([^"]*?)"?\)$`)

// managerFlagDefaults runs `manager -help` and returns each --flag's default as printed ("" when
// the zero value, which the flag package does not print).
func managerFlagDefaults(t *testing.T) map[string]string {
	t.Helper()
	out, err := exec.Command(managerBinary(t), "-help").CombinedOutput()
	if err != nil {
		t.Fatalf("manager -help: %v\n%s", err, out)
	}
	defaults := map[string]string{}
	var current string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := sc.Text()
		if m := helpFlag.FindStringSubmatch(line); m != nil {
			current = "--" + m[1]
			defaults[current] = ""
			continue
		}
		if m := helpDefault.FindStringSubmatch(strings.TrimSpace(line)); m != nil && current != "" {
			defaults[current] = m[1]
		}
	}
	if len(defaults) == 0 {
		t.Fatalf("no flags in the output of manager -help:\n%s", out)
	}
	return defaults
}

// sameFlagValue compares a chart value with a flag's printed default, as durations when both are.
func sameFlagValue(def, value string) bool {
	if def == value {
		return true
	}
	if def == "" && value == "false" {
		return true
	}
	a, errA := time.ParseDuration(def)
	b, errB := time.ParseDuration(value)
	return errA == nil && errB == nil && a == b
}
