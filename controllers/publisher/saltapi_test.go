// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package publisher_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nodeallow/nodeallow/api/protocol"
	"github.com/nodeallow/nodeallow/controllers/publisher"
	"github.com/nodeallow/nodeallow/test/receiver"
	"github.com/nodeallow/nodeallow/test/saltapistandin"
)

var testKey = []byte("nodeallow-test-key")

// fastOptions keep retries quick so the whole file runs in about a second.
func fastOptions() publisher.Options {
	return publisher.Options{RetryCount: 3, RetryWaitTime: time.Millisecond, RetryMaxWaitTime: 5 * time.Millisecond, Timeout: 5 * time.Second, UserAgent: "nodeallow-test"}
}

// snapshotOf returns a snapshot of n IPv4 host addresses.
func snapshotOf(n int) protocol.Snapshot {
	addrs := make([]netip.Prefix, n)
	for i := range addrs {
		addrs[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 32)
	}
	return protocol.Snapshot{Kind: protocol.KindSnapshot, Cluster: "prod", Allowlist: "workers", Sequence: 12,
		GeneratedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Addresses: addrs}
}

// plainEndpoint is a endpoint for a plain-HTTP stub without auth.
func plainEndpoint(url string) publisher.Endpoint {
	return publisher.Endpoint{URL: url, AllowInsecureHTTP: true, SigningKey: testKey}
}

func TestPublishSendsSignedChunksInOrderWithContentLength(t *testing.T) {
	stub := saltapistandin.NewForTest(t, testKey)
	s := snapshotOf(100)
	endpoint := plainEndpoint(stub.URL() + "/salt/") // a base URL with a path prefix and a trailing slash
	endpoint.MaxBodyBytes = 800

	res, err := publisher.NewSaltAPI(fastOptions()).Publish(context.Background(), endpoint, s)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	hooks := stub.Hooks()
	if len(hooks) < 3 || res.Chunks != len(hooks) || res.Attempts != len(hooks) {
		t.Fatalf("Result %+v after %d hook requests; want at least 3 chunks, each sent once", res, len(hooks))
	}
	for i, h := range hooks {
		if h.Path != "/salt/hook/nodeallow/prod/workers" {
			t.Errorf("chunk %d went to %s", i, h.Path)
		}
		if h.ContentLength != int64(len(h.Body)) || len(h.TransferEncoding) != 0 {
			t.Errorf("chunk %d: Content-Length %d for %d bytes, Transfer-Encoding %v; salt-api reads a body without Content-Length as empty",
				i, h.ContentLength, len(h.Body), h.TransferEncoding)
		}
		if len(h.Body) > endpoint.MaxBodyBytes {
			t.Errorf("chunk %d has %d bytes, more than MaxBodyBytes %d", i, len(h.Body), endpoint.MaxBodyBytes)
		}
		sig := h.Header.Get(protocol.SignatureHeader)
		if sig != protocol.Sign(testKey, h.Body) || !protocol.Verify(testKey, h.Body, sig) {
			t.Errorf("chunk %d: signature %q does not match the body", i, sig)
		}
		if ct, acc, ua := h.Header.Get("Content-Type"), h.Header.Get("Accept"), h.Header.Get("User-Agent"); ct != "application/json" || acc != "application/json" || ua != "nodeallow-test" {
			t.Errorf("chunk %d: Content-Type %q, Accept %q, User-Agent %q", i, ct, acc, ua)
		}
		if h.Header.Get("X-Auth-Token") != "" {
			t.Errorf("chunk %d carries a token although the endpoint has no credentials", i)
		}
		b, err := receiver.Decode(h.Body)
		if err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		if b.Chunk.Index != i {
			t.Errorf("request %d carried chunk %d; chunks must go in index order", i, b.Chunk.Index)
		}
	}
	if got := stub.Snapshots(); len(got) != 1 || !slices.Equal(got[0].Addresses, s.Addresses) || got[0].Sequence != s.Sequence {
		t.Errorf("the chunks reassemble to %v, problems %q; want sequence %d with %d addresses", got, stub.Problems(), s.Sequence, len(s.Addresses))
	}
}

