package packaging

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/nodeallow/nodeallow/api/protocol"
)

// saltAPIStandIn stands in for salt-api's /hook endpoint (webhook_disable_auth):
// it checks what the receiver checks (Content-Length, signature, tag, body),
// answers {"success": true} as salt-api does, and records complete snapshots.
// These tests are about the controller's permissions; the real salt-api runs
// in the end-to-end tests.
type saltAPIStandIn struct {
	server *httptest.Server
	key    []byte

	mu       sync.Mutex
	requests int
	pending  map[string][]*protocol.Body
	received []protocol.Snapshot
	refused  []string
}

func newSaltAPIStandIn(t *testing.T, key []byte) *saltAPIStandIn {
	s := &saltAPIStandIn{key: key, pending: map[string][]*protocol.Body{}}
	s.server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.server.Close)
	return s
}

// snapshots returns the complete snapshots (and retirements) received, in arrival order.
func (s *saltAPIStandIn) snapshots() []protocol.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]protocol.Snapshot(nil), s.received...)
}

// requestCount returns how many hook requests arrived, accepted or not.
func (s *saltAPIStandIn) requestCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// refusals returns why requests were refused; a correct controller causes none.
func (s *saltAPIStandIn) refusals() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.refused...)
}

func (s *saltAPIStandIn) serve(w http.ResponseWriter, req *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if err := s.accept(req); err != nil {
		s.refused = append(s.refused, err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"success": true}`)
}

// accept checks one hook request and records the snapshot once all its chunks arrived.
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
		return fmt.Errorf("body names %s/%s, path %s/%s", body.Cluster, body.Allowlist, parts[1], parts[2])
	}
	key := fmt.Sprintf("%s/%s/%s/%d", body.Kind, body.Cluster, body.Allowlist, body.Sequence)
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
