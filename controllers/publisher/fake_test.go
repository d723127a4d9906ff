// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package publisher_test

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"

	"github.com/nodeallow/nodeallow/controllers/publisher"
)

func TestFakeRecordsCopiesAndFails(t *testing.T) {
	var f publisher.Fake
	endpoint := publisher.Endpoint{URL: "https://salt.example.com:8000", SigningKey: testKey}
	s := snapshotOf(3)
	res, err := f.Publish(context.Background(), endpoint, s)
	if err != nil || res.Chunks != 1 || res.Attempts != 1 {
		t.Fatalf("Publish = %+v, %v", res, err)
	}
	s.Addresses[0] = netip.MustParsePrefix("192.0.2.1/32") // the caller reuses its slice
	last, ok := f.Last("workers")
	if !ok || last.Addresses[0] != netip.MustParsePrefix("10.1.0.0/32") {
		t.Errorf("Last = %v, %v; the Fake must keep its own copy", last.Addresses, ok)
	}

	boom := errors.New("salt-api down")
	f.FailNext(2, boom)
	for i := range 2 {
		if _, err := f.Publish(context.Background(), endpoint, snapshotOf(3)); !errors.Is(err, boom) {
			t.Errorf("call %d after FailNext(2) = %v", i, err)
		}
	}
	if _, err := f.Publish(context.Background(), endpoint, snapshotOf(3)); err != nil {
		t.Errorf("third call after FailNext(2) = %v", err)
	}
	f.FailWith(boom)
	for range 3 {
		if _, err := f.Publish(context.Background(), endpoint, snapshotOf(3)); !errors.Is(err, boom) {
			t.Errorf("call after FailWith = %v", err)
		}
	}
	f.FailWith(nil)
	if _, err := f.Publish(context.Background(), endpoint, snapshotOf(3)); err != nil {
		t.Errorf("call after FailWith(nil) = %v", err)
	}
	if f.Calls() != 8 || len(f.Published()) != 3 {
		t.Errorf("Calls %d, Published %d; want 8 and 3", f.Calls(), len(f.Published()))
	}

	// The Fake refuses what SaltAPI refuses.
	var invalid *publisher.InvalidEndpointError
	if _, err := f.Publish(context.Background(), publisher.Endpoint{URL: "http://salt", SigningKey: testKey}, snapshotOf(3)); !errors.As(err, &invalid) {
		t.Errorf("Publish to http:// = %v, want an InvalidEndpointError", err)
	}
	unsorted := snapshotOf(3)
	unsorted.Addresses[0], unsorted.Addresses[1] = unsorted.Addresses[1], unsorted.Addresses[0]
	if _, err := f.Publish(context.Background(), endpoint, unsorted); !errors.As(err, &invalid) {
		t.Errorf("Publish of an unsorted list = %v, want an InvalidEndpointError", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Publish(ctx, endpoint, snapshotOf(3)); !errors.Is(err, context.Canceled) {
		t.Errorf("Publish with a cancelled context = %v", err)
	}
	f.Reset()
	if f.Calls() != 0 || len(f.Published()) != 0 {
		t.Error("Reset kept calls")
	}
}

func TestFakeIsSafeForConcurrentUse(t *testing.T) {
	var f publisher.Fake
	endpoint := publisher.Endpoint{URL: "https://salt.example.com:8000", SigningKey: testKey}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, _ = f.Publish(context.Background(), endpoint, snapshotOf(5))
			_ = f.Published()
		})
	}
	wg.Wait()
	if n := len(f.Published()); n != 20 {
		t.Errorf("%d publishes recorded, want 20", n)
	}
}
