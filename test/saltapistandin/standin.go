// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

// Package saltapistandin is the one httptest stand-in for salt-api's rest_cherrypy /login and /hook
// for tests of one layer. It answers as salt-api does (webhook auth off, or on with WithLogin), checks
// what salt-api and the nodeallow runner check (Content-Length, token, signature, path, strict body),
// records every hook request as it arrived and every snapshot once all its chunks arrived, and can be
// told to fail or scripted request by request. The real salt-api runs in the end-to-end tests; this
// never proves a feature on its own.
package saltapistandin

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nodeallow/nodeallow/api/protocol"
	"github.com/nodeallow/nodeallow/test/receiver"
)

// Server is one running stand-in salt-api.
type Server struct {
	server *httptest.Server

	mu            sync.Mutex
	keys          [][]byte          // accepted signing keys, newest first, as the master's signing_keys
	users         map[string]string // username → password for /login; nil is webhook_disable_auth
	eauth         map[string]bool   // eauth backends /login accepts (the master's external_auth); nil accepts any
	hang          chan struct{}     // while non-nil, hook requests wait until it is closed (Answer)
	closed        chan struct{}     // closed by Close, so hanging requests let the server stop
	tokenLifetime time.Duration     // what /login reports as a token's remaining life
	tokens        map[string]bool
	logins        []map[string]string
	failWith      int    // HTTP status to answer instead of accepting; 0 accepts
	failBody      string // message in a failure answer
	script        func(n int, w http.ResponseWriter, r *http.Request) bool
	hooks         []Hook
	pending       map[string][]*receiver.Body
	received      []protocol.Snapshot
	problems      []string // why bodies were refused by the stand-in itself
	subscribers   []string // minions the runner nodeallow.status reports for every allowlist, all applied
	runnerRefused bool     // the user may log in but not run the runner (no '@runner' ACL)
}

// Hook is one request to /hook/... as the stand-in received it.
type Hook struct {
	// Path is the request path.
	Path string
	// Header holds the request headers.
	Header http.Header
	// Body is the raw body.
	Body []byte
	// ContentLength is the request's Content-Length, -1 when unknown.
	ContentLength int64
	// TransferEncoding is the request's transfer codings.
	TransferEncoding []string
	// Accepted is true when the stand-in answered {"success": true}.
	Accepted bool
}

// Option configures a stand-in.
type Option func(*config)

type config struct {
	users map[string]string
	eauth []string
	tls   bool
}

// WithEauth makes /login accept only these eauth backends, as a master whose external_auth lists
// only them; without it any non-empty eauth is accepted.
func WithEauth(backends ...string) Option {
	return func(c *config) { c.eauth = append(c.eauth, backends...) }
}

// WithLogin turns webhook auth on: /login accepts these users (username → password, any eauth) and
// /hook wants one of the tokens it handed out.
func WithLogin(users map[string]string) Option {
	return func(c *config) { c.users = users }
}

// WithTLS serves HTTPS with httptest's self-signed certificate (see Certificate).
func WithTLS() Option {
	return func(c *config) { c.tls = true }
}

// New starts a stand-in that verifies signatures with key; Close stops it.
func New(key []byte, opts ...Option) *Server {
	var c config
	for _, o := range opts {
		o(&c)
	}
	s := &Server{keys: [][]byte{key}, users: c.users, tokenLifetime: 12 * time.Hour, tokens: map[string]bool{},
		pending: map[string][]*receiver.Body{}, closed: make(chan struct{})}
	if c.eauth != nil {
		s.eauth = map[string]bool{}
		for _, b := range c.eauth {
			s.eauth[b] = true
		}
	}
	s.server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	if c.tls {
		// Handshakes that a client aborts are expected in TLS tests; keep them out of the test output.
		s.server.Config.ErrorLog = log.New(io.Discard, "", 0)
		s.server.StartTLS()
	} else {
		s.server.Start()
	}
	return s
}

// NewForTest is New with Close registered as t's cleanup.
func NewForTest(t testing.TB, key []byte, opts ...Option) *Server {
	s := New(key, opts...)
	t.Cleanup(s.Close)
	return s
}

// URL is the stand-in's base URL (plain http unless WithTLS: endpoints need salt.allowInsecureHTTP).
func (s *Server) URL() string { return s.server.URL }

// Certificate is the certificate a WithTLS stand-in serves.
func (s *Server) Certificate() *x509.Certificate { return s.server.Certificate() }

// Close stops the stand-in, letting hanging requests go first.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.closed:
	default:
		close(s.closed)
	}
	s.mu.Unlock()
	s.server.Close()
}

// Hang makes every following hook request wait without an answer (the connection accepted, nothing
// sent back), as a salt-api whose worker threads are stuck, until Answer. Hung requests count in
// Hooks and Requests from their arrival.
func (s *Server) Hang() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hang == nil {
		s.hang = make(chan struct{})
	}
}