// TestPublishMatchesSharedVectors sends the snapshot of the shared test vectors and checks that the
// bytes and signature on the wire are the ones the Salt side's tests expect.
func TestPublishMatchesSharedVectors(t *testing.T) {
	raw, err := os.ReadFile("../../test/protocol/v1/vectors.json")
	if err != nil {
		t.Fatalf("read the shared vectors: %v", err)
	}
	var v struct {
		Signatures []struct{ Name, KeyHex, Body, Header string }
		Snapshots  []struct {
			Name, Kind, Cluster, Allowlist, GeneratedAt string
			Sequence                                    int64
			Input                                       []string
			MaxBodyBytes                                int
			Bodies                                      []string
		}
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("parse the shared vectors: %v", err)
	}
	for _, sig := range v.Signatures {
		if sig.Name != "ascii-key" && sig.Name != "non-ascii-key" {
			continue
		}
		for _, c := range v.Snapshots {
			if len(c.Bodies) != 1 || c.Bodies[0] != sig.Body {
				continue
			}
			t.Run(sig.Name+"/"+c.Name, func(t *testing.T) {
				key, _ := hex.DecodeString(sig.KeyHex)
				var in []netip.Prefix
				for _, e := range c.Input {
					p, err := protocol.ParseAddressOrCIDR(e)
					if err != nil {
						t.Fatal(err)
					}
					in = append(in, p)
				}
				at, _ := time.Parse(time.RFC3339, c.GeneratedAt)
				s := protocol.Snapshot{Kind: protocol.Kind(c.Kind), Cluster: c.Cluster, Allowlist: c.Allowlist, Sequence: c.Sequence, GeneratedAt: at, Addresses: protocol.Canonicalize(in)}
				stub := saltapistandin.NewForTest(t, key)
				endpoint := plainEndpoint(stub.URL())
				endpoint.SigningKey, endpoint.MaxBodyBytes = key, c.MaxBodyBytes
				if _, err := publisher.NewSaltAPI(fastOptions()).Publish(context.Background(), endpoint, s); err != nil {
					t.Fatalf("Publish: %v", err)
				}
				hooks := stub.Hooks()
				if len(hooks) != 1 || string(hooks[0].Body) != sig.Body || hooks[0].Header.Get(protocol.SignatureHeader) != sig.Header {
					t.Fatalf("sent %d requests; first body %s with signature %s; vectors say %s with %s", len(hooks), hooks[0].Body, hooks[0].Header.Get(protocol.SignatureHeader), sig.Body, sig.Header)
				}
			})
			return
		}
	}
	t.Fatal("no signature vector signs a single-chunk snapshot vector")
}

