// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package publisher_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/nodeallow/nodeallow/controllers/publisher"
	"github.com/nodeallow/nodeallow/test/saltapistandin"
)

func TestWithProgressReportsEachRetriedAttempt(t *testing.T) {
	var mu sync.Mutex
	var got []publisher.Attempt
	report := func(a publisher.Attempt) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, a)
	}
	p := publisher.NewSaltAPI(fastOptions())

	stub := saltapistandin.NewForTest(t, testKey)
	stub.Fail(http.StatusServiceUnavailable, "master busy")
	if _, err := p.Publish(publisher.WithProgress(context.Background(), report), plainEndpoint(stub.URL()), snapshotOf(1)); err == nil {
		t.Fatal("a publish to a failing salt-api succeeded")
	}
	// fastOptions retries 3 times: 4 attempts, each reported.
	if len(got) != 4 || got[0].StatusCode != http.StatusServiceUnavailable || !strings.Contains(got[0].Err, "master busy") || got[3].Number != 4 {
		t.Fatalf("attempts %+v, want the 4 failed ones with HTTP 503 and its message", got)
	}

	// Nothing listens: the connection is refused, which is no answer at all.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	_ = l.Close()
	got = nil
	if _, err := p.Publish(publisher.WithProgress(context.Background(), report), plainEndpoint(closed), snapshotOf(1)); err == nil {
		t.Fatal("a publish to a closed port succeeded")
	}
	if len(got) == 0 || got[0].StatusCode != 0 || !strings.Contains(got[0].Err, "connection refused") {
		t.Fatalf("attempts %+v, want transport errors saying connection refused", got)
	}
}
