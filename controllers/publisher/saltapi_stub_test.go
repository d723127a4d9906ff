// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package publisher_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// stubSaltAPI stands in for salt-api's rest_cherrypy /login and /hook: it records what arrives and
// answers as salt-api does, or as a test scripts it. It checks nothing a real salt-api would not; the
// tests check the recorded requests.
type stubSaltAPI struct {
	*httptest.Server

	mu sync.Mutex
	// users maps username to password; empty means webhook_disable_auth.
	users map[string]string
	// tokenLifetime is what /login reports as the token's remaining life.
	tokenLifetime time.Duration
	// script, if set, answers hook request n (0-based, counting every hook request) instead of the
	// default; it returns false to fall through to the default.
	script func(n int, w http.ResponseWriter, r *http.Request) bool

	validTokens map[string]bool
	logins      int
	loginBodies []map[string]string
	hooks       []hookRequest
}

// hookRequest is one request to /hook/... as the stub received it.
type hookRequest struct {
	Path             string
	Header           http.Header
	Body             []byte
	ContentLength    int64
	TransferEncoding []string
	Accepted         bool
}

// newStub starts a plain HTTP stub; users may be nil.
func newStub(t *testing.T, users map[string]string) *stubSaltAPI {
	s := &stubSaltAPI{users: users, tokenLifetime: 12 * time.Hour, validTokens: map[string]bool{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// newTLSStub starts an HTTPS stub with httptest's self-signed certificate.
func newTLSStub(t *testing.T) *stubSaltAPI {
	s := &stubSaltAPI{tokenLifetime: 12 * time.Hour, validTokens: map[string]bool{}}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	// Handshakes that the client aborts are expected here; keep them out of the test output.
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func (s *stubSaltAPI) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/login"):
		s.serveLogin(w, r)
	case r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/hook/"):
		s.serveHook(w, r)
	default:
		http.Error(w, "not found", http.StatusNotFound)
	}
}

func (s *stubSaltAPI) serveLogin(w http.ResponseWriter, r *http.Request) {
	var creds map[string]string
	if err := json.NewDecoder(r.Body).Decode(&creds); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": 400, "return": "bad login body"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logins++
	s.loginBodies = append(s.loginBodies, creds)
	if pw, ok := s.users[creds["username"]]; !ok || pw != creds["password"] || creds["eauth"] == "" {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"status": 401, "return": "Could not authenticate using provided credentials"})
		return
	}
	token := fmt.Sprintf("%040x", s.logins)
	s.validTokens[token] = true
	now := time.Now()
	writeJSON(w, http.StatusOK, map[string]any{"return": []map[string]any{{
		"token": token, "start": float64(now.UnixNano()) / 1e9, "expire": float64(now.Add(s.tokenLifetime).UnixNano()) / 1e9,
		"user": creds["username"], "eauth": creds["eauth"], "perms": []string{"@wheel"},
	}}})
}

func (s *stubSaltAPI) serveHook(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	n := len(s.hooks)
	s.hooks = append(s.hooks, hookRequest{Path: r.URL.Path, Header: r.Header.Clone(), Body: body, ContentLength: r.ContentLength, TransferEncoding: r.TransferEncoding})
	authorized := len(s.users) == 0 || s.validTokens[r.Header.Get("X-Auth-Token")]
	script := s.script
	s.mu.Unlock()
	if !authorized {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"status": 401, "return": "Please log in"})
		return
	}
	if script != nil && script(n, w, r) {
		return
	}
	s.mu.Lock()
	s.hooks[n].Accepted = true
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"success": true})
}

// revokeTokens forgets every token, as a salt-master restart with a fresh token store does.
func (s *stubSaltAPI) revokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.validTokens = map[string]bool{}
}

// setScript replaces the hook script.
func (s *stubSaltAPI) setScript(f func(n int, w http.ResponseWriter, r *http.Request) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = f
}

// received returns a copy of the hook requests so far.
func (s *stubSaltAPI) received() []hookRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]hookRequest(nil), s.hooks...)
}

// accepted returns the hook requests the stub answered with success.
func (s *stubSaltAPI) accepted() []hookRequest {
	var out []hookRequest
	for _, h := range s.received() {
		if h.Accepted {
			out = append(out, h)
		}
	}
	return out
}

// loginCount returns how many /login requests arrived.
func (s *stubSaltAPI) loginCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