func TestPublishVerifiesTLSWithCABundle(t *testing.T) {
	stub := saltapistandin.NewForTest(t, testKey, saltapistandin.WithTLS())
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: stub.Certificate().Raw})
	p := publisher.NewSaltAPI(fastOptions())
	s := snapshotOf(3)

	endpoint := publisher.Endpoint{URL: stub.URL(), SigningKey: testKey, CABundle: ca}
	if _, err := p.Publish(context.Background(), endpoint, s); err != nil {
		t.Fatalf("Publish with the CA bundle: %v", err)
	}
	if n := len(stub.Accepted()); n != 1 {
		t.Fatalf("the stub accepted %d chunks, want 1", n)
	}

	start := time.Now()
	_, err := p.Publish(context.Background(), publisher.Endpoint{URL: stub.URL(), SigningKey: testKey}, s)
	if err == nil || !strings.Contains(err.Error(), "verify the TLS certificate") || !strings.Contains(err.Error(), "salt.caBundle") {
		t.Fatalf("Publish without the CA bundle = %v; want a certificate error that names salt.caBundle", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("a certificate error took %v; it must not be retried", d)
	}
	if n := len(stub.Hooks()); n != 1 {
		t.Errorf("the stub received %d hook requests; an unverified server must get none", n)
	}

	var invalid *publisher.InvalidEndpointError
	if _, err := p.Publish(context.Background(), publisher.Endpoint{URL: stub.URL(), SigningKey: testKey, CABundle: []byte("not a certificate")}, s); !errors.As(err, &invalid) {
		t.Errorf("Publish with a CA bundle without certificates = %v, want an InvalidEndpointError", err)
	}
	plain := saltapistandin.NewForTest(t, testKey)
	if _, err := p.Publish(context.Background(), publisher.Endpoint{URL: plain.URL(), SigningKey: testKey}, s); !errors.As(err, &invalid) || !strings.Contains(err.Error(), "allowInsecureHTTP") {
		t.Errorf("Publish to http:// without AllowInsecureHTTP = %v, want an InvalidEndpointError naming allowInsecureHTTP", err)
	}
	if n := len(plain.Hooks()); n != 0 {
		t.Errorf("an http:// endpoint received %d requests without AllowInsecureHTTP", n)
	}
}

func TestPublishLogsInOnceAndReusesTheToken(t *testing.T) {
	stub := saltapistandin.NewForTest(t, testKey, saltapistandin.WithLogin(map[string]string{"nodeallow": "s3cret"}))
	p := publisher.NewSaltAPI(fastOptions())
	endpoint := plainEndpoint(stub.URL())
	endpoint.Credentials = &publisher.Credentials{Username: "nodeallow", Password: "s3cret"}
	s := snapshotOf(5)

	// Concurrent first publishes share one login.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := p.Publish(context.Background(), endpoint, s)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	if n := len(stub.Logins()); n != 1 {
		t.Fatalf("%d logins for 8 concurrent publishes, want 1", n)
	}
	if stub.Logins()[0]["eauth"] != "pam" {
		t.Errorf("login used eauth %q, want the default pam", stub.Logins()[0]["eauth"])
	}

	// The master forgets the token: the next publish gets 401, logs in again once and succeeds.
	stub.RevokeTokens()
	before := len(stub.Hooks())
	res, err := p.Publish(context.Background(), endpoint, s)
	if err != nil {
		t.Fatalf("Publish after the token was revoked: %v", err)
	}
	if n := len(stub.Logins()); n != 2 {
		t.Errorf("%d logins after one revoked token, want 2", n)
	}
	if got := stub.Hooks()[before:]; len(got) != 2 || got[0].Header.Get("X-Auth-Token") == got[1].Header.Get("X-Auth-Token") || res.Attempts != 2 {
		t.Errorf("after a 401: %d hook requests, Result.Attempts %d; want the refused one and one with a new token", len(got), res.Attempts)
	}

	if _, err := p.Publish(context.Background(), endpoint, s); err != nil {
		t.Fatalf("Publish with the renewed token: %v", err)
	}
	if n := len(stub.Logins()); n != 2 {
		t.Errorf("%d logins; the renewed token must be reused", n)
	}
}

