package controllers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/nodeallow/nodeallow/api/protocol"
)

// saltAPIStandIn is an httptest stand-in for salt-api's /hook endpoint that
// checks what a receiver checks (Content-Length, signature, body, tag) and
// records every snapshot once all its chunks arrived. It can be told to answer
// with an error status. The real salt-api comes in the end-to-end tests.
type saltAPIStandIn struct {
	server *httptest.Server
	key    []byte

	mu       sync.Mutex
	failWith int    // HTTP status to answer instead of accepting; 0 accepts
	failBody string // message in a failure answer
	requests int
	pending  map[string][]*protocol.Body
	received []protocol.Snapshot
	invalid  []string // why bodies were refused by the stand-in itself
}

func newSaltAPIStandIn(key []byte) *saltAPIStandIn {
	s := &saltAPIStandIn{key: key, pending: map[string][]*protocol.Body{}}
	s.server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

func (s *saltAPIStandIn) URL() string { return s.server.URL }

func (s *saltAPIStandIn) Close() { s.server.Close() }

// failNext makes every following request fail with status and message (0 accepts again).
func (s *saltAPIStandIn) fail(status int, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failWith, s.failBody = status, message
}

// snapshots returns the complete snapshots received for one allowlist, in arrival order.
func (s *saltAPIStandIn) snapshots(allowlist string) []protocol.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []protocol.Snapshot
	for _, snap := range s.received {
		if snap.Allowlist == allowlist {
			out = append(out, snap)
		}
	}
	return out
}

// requestCount returns how many hook requests arrived, accepted or not.
func (s *saltAPIStandIn) requestCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// problems returns why the stand-in refused bodies that a correct client never sends.
func (s *saltAPIStandIn) problems() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.invalid...)
}

func (s *saltAPIStandIn) serve(w http.ResponseWriter, req *http.Request) {
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
		s.invalid = append(s.invalid, err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"success": true}`)
}

// accept checks one hook request as salt-api and the nodeallow runner would, and records it.
func (s *saltAPIStandIn) accept(req *http.Request) error {
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
	if !protocol.Verify(s.key, raw, req.Header.Get(protocol.SignatureHeader)) {
		return errors.New("bad signature")
	}
	body, err := protocol.Decode(raw)
	if err != nil {
		return fmt.Errorf("decoding body: %w", err)
	}
	if body.Cluster != parts[1] || body.Allowlist != parts[2] {
		return fmt.Errorf("body names %s/%s, tag %s/%s", body.Cluster, body.Allowlist, parts[1], parts[2])
	}
	key := fmt.Sprintf("%s/%s/%d", body.Cluster, body.Allowlist, body.Sequence)
	s.pending[key] = append(s.pending[key], body)
	snap, err := protocol.Assemble(s.pending[key])
	if errors.Is(err, protocol.ErrIncomplete) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("assembling %s: %w", key, err)
	}
	delete(s.pending, key)
	s.received = append(s.received, snap)
	return nil
}
