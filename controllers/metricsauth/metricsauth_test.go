// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package metricsauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fakeAPI stands in for the API server's TokenReview and SubjectAccessReview endpoints (this file tests the
// filter alone; apiserver_test.go runs it against a real kube-apiserver).
type fakeAPI struct {
	mu        sync.Mutex
	users     map[string]authenticationv1.UserInfo // token → user
	grants    map[string]bool                      // "user verb path" → allowed
	tokenErr  error
	accessErr error
	tokenReqs []string
	accessReq []authorizationv1.SubjectAccessReviewSpec
}

func (f *fakeAPI) tokens() TokenReviewer { return tokenFunc(f.reviewToken) }
func (f *fakeAPI) access() AccessReviewer {
	return accessFunc(f.reviewAccess)
}

type tokenFunc func(context.Context, *authenticationv1.TokenReview, metav1.CreateOptions) (*authenticationv1.TokenReview, error)

func (fn tokenFunc) Create(ctx context.Context, r *authenticationv1.TokenReview, o metav1.CreateOptions) (*authenticationv1.TokenReview, error) {
	return fn(ctx, r, o)
}

type accessFunc func(context.Context, *authorizationv1.SubjectAccessReview, metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error)

func (fn accessFunc) Create(ctx context.Context, r *authorizationv1.SubjectAccessReview, o metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error) {
	return fn(ctx, r, o)
}

func (f *fakeAPI) reviewToken(ctx context.Context, r *authenticationv1.TokenReview, _ metav1.CreateOptions) (*authenticationv1.TokenReview, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := ctx.Deadline(); !ok {
		return nil, errors.New("TokenReview without a deadline")
	}
	f.tokenReqs = append(f.tokenReqs, r.Spec.Token)
	if f.tokenErr != nil {
		return nil, f.tokenErr
	}
	out := r.DeepCopy()
	if u, ok := f.users[r.Spec.Token]; ok {
		out.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: u}
	} else {
		out.Status = authenticationv1.TokenReviewStatus{Error: "invalid bearer token"}
	}
	return out, nil
}

func (f *fakeAPI) reviewAccess(ctx context.Context, r *authorizationv1.SubjectAccessReview, _ metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := ctx.Deadline(); !ok {
		return nil, errors.New("SubjectAccessReview without a deadline")
	}
	f.accessReq = append(f.accessReq, r.Spec)
	if f.accessErr != nil {
		return nil, f.accessErr
	}
	out := r.DeepCopy()
	a := r.Spec.NonResourceAttributes
	if a == nil || r.Spec.ResourceAttributes != nil {
		return nil, errors.New("not a non-resource review")
	}
	out.Status.Allowed = f.grants[r.Spec.User+" "+a.Verb+" "+a.Path]
	if !out.Status.Allowed {
		out.Status.Reason = "no RBAC policy matched"
	}
	return out, nil
}

func newFake() *fakeAPI {
	return &fakeAPI{
		users: map[string]authenticationv1.UserInfo{
			"reader-token":   {Username: "system:serviceaccount:mon:prometheus", UID: "u1", Groups: []string{"system:serviceaccounts"}},
			"stranger-token": {Username: "system:serviceaccount:mon:stranger", UID: "u2", Groups: []string{"system:authenticated"}},
		},
		grants: map[string]bool{"system:serviceaccount:mon:prometheus get /metrics": true},
	}
}

// clock is a settable time for the caches.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// served wraps a handler that answers "metrics" and records the Authorization header it saw.
func served(t *testing.T, g *Guard, logs *[]string) (http.Handler, *[]string) {
	t.Helper()
	var seen []string
	inner := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		seen = append(seen, req.Header.Get("Authorization"))
		_, _ = w.Write([]byte("metrics"))
	})
	log := funcr.New(func(prefix, args string) { *logs = append(*logs, args) }, funcr.Options{Verbosity: 4})
	h, err := g.Filter(log, inner)
	if err != nil {
		t.Fatal(err)
	}
	return h, &seen
}