func TestPublishRenewsATokenBeforeItExpires(t *testing.T) {
	stub := saltapistandin.NewForTest(t, testKey, saltapistandin.WithLogin(map[string]string{"nodeallow": "s3cret"}))
	stub.SetTokenLifetime(30 * time.Second) // inside the renewal margin: every publish logs in
	p := publisher.NewSaltAPI(fastOptions())
	endpoint := plainEndpoint(stub.URL())
	endpoint.Credentials = &publisher.Credentials{Username: "nodeallow", Password: "s3cret", Eauth: "file"}
	for range 2 {
		if _, err := p.Publish(context.Background(), endpoint, snapshotOf(2)); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	if n := len(stub.Logins()); n != 2 {
		t.Errorf("%d logins for two publishes with a token about to expire, want 2", n)
	}
	if stub.Logins()[0]["eauth"] != "file" {
		t.Errorf("login used eauth %q, want file", stub.Logins()[0]["eauth"])
	}
}

func TestPublishRefusedLoginIsPermanent(t *testing.T) {
	stub := saltapistandin.NewForTest(t, testKey, saltapistandin.WithLogin(map[string]string{"nodeallow": "s3cret"}))
	endpoint := plainEndpoint(stub.URL())
	endpoint.Credentials = &publisher.Credentials{Username: "nodeallow", Password: "wrong"}
	_, err := publisher.NewSaltAPI(fastOptions()).Publish(context.Background(), endpoint, snapshotOf(2))
	var perm *publisher.PermanentError
	if !errors.As(err, &perm) || perm.StatusCode != http.StatusUnauthorized || !strings.Contains(perm.Message, "Could not authenticate") {
		t.Fatalf("Publish with a wrong password = %v, want a PermanentError 401 quoting salt-api", err)
	}
	if n := len(stub.Hooks()); n != 0 || len(stub.Logins()) != 1 {
		t.Errorf("%d hook requests and %d logins after a refused login, want 0 and 1", n, len(stub.Logins()))
	}
}

func TestPublishWithoutCredentialsTreats401AsPermanent(t *testing.T) {
	stub := saltapistandin.NewForTest(t, testKey, saltapistandin.WithLogin(map[string]string{"nodeallow": "s3cret"}))
	_, err := publisher.NewSaltAPI(fastOptions()).Publish(context.Background(), plainEndpoint(stub.URL()), snapshotOf(2))
	var perm *publisher.PermanentError
	if !errors.As(err, &perm) || perm.StatusCode != http.StatusUnauthorized || !strings.Contains(err.Error(), "credentials") {
		t.Fatalf("Publish without credentials to an authenticating salt-api = %v, want a PermanentError 401 with a hint", err)
	}
	if n := len(stub.Hooks()); n != 1 {
		t.Errorf("%d hook requests, want 1: a 401 without credentials is not retried", n)
	}
}

func TestPublishRetries503ThenSucceeds(t *testing.T) {
	stub := saltapistandin.NewForTest(t, testKey)
	stub.Script(func(n int, w http.ResponseWriter, _ *http.Request) bool {
		if n < 2 {
			http.Error(w, "upstream unavailable", http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	res, err := publisher.NewSaltAPI(fastOptions()).Publish(context.Background(), plainEndpoint(stub.URL()), snapshotOf(3))
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if res.Attempts != 3 || res.Chunks != 1 || len(stub.Accepted()) != 1 {
		t.Errorf("Result %+v, accepted %d; want 3 attempts for 1 chunk", res, len(stub.Accepted()))
	}
}

func TestPublishHonoursRetryAfterUpToTheCap(t *testing.T) {
	stub := saltapistandin.NewForTest(t, testKey)
	stub.Script(func(n int, w http.ResponseWriter, _ *http.Request) bool {
		if n == 0 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return true
		}
		return false
	})
	opts := fastOptions()
	opts.RetryMaxWaitTime = 300 * time.Millisecond
	start := time.Now()
	if _, err := publisher.NewSaltAPI(opts).Publish(context.Background(), plainEndpoint(stub.URL()), snapshotOf(3)); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	// Without Retry-After the wait would be about a millisecond; uncapped it would be a second.
	if d := time.Since(start); d < 250*time.Millisecond || d > 900*time.Millisecond {
		t.Errorf("Publish took %v after a 429 with Retry-After: 1 and a 300ms cap", d)
	}
	if n := len(stub.Hooks()); n != 2 {
		t.Errorf("%d hook requests, want 2", n)
	}
}

func TestPublish400IsPermanentAndQuotesTheServer(t *testing.T) {
	stub := saltapistandin.NewForTest(t, testKey)
	long := strings.Repeat("x", 2000)
	stub.Script(func(n int, w http.ResponseWriter, _ *http.Request) bool {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("  {\"status\": 400,\n\t\"return\": \"The request body is invalid\"} " + long))
		return true
	})
	_, err := publisher.NewSaltAPI(fastOptions()).Publish(context.Background(), plainEndpoint(stub.URL()), snapshotOf(3))
	var perm *publisher.PermanentError
	if !errors.As(err, &perm) || perm.StatusCode != http.StatusBadRequest {
		t.Fatalf("Publish = %v, want a PermanentError 400", err)
	}
	if !strings.HasPrefix(perm.Message, `{"status": 400, "return": "The request body is invalid"} xxx`) || len([]rune(perm.Message)) != 512 || strings.ContainsAny(perm.Message, "\n\t") {
		t.Errorf("Message %q is not the server's answer on one line, trimmed to 512 characters", perm.Message)
	}
	if n := len(stub.Hooks()); n != 1 {
		t.Errorf("%d hook requests, want 1: a 400 is not retried", n)
	}
}

func TestPublishRetriesTransportErrors(t *testing.T) {
	stub := saltapistandin.NewForTest(t, testKey)
	stub.Script(func(n int, w http.ResponseWriter, _ *http.Request) bool {
		if n == 0 {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = conn.Close() // the connection drops without an answer
			}
			return true
		}
		return false
	})
	res, err := publisher.NewSaltAPI(fastOptions()).Publish(context.Background(), plainEndpoint(stub.URL()), snapshotOf(3))
	if err != nil {
		t.Fatalf("Publish after a dropped connection: %v", err)
	}
	if res.Attempts != 2 || len(stub.Accepted()) != 1 {
		t.Errorf("Result %+v, accepted %d; want 2 attempts and the chunk accepted", res, len(stub.Accepted()))
	}

	// A server that is gone: every attempt fails, and the error is not permanent.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	res, err = publisher.NewSaltAPI(fastOptions()).Publish(context.Background(), plainEndpoint("http://"+addr), snapshotOf(3))
	var perm *publisher.PermanentError
	if err == nil || errors.As(err, &perm) || !strings.Contains(err.Error(), "reach salt-api") {
		t.Fatalf("Publish to a closed port = %v, want a transient error", err)
	}
	if res.Attempts != 4 || res.Chunks != 0 {
		t.Errorf("Result %+v, want 4 attempts (1 + RetryCount 3) and no chunk", res)
	}
}

func TestPublishGivesUpAfterRetriesWithTheStatus(t *testing.T) {
	stub := saltapistandin.NewForTest(t, testKey)
	stub.Script(func(_ int, w http.ResponseWriter, _ *http.Request) bool {
		http.Error(w, "master down", http.StatusBadGateway)
		return true
	})
	_, err := publisher.NewSaltAPI(fastOptions()).Publish(context.Background(), plainEndpoint(stub.URL()), snapshotOf(3))
	var perm *publisher.PermanentError
	if err == nil || errors.As(err, &perm) || !strings.Contains(err.Error(), "HTTP 502 after 4 attempts: master down") {
		t.Fatalf("Publish = %v, want a transient error naming the status and attempts", err)
	}
}

func TestPublishRetriesWhenTheEventDidNotReachTheBus(t *testing.T) {
	stub := saltapistandin.NewForTest(t, testKey)
	stub.Script(func(n int, w http.ResponseWriter, _ *http.Request) bool {
		if n == 0 {
			saltapistandin.WriteJSON(w, http.StatusOK, map[string]any{"success": false})
			return true
		}
		return false
	})
	res, err := publisher.NewSaltAPI(fastOptions()).Publish(context.Background(), plainEndpoint(stub.URL()), snapshotOf(3))
	if err != nil || res.Attempts != 2 {
		t.Fatalf("Publish = %+v, %v; want success on the second attempt", res, err)
	}
}

func TestPublishStopsAtTheFirstFailedChunk(t *testing.T) {
	stub := saltapistandin.NewForTest(t, testKey)
	stub.Script(func(n int, w http.ResponseWriter, _ *http.Request) bool {
		if n == 1 {
			saltapistandin.WriteJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"status": 413, "return": "Request Entity Too Large"})
			return true
		}
		return false
	})
	endpoint := plainEndpoint(stub.URL())
	endpoint.MaxBodyBytes = 800
	res, err := publisher.NewSaltAPI(fastOptions()).Publish(context.Background(), endpoint, snapshotOf(100))
	var perm *publisher.PermanentError
	if !errors.As(err, &perm) || perm.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(err.Error(), "chunk 2 of") {
		t.Fatalf("Publish = %v, want a PermanentError 413 for chunk 2", err)
	}
	if res.Chunks != 1 || len(stub.Hooks()) != 2 {
		t.Errorf("Result %+v after %d requests; want 1 chunk accepted and nothing sent after the failure", res, len(stub.Hooks()))
	}
}

