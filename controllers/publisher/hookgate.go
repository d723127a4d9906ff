// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package publisher

import (
	"context"
	"net/http"
	"sync"
)

// hookGates holds one gate per salt-api base URL. salt-api's webhook (rest_cherrypy) fires every hook's
// event through one event sender shared by all its request threads: two POSTs that reach it at once fail
// with HTTP 500, and on Salt 3008.4 every later POST too until salt-api restarts (docs/salt.md,
// "Troubleshooting"). A hook POST takes a few milliseconds, so the controller sends one at a time to each
// salt-api.
type hookGates struct {
	mu    sync.Mutex
	gates map[string]chan struct{}
}

// get returns the gate of the salt-api at base, making it on first use. There is one per salt-api URL the
// allowlists name, so the map stays as small as the set of salt-api URLs.
func (g *hookGates) get(base string) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gates == nil {
		g.gates = map[string]chan struct{}{}
	}
	gate, ok := g.gates[base]
	if !ok {
		gate = make(chan struct{}, 1)
		g.gates[base] = gate
	}
	return gate
}

// hookGateKey is the context key of the gate a hook POST holds while it is on the wire.
type hookGateKey struct{}

// withHookGate returns a context whose requests hold gate from sending until the answer's headers arrive.
func withHookGate(ctx context.Context, gate chan struct{}) context.Context {
	return context.WithValue(ctx, hookGateKey{}, gate)
}

// gatedTransport holds the gate a request's context carries (withHookGate) for each attempt, from sending
// the request until salt-api's answer headers arrive: salt-api answers after it fired the event, and the
// retry backoff between attempts holds no gate. Requests without a gate (login, runner) pass straight on.
type gatedTransport struct {
	next http.RoundTripper
}

// RoundTrip sends req once it holds its gate, or gives up when req's context ends first.
func (t gatedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	gate, ok := req.Context().Value(hookGateKey{}).(chan struct{})
	if !ok {
		return t.next.RoundTrip(req)
	}
	select {
	case gate <- struct{}{}:
	case <-req.Context().Done():
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, req.Context().Err()
	}
	defer func() { <-gate }()
	return t.next.RoundTrip(req)
}
