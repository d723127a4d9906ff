// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package publisher

import (
	"context"
	"slices"
	"sync"

	"github.com/nodeallow/nodeallow/api/protocol"
)

// Fake is an in-memory Publisher for unit tests of the controller: records every published snapshot
// (thread-safe), can be told to fail. It validates the Endpoint and encodes the snapshot exactly as
// SaltAPI does, so a controller bug that SaltAPI would refuse fails with the Fake too. The zero value
// is ready to use.
type Fake struct {
	mu        sync.Mutex
	published []FakePublish
	calls     int
	failErr   error
	failCount int // calls left to fail; negative: until FailWith(nil)
	// deliveries are the entries ReadDelivery answers with, by allowlist.
	deliveries map[string]protocol.StatusEntry
}

// FakePublish is one successful call to Fake.Publish.
type FakePublish struct {
	// Endpoint is the endpoint as passed.
	Endpoint Endpoint
	// Snapshot is a copy of the snapshot as passed.
	Snapshot protocol.Snapshot
	// Bodies are the bodies SaltAPI would have sent.
	Bodies [][]byte
}

var (
	_ Publisher      = (*Fake)(nil)
	_ DeliveryReader = (*Fake)(nil)
)

// ReadDelivery answers with the entry SetDelivery gave for the allowlist (not found when none),
// after validating the endpoint's URL as SaltAPI does.
func (f *Fake) ReadDelivery(ctx context.Context, to Endpoint, cluster, allowlist string) (protocol.StatusEntry, bool, error) {
	if err := ctx.Err(); err != nil {
		return protocol.StatusEntry{}, false, err
	}
	if _, err := resolveBase(to); err != nil {
		return protocol.StatusEntry{}, false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.deliveries[allowlist]
	if ok {
		e.Cluster, e.Allowlist = cluster, allowlist
	}
	return e, ok, nil
}

// SetDelivery makes ReadDelivery answer with e for allowlist.
func (f *Fake) SetDelivery(allowlist string, e protocol.StatusEntry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.deliveries == nil {
		f.deliveries = map[string]protocol.StatusEntry{}
	}
	f.deliveries[allowlist] = e
}

// Publish records s after the same validation SaltAPI does, or fails as told.
func (f *Fake) Publish(ctx context.Context, to Endpoint, s protocol.Snapshot) (Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if f.failCount != 0 {
		if f.failCount > 0 {
			f.failCount--
		}
		return Result{}, f.failErr
	}
	_, maxBody, err := resolveEndpoint(to, s)
	if err != nil {
		return Result{}, err
	}
	bodies, err := protocol.Encode(s, maxBody)
	if err != nil {
		return Result{}, &InvalidEndpointError{Problem: err.Error()}
	}
	s.Addresses = slices.Clone(s.Addresses)
	f.published = append(f.published, FakePublish{Endpoint: to, Snapshot: s, Bodies: bodies})
	return Result{Chunks: len(bodies), Attempts: len(bodies)}, nil
}

// FailWith makes every following call fail with err; FailWith(nil) makes calls succeed again.
func (f *Fake) FailWith(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failErr, f.failCount = err, -1
	if err == nil {
		f.failCount = 0
	}
}

// FailNext makes the next n calls fail with err, then succeed again.
func (f *Fake) FailNext(n int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failErr, f.failCount = err, max(n, 0)
}

// Published returns the successful calls so far, oldest first.
func (f *Fake) Published() []FakePublish {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.published)
}

// Last returns the latest snapshot published for an allowlist, and whether there is one.
func (f *Fake) Last(allowlist string) (protocol.Snapshot, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.published) - 1; i >= 0; i-- {
		if f.published[i].Snapshot.Allowlist == allowlist {
			return f.published[i].Snapshot, true
		}
	}
	return protocol.Snapshot{}, false
}

// Calls returns how many times Publish was called, failures included.
func (f *Fake) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// Reset forgets all calls and failure instructions.
func (f *Fake) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.published, f.calls, f.failErr, f.failCount = nil, 0, nil, 0
}