func TestPublishDoesNotFollowRedirects(t *testing.T) {
	stub := saltapistandin.NewForTest(t, testKey)
	stub.Script(func(_ int, w http.ResponseWriter, r *http.Request) bool {
		http.Redirect(w, r, "http://attacker.invalid/hook", http.StatusTemporaryRedirect)
		return true
	})
	_, err := publisher.NewSaltAPI(fastOptions()).Publish(context.Background(), plainEndpoint(stub.URL()), snapshotOf(3))
	if err == nil || !strings.Contains(err.Error(), "redirect") {
		t.Fatalf("Publish = %v, want a redirect error", err)
	}
	if n := len(stub.Hooks()); n != 1 {
		t.Errorf("%d hook requests, want 1: a redirect is not retried", n)
	}
}

func TestPublishRespectsContextCancellation(t *testing.T) {
	stub := saltapistandin.NewForTest(t, testKey)
	stub.Script(func(_ int, w http.ResponseWriter, _ *http.Request) bool {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return true
	})
	opts := fastOptions()
	opts.RetryCount, opts.RetryWaitTime, opts.RetryMaxWaitTime = 10, 10*time.Second, 10*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := publisher.NewSaltAPI(opts).Publish(ctx, plainEndpoint(stub.URL()), snapshotOf(3))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish = %v, want the context's deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Publish returned %v after the context ended", d)
	}
}