// Answer ends Hang: waiting and following hook requests are answered as usual.
func (s *Server) Answer() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hang != nil {
		close(s.hang)
		s.hang = nil
	}
}

// AcceptKeys replaces the accepted signing keys, as a master whose signing_keys changed.
func (s *Server) AcceptKeys(keys ...[]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

// Fail makes every following hook request fail with status and message; status 0 accepts again.
func (s *Server) Fail(status int, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failWith, s.failBody = status, message
}

// Script lets f answer hook request n (0-based, counting every hook request) instead of the stand-in;
// f returns false to leave the request to it. nil removes the script.
func (s *Server) Script(f func(n int, w http.ResponseWriter, r *http.Request) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = f
}

// SetTokenLifetime sets the remaining life /login reports for the tokens it hands out from now on.
func (s *Server) SetTokenLifetime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenLifetime = d
}

// RevokeTokens forgets every token, as a salt-master restart with a fresh token store does.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = map[string]bool{}
}

// Logins returns the bodies of the /login requests so far (username, password, eauth).
func (s *Server) Logins() []map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]string(nil), s.logins...)
}

// Hooks returns the hook requests so far, accepted or not.
func (s *Server) Hooks() []Hook {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Hook(nil), s.hooks...)
}

// Accepted returns the hook requests answered with success.
func (s *Server) Accepted() []Hook {
	var out []Hook
	for _, h := range s.Hooks() {
		if h.Accepted {
			out = append(out, h)
		}
	}
	return out
}

// Requests returns how many hook requests arrived, accepted or not.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.hooks)
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

// Problems returns why the stand-in refused bodies; a correct client causes none.
func (s *Server) Problems() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.problems...)
}

func (s *Server) serve(w http.ResponseWriter, req *http.Request) {
	// Hooks first: an allowlist may be named "login".
	switch {
	case strings.Contains(req.URL.Path, "/hook/"):
		s.serveHook(w, req)
	case req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/login"):
		s.serveLogin(w, req)
	case req.Method == http.MethodPost && req.URL.Path == "/":
		s.serveRunner(w, req)
	default:
		http.Error(w, "not found", http.StatusNotFound)
	}
}

// SetSubscribers makes the runner nodeallow.status report these minions as the subscribers of every
// allowlist, each having applied the allowlist's last complete snapshot.
func (s *Server) SetSubscribers(minions ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subscribers = append([]string(nil), minions...)
}

// RefuseRunner makes every runner call fail as salt-api does for a user whose external_auth entry does
// not allow it (HTTP 401 after a valid login).
func (s *Server) RefuseRunner() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runnerRefused = true
}

