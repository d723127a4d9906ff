// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package metricsauth

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"
)

// cache remembers answers for a while, at most cacheSize of them.
type cache[V any] struct {
	now     func() time.Time
	mu      sync.Mutex
	entries map[string]entry[V]
}

type entry[V any] struct {
	value   V
	expires time.Time
}

func newCache[V any](now func() time.Time) *cache[V] {
	return &cache[V]{now: now, entries: make(map[string]entry[V])}
}

// get returns the value under key unless it expired.
func (c *cache[V]) get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !c.now().Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.value, true
}

// put keeps value under key for ttl. When the cache is full it drops what expired, and if that is not
// enough, everything: a burst of made-up tokens costs reviews, not memory.
func (c *cache[V]) put(key string, value V, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= cacheSize {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= cacheSize {
			clear(c.entries)
		}
	}
	c.entries[key] = entry[V]{value: value, expires: now.Add(ttl)}
}

// hashKey is the key a secret is kept under, so that the cache holds no token.
func hashKey(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
