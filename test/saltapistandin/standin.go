// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

// Package saltapistandin is an httptest stand-in for salt-api's /hook endpoint
// (webhook auth off) for tests of one layer: it checks what salt-api and the
// nodeallow runner check (Content-Length, signature, tag, strict body) and
// records every snapshot once all its chunks arrived. The real salt-api runs in
// the end-to-end tests; this never proves a feature on its own.
package saltapistandin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/nodeallow/nodeallow/api/protocol"
	"github.com/nodeallow/nodeallow/test/receiver"
)

// Server is one running stand-in salt-api.
type Server struct {
	server *httptest.Server

	mu       sync.Mutex
	keys     [][]byte // accepted signing keys, newest first, as the master's signing_keys
	failWith int      // HTTP status to answer instead of accepting; 0 accepts
	failBody string   // message in a failure answer
	requests int
	pending  map[string][]*receiver.Body
	received []protocol.Snapshot
	problems []string // why bodies were refused by the stand-in itself
}

// New starts a stand-in that verifies signatures with key; Close stops it.
func New(key []byte) *Server {
	s := &Server{keys: [][]byte{key}, pending: map[string][]*receiver.Body{}}
	s.server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// NewForTest is New with Close registered as t's cleanup.
func NewForTest(t testing.TB, key []byte) *Server {
	s := New(key)
	t.Cleanup(s.Close)
	return s
}

// URL is the stand-in's base URL (plain http: endpoints need salt.allowInsecureHTTP).
func (s *Server) URL() string { return s.server.URL }

// Close stops the stand-in.
func (s *Server) Close() { s.server.Close() }

// AcceptKeys replaces the accepted signing keys, as a master whose signing_keys changed.
func (s *Server) AcceptKeys(keys ...[]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

// Fail makes every following request fail with status and message; status 0 accepts again.
func (s *Server) Fail(status int, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failWith, s.failBody = status, message
}

// Snapshots returns every complete snapshot (and retirement) received, in arrival order.
func (s *Server) Snapshots() []protocol.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]protocol.Snapshot(nil), s.received...)
}

// SnapshotsFor returns the complete snapshots received for one allowlist, in arrival order.
func (s *Server) SnapshotsFor(allowlist string) []protocol.Snapshot {
	var out []protocol.Snapshot
	for _, snap := range s.Snapshots() {
		if snap.Allowlist == allowlist {
			out = append(out, snap)
		}
	}
	return out
}

// Requests returns how many hook requests arrived, accepted or not.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Problems returns why the stand-in refused bodies; a correct client causes none.
func (s *Server) Problems() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.problems...)
}

func (s *Server) serve(w http.ResponseWriter, req *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if s.failWith != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(s.failWith)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": s.failBody})
		return
	}
	if err := s.accept(req); err != nil {
		s.problems = append(s.problems, err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"success": true}`)
}

// accept checks one hook request as salt-api and the nodeallow runner would, and records it.
func (s *Server) accept(req *http.Request) error {
	if req.Method != http.MethodPost {
		return fmt.Errorf("method %s, want POST", req.Method)
	}
	if req.ContentLength <= 0 {
		return errors.New("no Content-Length: salt-api would see an empty body")
	}
	parts := strings.Split(strings.TrimPrefix(req.URL.Path, "/hook/"), "/")
	if len(parts) != 3 {
		return fmt.Errorf("path %s is not /hook/<hookPath>/<cluster>/<allowlist>", req.URL.Path)
	}
	raw, err := io.ReadAll(req.Body)
	if err != nil {
		return fmt.Errorf("reading body: %w", err)
	}
	if protocol.VerifyAny(s.keys, raw, req.Header.Get(protocol.SignatureHeader)) < 0 {
		return fmt.Errorf("bad signature: matches none of the %d accepted keys", len(s.keys))
	}
	body, err := receiver.Decode(raw)
	if err != nil {
		return fmt.Errorf("decoding body: %w", err)
	}
	if body.Cluster != parts[1] || body.Allowlist != parts[2] {
		return fmt.Errorf("body names %s/%s, path %s/%s", body.Cluster, body.Allowlist, parts[1], parts[2])
	}
	key := fmt.Sprintf("%s/%s/%s/%d", body.Kind, body.Cluster, body.Allowlist, body.Sequence)
	s.pending[key] = append(s.pending[key], body)
	snap, err := receiver.Assemble(s.pending[key])
	if errors.Is(err, receiver.ErrIncomplete) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("assembling %s: %w", key, err)
	}
	delete(s.pending, key)
	s.received = append(s.received, snap)
	return nil
}