func do(h http.Handler, method, path, authorization string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "https://controller:8443"+path, nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestFilterAnswers(t *testing.T) {
	cases := []struct {
		name, method, path, authorization string
		tokenErr, accessErr               error
		want                              int
		body                              string
		logged                            string
	}{
		{name: "metrics reader", authorization: "Bearer reader-token", want: http.StatusOK, body: "metrics"},
		{name: "scheme in any case", authorization: "bearer reader-token", want: http.StatusOK, body: "metrics"},
		{name: "no Authorization header", want: http.StatusUnauthorized, body: "Unauthorized"},
		{name: "basic credentials", authorization: "Basic cmVhZGVyOnB3", want: http.StatusUnauthorized},
		{name: "empty bearer token", authorization: "Bearer ", want: http.StatusUnauthorized},
		{name: "space before the token", authorization: "Bearer  reader-token", want: http.StatusUnauthorized},
		{name: "token the API server rejects", authorization: "Bearer made-up", want: http.StatusUnauthorized, body: "Unauthorized"},
		{name: "valid token, no binding", authorization: "Bearer stranger-token", want: http.StatusForbidden,
			body: "Authorization denied for user system:serviceaccount:mon:stranger", logged: "no RBAC policy matched"},
		{name: "reader, another verb", method: http.MethodPost, authorization: "Bearer reader-token", want: http.StatusForbidden},
		{name: "reader, another path", path: "/debug/pprof/", authorization: "Bearer reader-token", want: http.StatusForbidden},
		{name: "TokenReview fails", authorization: "Bearer reader-token", want: http.StatusInternalServerError,
			tokenErr: errors.New(`tokenreviews.authentication.k8s.io is forbidden: User "x" cannot create resource "tokenreviews"`),
			body:     "Authentication failed", logged: `cannot create resource \"tokenreviews\"`},
		{name: "SubjectAccessReview fails", authorization: "Bearer reader-token", want: http.StatusInternalServerError,
			accessErr: errors.New(`subjectaccessreviews.authorization.k8s.io is forbidden`),
			body:      "Authorization for user system:serviceaccount:mon:prometheus failed", logged: "subjectaccessreviews.authorization.k8s.io is forbidden"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFake()
			f.tokenErr, f.accessErr = c.tokenErr, c.accessErr
			var logs []string
			h, seen := served(t, New(f.tokens(), f.access(), time.Now), &logs)
			method, path := c.method, c.path
			if method == "" {
				method = http.MethodGet
			}
			if path == "" {
				path = "/metrics"
			}
			rec := do(h, method, path, c.authorization)
			if rec.Code != c.want {
				t.Fatalf("status %d (%q), want %d", rec.Code, rec.Body.String(), c.want)
			}
			if c.body != "" && strings.TrimSpace(rec.Body.String()) != c.body {
				t.Errorf("body %q, want %q", rec.Body.String(), c.body)
			}
			if got := len(*seen); (c.want == http.StatusOK) != (got == 1) {
				t.Errorf("the metrics handler ran %d times for status %d", got, c.want)
			}
			if len(*seen) == 1 && (*seen)[0] != "" {
				t.Errorf("the metrics handler saw the Authorization header %q", (*seen)[0])
			}
			if c.logged != "" && !slices.ContainsFunc(logs, func(l string) bool { return strings.Contains(l, c.logged) }) {
				t.Errorf("no log line contains %q: %q", c.logged, logs)
			}
		})
	}
}

func TestAccessReviewAsksForTheUserAndPath(t *testing.T) {
	f := newFake()
	f.users["reader-token"] = authenticationv1.UserInfo{Username: "alice", UID: "u9", Groups: []string{"team"},
		Extra: map[string]authenticationv1.ExtraValue{"scopes": {"a", "b"}}}
	f.grants["alice get /metrics"] = true
	var logs []string
	h, _ := served(t, New(f.tokens(), f.access(), time.Now), &logs)
	if rec := do(h, http.MethodGet, "/metrics", "Bearer reader-token"); rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", rec.Code)
	}
	if len(f.accessReq) != 1 {
		t.Fatalf("%d SubjectAccessReviews, want 1", len(f.accessReq))
	}
	got := f.accessReq[0]
	want := authorizationv1.SubjectAccessReviewSpec{
		User: "alice", UID: "u9", Groups: []string{"team", "system:authenticated"},
		Extra:                 map[string]authorizationv1.ExtraValue{"scopes": {"a", "b"}},
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/metrics", Verb: "get"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("SubjectAccessReview spec\n got %+v\nwant %+v", got, want)
	}
}

