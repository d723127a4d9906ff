// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package publisher_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nodeallow/nodeallow/controllers/publisher"
	"github.com/nodeallow/nodeallow/test/saltapistandin"
)

// overlapFails makes a stand-in answer a hook with HTTP 500 while another hook is in its handler, as
// salt-api's webhook now and then does (docs/salt.md, "Troubleshooting"), and counts the overlaps.
func overlapFails(stub *saltapistandin.Server) *atomic.Int32 {
	var inFlight, overlaps atomic.Int32
	stub.Script(func(_ int, w http.ResponseWriter, _ *http.Request) bool {
		defer inFlight.Add(-1)
		if inFlight.Add(1) > 1 {
			overlaps.Add(1)
			saltapistandin.WriteJSON(w, http.StatusInternalServerError, map[string]any{"status": 500, "return": "An unexpected error occurred"})
			return true
		}
		time.Sleep(5 * time.Millisecond) // firing the event takes a moment; another POST arriving now overlaps
		return false
	})
	return &overlaps
}

// publishAll publishes one snapshot per allowlist, all at once, through p to each endpoint.
func publishAll(p *publisher.SaltAPI, allowlists int, endpoints ...publisher.Endpoint) []error {
	var wg sync.WaitGroup
	errs := make([]error, allowlists*len(endpoints))
	for e, endpoint := range endpoints {
		for i := range allowlists {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := snapshotOf(3)
				s.Allowlist = fmt.Sprintf("workers-%02d", i)
				_, errs[e*allowlists+i] = p.Publish(context.Background(), endpoint, s)
			}()
		}
	}
	wg.Wait()
	return errs
}

func TestPublishSendsOneHookAtATimeToASaltAPI(t *testing.T) {
	stub := saltapistandin.NewForTest(t, testKey)
	overlaps := overlapFails(stub)
	opts := fastOptions()
	opts.RetryCount = -1 // a 500 would fail the publish: none may happen
	errs := publishAll(publisher.NewSaltAPI(opts), 16, plainEndpoint(stub.URL()))
	for i, err := range errs {
		if err != nil {
			t.Errorf("allowlist %d: %v", i, err)
		}
	}
	if n := overlaps.Load(); n != 0 || len(stub.Accepted()) != 16 {
		t.Errorf("%d hooks overlapped, %d of 16 accepted; want one hook POST at a time, all accepted", n, len(stub.Accepted()))
	}
}

func TestPublishToDifferentSaltAPIsRunsSideBySide(t *testing.T) {
	// Each stand-in holds its hooks until the other has one in its handler too: only publishes to two
	// salt-apis sent side by side get through (the gate is per salt-api, not global).
	stubs := [2]*saltapistandin.Server{saltapistandin.NewForTest(t, testKey), saltapistandin.NewForTest(t, testKey)}
	var arrived [2]chan struct{}
	for i, stub := range stubs {
		arrived[i] = make(chan struct{})
		var once sync.Once
		stub.Script(func(int, http.ResponseWriter, *http.Request) bool {
			once.Do(func() { close(arrived[i]) })
			select {
			case <-arrived[1-i]:
			case <-time.After(3 * time.Second):
				t.Errorf("salt-api %d: no hook reached the other salt-api while this one held one", i)
			}
			return false
		})
	}
	errs := publishAll(publisher.NewSaltAPI(fastOptions()), 1, plainEndpoint(stubs[0].URL()), plainEndpoint(stubs[1].URL()))
	for i, err := range errs {
		if err != nil {
			t.Errorf("salt-api %d: %v", i, err)
		}
	}
}

func TestPublishWaitingForTheHookGateHonoursCancellation(t *testing.T) {
	stub := saltapistandin.NewForTest(t, testKey)
	held := make(chan struct{})
	release := make(chan struct{})
	stub.Script(func(n int, _ http.ResponseWriter, _ *http.Request) bool {
		if n == 0 {
			close(held)
			<-release
		}
		return false
	})
	p := publisher.NewSaltAPI(fastOptions())
	first := make(chan error, 1)
	go func() {
		_, err := p.Publish(context.Background(), plainEndpoint(stub.URL()), snapshotOf(3))
		first <- err
	}()
	<-held
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	s := snapshotOf(3)
	s.Allowlist = "waiting"
	if _, err := p.Publish(ctx, plainEndpoint(stub.URL()), s); err == nil {
		t.Error("a publish waiting behind another hook POST ignored its context's end")
	}
	close(release)
	if err := <-first; err != nil {
		t.Errorf("the publish holding the gate: %v", err)
	}
	if n := len(stub.Hooks()); n != 1 {
		t.Errorf("salt-api got %d hook requests; the cancelled publish must not have sent one", n)
	}
}
