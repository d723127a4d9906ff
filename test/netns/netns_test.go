// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package netns_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/nodeallow/nodeallow/test/netns"
)

// hostRuleset reads the host's ruleset so the test can prove it never changed.
func hostRuleset(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("nft", "list", "ruleset").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list ruleset on the host: %v: %s", err, out)
	}
	return string(out)
}

func TestOneElementSetAppliesAndReadsBack(t *testing.T) {
	if reason := netns.Available(); reason != "" {
		t.Skip(reason)
	}
	before := hostRuleset(t)
	var name string
	t.Run("apply", func(t *testing.T) {
		ns := netns.New(t)
		name = ns.Name
		ruleset := filepath.Join(t.TempDir(), "ruleset.nft")
		const script = "table inet nodeallow_smoke {\n" +
			"  set allow_v4 { type ipv4_addr; flags interval; elements = { 192.0.2.10 } }\n" +
			"}\n"
		if err := os.WriteFile(ruleset, []byte(script), 0o600); err != nil {
			t.Fatal(err)
		}
		ns.MustExec("nft", "-f", ruleset)

		rs, err := ns.NftRuleset()
		if err != nil {
			t.Fatal(err)
		}
		set, err := rs.Set("inet", "nodeallow_smoke", "allow_v4")
		if err != nil {
			t.Fatal(err)
		}
		got, err := set.Elements()
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"192.0.2.10"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("set elements = %v, want %v", got, want)
		}
	})
	if after := hostRuleset(t); after != before {
		t.Fatalf("the host's ruleset changed during the test:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	if name == "" || containsWord(string(out), name) {
		t.Fatalf("namespace %q still exists after its test ended:\n%s", name, out)
	}
}

func TestNamespaceRemovedWhenTestFails(t *testing.T) {
	if reason := netns.Available(); reason != "" {
		t.Skip(reason)
	}
	// A failing subtest must still remove its namespace: run a fake T through
	// New, fail it, then run its cleanups the way the testing package would.
	var name string
	ft := &failingT{TB: t}
	func() {
		defer ft.runCleanups()
		ns := netns.New(ft)
		name = ns.Name
		ft.Fail()
	}()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	if containsWord(string(out), name) {
		t.Fatalf("namespace %q survived a failed test:\n%s", name, out)
	}
}

// failingT records cleanups and failure without failing the real test.
type failingT struct {
	testing.TB
	cleanups []func()
	failed   bool
}

func (f *failingT) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *failingT) Fail()             { f.failed = true }
func (f *failingT) Failed() bool      { return f.failed }
func (f *failingT) runCleanups() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

func containsWord(list, word string) bool {
	return slices.Contains(strings.Fields(list), word)
}
