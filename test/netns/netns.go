// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

// Package netns gives tests a private network namespace in which they may
// change and read nftables, iptables and ipset state without touching the
// host's own ruleset. Every namespace is removed when the test ends, also when
// it fails.
package netns

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// NamePrefix starts the name of every namespace these helpers create, so a
// leftover from a killed test run is easy to recognise and remove.
const NamePrefix = "nodeallow-test-"

// Namespace is one network namespace created for a test.
type Namespace struct {
	// Name is the namespace's name as `ip netns` knows it.
	Name string
	t    testing.TB
}

// Available reports why network namespace tests cannot run here, or "" when they can.
func Available() string {
	if os.Geteuid() != 0 {
		return "network namespace tests need root (they create namespaces with `ip netns add`)"
	}
	for _, tool := range []string{"ip", "nft", "iptables-save", "ip6tables-save", "ipset"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Sprintf("%s is not installed (Debian: apt-get install iproute2 nftables iptables ipset)", tool)
		}
	}
	return ""
}

// New creates a uniquely named namespace and registers its removal with t.Cleanup.
// It skips the test when namespaces cannot be created here (not root, tools missing).
func New(t testing.TB) *Namespace {
	t.Helper()
	if reason := Available(); reason != "" {
		t.Skip(reason)
	}
	suffix := make([]byte, 5)
	if _, err := rand.Read(suffix); err != nil {
		t.Fatalf("netns: reading random bytes for a namespace name: %v", err)
	}
	ns := &Namespace{Name: NamePrefix + hex.EncodeToString(suffix), t: t}
	if out, err := exec.Command("ip", "netns", "add", ns.Name).CombinedOutput(); err != nil {
		t.Fatalf("netns: ip netns add %s: %v: %s", ns.Name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", ns.Name).CombinedOutput(); err != nil {
			t.Errorf("netns: ip netns delete %s: %v: %s (remove it by hand)", ns.Name, err, out)
		}
	})
	return ns
}

// Exec runs argv inside the namespace and returns its standard output. The
// command is an argument list, never a shell string.
func (ns *Namespace) Exec(argv ...string) (string, error) {
	return ns.ExecInput(nil, argv...)
}

// ExecInput is Exec with stdin fed from input.
func (ns *Namespace) ExecInput(input []byte, argv ...string) (string, error) {
	full := append([]string{"netns", "exec", ns.Name}, argv...)
	cmd := exec.Command("ip", full...)
	if input != nil {
		cmd.Stdin = bytes.NewReader(input)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("in namespace %s: %s: %w: %s",
			ns.Name, strings.Join(argv, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// MustExec is Exec that fails the test on error.
func (ns *Namespace) MustExec(argv ...string) string {
	ns.t.Helper()
	out, err := ns.Exec(argv...)
	if err != nil {
		ns.t.Fatal(err)
	}
	return out
}

// NftRuleset returns `nft -j list ruleset` inside the namespace, parsed.
func (ns *Namespace) NftRuleset() (*NftRuleset, error) {
	out, err := ns.Exec("nft", "-j", "list", "ruleset")
	if err != nil {
		return nil, err
	}
	var rs NftRuleset
	if err := json.Unmarshal([]byte(out), &rs); err != nil {
		return nil, fmt.Errorf("in namespace %s: parsing `nft -j list ruleset`: %w", ns.Name, err)
	}
	return &rs, nil
}

// IPSetSave returns `ipset save` inside the namespace.
func (ns *Namespace) IPSetSave() (string, error) { return ns.Exec("ipset", "save") }

// IPTablesSave returns `iptables-save` inside the namespace.
func (ns *Namespace) IPTablesSave() (string, error) { return ns.Exec("iptables-save") }

// IP6TablesSave returns `ip6tables-save` inside the namespace.
func (ns *Namespace) IP6TablesSave() (string, error) { return ns.Exec("ip6tables-save") }