func TestAnswersAreRemembered(t *testing.T) {
	f := newFake()
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	var logs []string
	h, _ := served(t, New(f.tokens(), f.access(), clk.now), &logs)
	scrape := func(token string, want int) {
		t.Helper()
		if rec := do(h, http.MethodGet, "/metrics", "Bearer "+token); rec.Code != want {
			t.Fatalf("%s: status %d, want %d", token, rec.Code, want)
		}
	}
	reviews := func(wantTokens, wantAccess int) {
		t.Helper()
		if len(f.tokenReqs) != wantTokens || len(f.accessReq) != wantAccess {
			t.Fatalf("%d TokenReviews and %d SubjectAccessReviews, want %d and %d", len(f.tokenReqs), len(f.accessReq), wantTokens, wantAccess)
		}
	}
	scrape("reader-token", http.StatusOK)
	scrape("reader-token", http.StatusOK)
	scrape("stranger-token", http.StatusForbidden)
	scrape("stranger-token", http.StatusForbidden)
	scrape("made-up", http.StatusUnauthorized)
	scrape("made-up", http.StatusUnauthorized)
	reviews(3, 2)

	// A refusal is asked again after DenyTTL, a grant only after AllowTTL.
	clk.advance(DenyTTL)
	scrape("reader-token", http.StatusOK)
	scrape("stranger-token", http.StatusForbidden)
	scrape("made-up", http.StatusUnauthorized)
	reviews(4, 3)
	clk.advance(AllowTTL - DenyTTL)
	scrape("reader-token", http.StatusOK)
	reviews(5, 4)

	// A revoked grant stops working once remembered answers expire.
	f.grants = map[string]bool{}
	clk.advance(AllowTTL)
	scrape("reader-token", http.StatusForbidden)

	// A failed review is not remembered: the next scrape asks again and succeeds.
	f.tokenErr = errors.New("connection refused")
	clk.advance(AllowTTL)
	scrape("reader-token", http.StatusInternalServerError)
	f.tokenErr = nil
	f.grants["system:serviceaccount:mon:prometheus get /metrics"] = true
	scrape("reader-token", http.StatusOK)
}

func TestCacheIsBounded(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	c := newCache[bool](clk.now)
	for i := range 3 * cacheSize {
		c.put(fmt.Sprint(i), true, time.Hour)
		if len(c.entries) > cacheSize {
			t.Fatalf("%d entries after %d puts, want at most %d", len(c.entries), i+1, cacheSize)
		}
	}
	last := fmt.Sprint(3*cacheSize - 1)
	if v, ok := c.get(last); !ok || !v {
		t.Errorf("the last answer put is not there")
	}
	// When full, what expired goes first and what is current stays.
	c = newCache[bool](clk.now)
	for i := range cacheSize - 1 {
		c.put(fmt.Sprint(i), true, time.Second)
	}
	c.put("current", true, time.Hour)
	clk.advance(2 * time.Second)
	c.put("new", true, time.Hour)
	if _, ok := c.get("current"); !ok || len(c.entries) != 2 {
		t.Errorf("after the expired entries were dropped: %d entries, current kept %v", len(c.entries), ok)
	}
}

func TestTokensAreNotKept(t *testing.T) {
	f := newFake()
	g := New(f.tokens(), f.access(), time.Now)
	h, err := g.Filter(logr.Discard(), http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	do(h, http.MethodGet, "/metrics", "Bearer reader-token")
	for k := range g.users.entries {
		if strings.Contains(k, "reader-token") {
			t.Errorf("the token cache keeps the token itself as key %q", k)
		}
	}
}