// serveRunner answers a lowstate POST to / for the runner nodeallow.status (the only one the
// controller calls) as salt-api and the runner do: a token is needed, the answer is the report under
// data with its outputter beside it.
func (s *Server) serveRunner(w http.ResponseWriter, req *http.Request) {
	var low []map[string]any
	if err := json.NewDecoder(req.Body).Decode(&low); err != nil || len(low) != 1 {
		WriteJSON(w, http.StatusBadRequest, map[string]any{"status": 400, "return": "bad lowstate"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users == nil || !s.tokens[req.Header.Get("X-Auth-Token")] {
		WriteCherryPyError(w, http.StatusUnauthorized, "No permission -- see authorization")
		return
	}
	if s.runnerRefused || low[0]["client"] != "runner" || low[0]["fun"] != protocol.StatusRunner {
		WriteCherryPyError(w, http.StatusUnauthorized, "No permission -- see authorization")
		return
	}
	cluster, _ := low[0]["cluster"].(string)
	allowlist, _ := low[0]["allowlist"].(string)
	var last *protocol.Snapshot
	for i := range s.received {
		if r := &s.received[i]; r.Cluster == cluster && r.Allowlist == allowlist {
			last = r
		}
	}
	data := map[string]any{}
	if last != nil {
		subs := map[string]any{}
		for _, m := range s.subscribers {
			subs[m] = map[string]any{"applied_sequence": last.Sequence, "result": true, "behind": false, "last_error": "",
				"seconds_ago": 0, "job": nil, "next_retry_in": 0, "failures": 0}
		}
		data[cluster+"/"+allowlist] = map[string]any{"cluster": cluster, "allowlist": allowlist, "stored": true,
			"sequence": last.Sequence, "retired": last.Kind == protocol.KindRetirement, "stored_seconds_ago": 0, "subscribers": subs}
	}
	WriteJSON(w, http.StatusOK, map[string]any{"return": []any{map[string]any{"outputter": protocol.StatusOutputter, "data": data}}})
}

// serveLogin answers /login as rest_cherrypy does.
func (s *Server) serveLogin(w http.ResponseWriter, req *http.Request) {
	var creds map[string]string
	if err := json.NewDecoder(req.Body).Decode(&creds); err != nil {
		WriteJSON(w, http.StatusBadRequest, map[string]any{"status": 400, "return": "bad login body: " + err.Error()})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logins = append(s.logins, creds)
	if pw, ok := s.users[creds["username"]]; !ok || pw != creds["password"] || creds["eauth"] == "" || (s.eauth != nil && !s.eauth[creds["eauth"]]) {
		// rest_cherrypy raises cherrypy.HTTPError, which CherryPy renders as its HTML error page.
		WriteCherryPyError(w, http.StatusUnauthorized, "Could not authenticate using provided credentials")
		return
	}
	token := fmt.Sprintf("%040x", len(s.logins))
	s.tokens[token] = true
	now := time.Now()
	WriteJSON(w, http.StatusOK, map[string]any{"return": []map[string]any{{
		"token": token, "start": float64(now.UnixNano()) / 1e9, "expire": float64(now.Add(s.tokenLifetime).UnixNano()) / 1e9,
		"user": creds["username"], "eauth": creds["eauth"], "perms": []string{"@wheel"},
	}}})
}

// serveHook records one hook request and answers it: 401 without a valid token when auth is on, then
// as Fail or the script say, else as salt-api and the runner would.
func (s *Server) serveHook(w http.ResponseWriter, req *http.Request) {
	raw, err := io.ReadAll(req.Body)
	s.mu.Lock()
	n := len(s.hooks)
	s.hooks = append(s.hooks, Hook{Path: req.URL.Path, Header: req.Header.Clone(), Body: raw, ContentLength: req.ContentLength,
		TransferEncoding: req.TransferEncoding})
	hang := s.hang
	s.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-s.closed:
			return
		case <-req.Context().Done():
			// The client gave up (its timeout); salt-api would never have answered either.
			return
		}
	}
	s.mu.Lock()
	authorized := s.users == nil || s.tokens[req.Header.Get("X-Auth-Token")]
	failWith, failBody, script := s.failWith, s.failBody, s.script
	s.mu.Unlock()
	switch {
	case !authorized:
		WriteJSON(w, http.StatusUnauthorized, map[string]any{"status": 401, "return": "Please log in"})
		return
	case failWith != 0:
		WriteJSON(w, failWith, map[string]string{"message": failBody})
		return
	case script != nil && script(n, w, req):
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		err = s.accept(req, raw)
	}
	if err != nil {
		s.problems = append(s.problems, err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.hooks[n].Accepted = true
	WriteJSON(w, http.StatusOK, map[string]any{"success": true})
}

// accept checks one hook body as salt-api and the nodeallow runner would, and records it.
func (s *Server) accept(req *http.Request, raw []byte) error {
	if req.Method != http.MethodPost {
		return fmt.Errorf("method %s, want POST", req.Method)
	}
	if req.ContentLength <= 0 {
		return errors.New("no Content-Length: salt-api would see an empty body")
	}
	// The base URL may carry a path prefix before /hook/.
	path := req.URL.Path[strings.Index(req.URL.Path, "/hook/")+len("/hook/"):]
	parts := strings.Split(path, "/")
	if len(parts) != 3 {
		return fmt.Errorf("path %s is not .../hook/<hookPath>/<cluster>/<allowlist>", req.URL.Path)
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

// WriteCherryPyError answers with status and CherryPy's HTML error page carrying message, as salt-api
// does for the errors it raises as cherrypy.HTTPError.
func WriteCherryPyError(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "text/html;charset=utf-8")
	w.WriteHeader(status)
	line := fmt.Sprintf("%d %s", status, http.StatusText(status))
	_, _ = fmt.Fprintf(w, cherryPyErrorPage, line, line, html.EscapeString(message))
}

// cherryPyErrorPage is CherryPy 18's _HTTPErrorTemplate with status, status and message to fill in.
const cherryPyErrorPage = `<!DOCTYPE html PUBLIC
"-//W3C//DTD XHTML 1.0 Transitional//EN"
"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html>
<head>
    <meta http-equiv="Content-Type" content="text/html; charset=utf-8"></meta>
    <title>%s</title>
    <style type="text/css">
    #powered_by {
        margin-top: 20px;
        border-top: 2px solid black;
        font-style: italic;
    }

    #traceback {
        color: red;
    }
    </style>
</head>
    <body>
        <h2>%s</h2>
        <p>%s</p>
        <pre id="traceback"></pre>
    <div id="powered_by">
      <span>
        Powered by <a href="http://www.cherrypy.dev">CherryPy 18.10.0</a>
      </span>
    </div>
    </body>
</html>
`

// WriteJSON answers with status and v as JSON, as salt-api does; scripts use it.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