func TestPublishRefusesInvalidEndpoints(t *testing.T) {
	good := plainEndpoint("http://127.0.0.1:1")
	tests := []struct {
		name   string
		mutate func(*publisher.Endpoint)
		want   string
	}{
		{"no scheme", func(t *publisher.Endpoint) { t.URL = "salt.example.com:8000" }, "https://"},
		{"ftp", func(t *publisher.Endpoint) { t.URL = "ftp://salt.example.com" }, "https://"},
		{"user info", func(t *publisher.Endpoint) { t.URL = "https://user:pw@salt.example.com" }, "plain base URL"},
		{"query", func(t *publisher.Endpoint) { t.URL = "https://salt.example.com/?x=1" }, "plain base URL"},
		{"hook path", func(t *publisher.Endpoint) { t.HookPath = "../login" }, "hookPath"},
		{"empty key", func(t *publisher.Endpoint) { t.SigningKey = nil }, "signing key"},
		{"credentials without password", func(t *publisher.Endpoint) { t.Credentials = &publisher.Credentials{Username: "u"} }, "password"},
		{"body limit too small for an address", func(t *publisher.Endpoint) { t.MaxBodyBytes = 100 }, "maxBodyBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			endpoint := good
			tt.mutate(&endpoint)
			_, err := publisher.NewSaltAPI(fastOptions()).Publish(context.Background(), endpoint, snapshotOf(2))
			var invalid *publisher.InvalidEndpointError
			if !errors.As(err, &invalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Publish = %v, want an InvalidEndpointError mentioning %q", err, tt.want)
			}
		})
	}
}
