// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package packaging

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// controllerProcess is the manager binary running against the test API
// server, with its JSON log lines collected.
type controllerProcess struct {
	cmd  *exec.Cmd
	done chan struct{}
	// metricsAddr is where it serves /metrics, when the caller set one.
	metricsAddr string

	mu    sync.Mutex
	lines []logLine
}

// logLine is one log line: the raw text and its fields flattened to
// "key=value" text with JSON escapes undone, so that quoted API errors match.
type logLine struct {
	Raw  string
	Text string
}

// startController runs the manager binary with args, reaching the API server
// through kubeconfig, with env added to its environment, and stops it (gracefully, so the Lease is released) when
// the test ends.
func startController(t *testing.T, binary, kubeconfig string, args []string, env ...string) *controllerProcess {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+kubeconfig), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", binary, err)
	}
	p := &controllerProcess{cmd: cmd, done: make(chan struct{})}
	go p.collect(stderr)
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("controller log:\n%s", p.rawLog())
		}
	})
	return p
}

func (p *controllerProcess) collect(r io.Reader) {
	defer close(p.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		raw := sc.Text()
		p.mu.Lock()
		p.lines = append(p.lines, logLine{Raw: raw, Text: flatten(raw)})
		p.mu.Unlock()
	}
}

// flatten turns a JSON log line into "key=value ..." with strings unescaped;
// other lines are returned as they are.
func flatten(raw string) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return raw
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%v ", k, m[k])
	}
	return b.String()
}

// stop sends SIGTERM and waits for the process, killing it after 15s.
func (p *controllerProcess) stop(t *testing.T) {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	select {
	case err := <-exited:
		// Exiting on SIGTERM is the expected end; its status only helps when a test fails.
		t.Logf("controller exited after SIGTERM: %v", err)
	case <-time.After(15 * time.Second):
		t.Errorf("the controller did not stop within 15s of SIGTERM; killing it")
		_ = p.cmd.Process.Kill()
		t.Logf("controller killed: %v", <-exited)
	}
	<-p.done
}

// waitForLine waits until a log line contains every one of substrings and returns it.
func (p *controllerProcess) waitForLine(timeout time.Duration, substrings ...string) (logLine, bool) {
	deadline := time.Now().Add(timeout)
	for {
		if l, ok := p.findLine(substrings...); ok {
			return l, true
		}
		if time.Now().After(deadline) {
			return logLine{}, false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// findLine returns the first log line that contains every one of substrings.
func (p *controllerProcess) findLine(substrings ...string) (logLine, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.lines {
		all := true
		for _, s := range substrings {
			if !strings.Contains(l.Text, s) {
				all = false
				break
			}
		}
		if all {
			return l, true
		}
	}
	return logLine{}, false
}

// rawLog returns every line the process logged.
func (p *controllerProcess) rawLog() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, l := range p.lines {
		b.WriteString(l.Raw)
		b.WriteByte('\n')
	}
	return b.String()
}
