// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"sync"
	"time"
)

// resyncClock remembers when this process last delivered each allowlist, and
// which sequence salt-api last refused. It is in memory on purpose: a fresh
// process (restart, new leader) has no entry, so it re-sends every
// allowlist's current sequence once on start, which costs one no-op at Salt
// and repairs a master that lost its state meanwhile.
type resyncClock struct {
	mu      sync.Mutex
	sent    map[string]time.Time
	refusal map[string]refusal
}

// refusal is a sequence salt-api refused, and when.
type refusal struct {
	sequence int64
	at       time.Time
}

func newResyncClock() *resyncClock {
	return &resyncClock{sent: map[string]time.Time{}, refusal: map[string]refusal{}}
}

// delivered records that salt-api acknowledged allowlist name at now.
func (c *resyncClock) delivered(name string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent[name] = now
	delete(c.refusal, name)
}

// refused records that salt-api refused sequence seq of allowlist name at now.
func (c *resyncClock) refused(name string, seq int64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refusal[name] = refusal{sequence: seq, at: now}
}

// refusedRecently reports whether salt-api refused sequence seq of allowlist
// name less than interval ago, and if so how long until it may be sent again:
// the same body would only be refused again.
func (c *resyncClock) refusedRecently(name string, seq int64, now time.Time, interval time.Duration) (bool, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.refusal[name]
	if !ok || r.sequence != seq {
		return false, 0
	}
	if left := r.at.Add(interval).Sub(now); left > 0 {
		return true, left
	}
	return false, 0
}

// due reports whether allowlist name should be re-sent, and otherwise how long until it should.
func (c *resyncClock) due(name string, now time.Time, interval time.Duration) (bool, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	last, ok := c.sent[name]
	if !ok {
		return true, 0
	}
	if left := last.Add(interval).Sub(now); left > 0 {
		return false, left
	}
	return true, 0
}

// forget drops a deleted allowlist.
func (c *resyncClock) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.sent, name)
	delete(c.refusal, name)
}
