// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package packaging

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nodeallow/nodeallow/test/testenv"
)

// testVersion is stamped into the binary these tests build.
const testVersion = "packaging-test"

// The manager binary is built once per test run, with the command `make build` uses.
var (
	buildOnce   sync.Once
	buildDir    string
	builtBinary string
	buildErr    error
)

// managerBinary builds the controller exactly as `make build` does (its recipe
// is read from the Makefile, with VERSION set and the output redirected) and
// returns the binary's path.
func managerBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "nodeallow-packaging-")
		if buildErr != nil {
			return
		}
		builtBinary = filepath.Join(buildDir, "manager")
		var cmd buildCommand
		cmd, buildErr = makefileBuildCommand()
		if buildErr != nil {
			return
		}
		args := cmd.Args
		for i := range args {
			args[i] = strings.ReplaceAll(args[i], "$(VERSION)", testVersion)
			if i > 0 && args[i-1] == "-o" {
				args[i] = builtBinary
			}
		}
		c := exec.Command(args[0], args[1:]...)
		c.Dir = testenv.RepoRoot()
		c.Env = os.Environ()
		for k, v := range cmd.Env {
			c.Env = append(c.Env, k+"="+v)
		}
		if out, err := c.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("%s failed: %w\n%s", strings.Join(args, " "), err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("building the manager as `make build` does: %v", buildErr)
	}
	return builtBinary
}

// cleanupBinaries removes what managerBinary and builtRelease built.
func cleanupBinaries() {
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	if releaseDir != "" {
		_ = os.RemoveAll(releaseDir)
	}
}

// buildCommand is one shell command line: leading VAR=value assignments and the words after them.
type buildCommand struct {
	Env  map[string]string
	Args []string
}

// makefileBuildCommand returns the go build line of the Makefile's build target.
func makefileBuildCommand() (buildCommand, error) {
	path := filepath.Join(testenv.RepoRoot(), "Makefile")
	f, err := os.Open(path)
	if err != nil {
		return buildCommand{}, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	inBuild := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "build:"):
			inBuild = true
		case inBuild && strings.HasPrefix(line, "\t"):
			if strings.Contains(line, "go build") {
				return parseCommand(strings.TrimSpace(line))
			}
		case inBuild:
			inBuild = false
		}
	}
	return buildCommand{}, fmt.Errorf("%s has no `go build` line in its build target", path)
}

// parseCommand splits a shell command line into assignments and words,
// honouring single and double quotes; that is all the build lines use.
func parseCommand(line string) (buildCommand, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return buildCommand{}, fmt.Errorf("unterminated quote in %q", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	cmd := buildCommand{Env: map[string]string{}}
	for i, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok || strings.ContainsAny(k, "-./ $") || k == "" {
			cmd.Args = words[i:]
			return cmd, nil
		}
		cmd.Env[k] = v
	}
	return buildCommand{}, fmt.Errorf("no command in %q", line)
}
