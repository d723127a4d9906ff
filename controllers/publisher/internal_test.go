// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package publisher

import (
	"net/http"
	"testing"
	"time"
)

func TestClientsAreSharedPerCABundle(t *testing.T) {
	c := newClientCache(Options{}.withDefaults())
	a1, err := c.get(nil)
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := c.get([]byte{})
	if a1 != a2 {
		t.Error("two endpoints without a CA bundle got different clients")
	}
	if a1.GetClient().Jar != nil {
		t.Error("the client keeps cookies; a salt-api session cookie would leak between allowlists")
	}
	if _, err := c.get([]byte("no pem here")); err == nil {
		t.Error("a CA bundle without certificates was accepted")
	}
	if len(c.clients) != 1 {
		t.Errorf("%d cached clients, want 1", len(c.clients))
	}
	for i := range maxCachedClients + 5 {
		// Distinct bundles that fail to parse are never cached, so build keys from valid-looking input.
		c.mu.Lock()
		c.clients[[32]byte{byte(i + 1)}] = &cachedClient{client: a1, lastUsed: time.Now().Add(-time.Hour)}
		c.mu.Unlock()
	}
	if _, err := c.get([]byte("")); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.clients[[32]byte{1}]; !ok {
		// The system-roots client was used last; eviction only happens on insert, so nothing was evicted yet.
		t.Error("a lookup of an existing client evicted another")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		" 2 ":                           2 * time.Second,
		"0":                             0,
		"-5":                            0,
		"soon":                          0,
		"999999999999":                  24 * time.Hour,
		"Sun, 01 Mar 2026 12:00:30 GMT": 30 * time.Second,
		"Sun, 01 Mar 2026 11:00:00 GMT": 0,
	}
	for in, want := range tests {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestQuoteKeepsOneShortLine(t *testing.T) {
	if got := quote([]byte("a\r\nb\x00\xffc"), 400); got != "a b \uFFFDc" {
		t.Errorf("quote = %q", got)
	}
	if got := quote(nil, http.StatusTeapot); got != "I'm a teapot" {
		t.Errorf("quote of an empty body = %q, want the status text", got)
	}
}
