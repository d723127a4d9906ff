// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nodeallow/nodeallow/controllers/plan"
	"github.com/nodeallow/nodeallow/controllers/publisher"
)

// deliveryMemory keeps each allowlist endpoint's plan.Memory (when this process last delivered it,
// which sequence salt-api last refused) between reconciles, the one send this process has in
// flight per endpoint (plan.Flight) until a reconcile recorded its result, and the one check of the
// Salt master it has asked per endpoint until a reconcile took its answer; plan.Memory says why in
// memory only.
type deliveryMemory struct {
	mu      sync.Mutex
	entries map[endpointKey]plan.Memory
	flights map[endpointKey]*flight
	checks  map[endpointKey]*asked
	lastID  uint64
}

// asked is one check of the Salt master (plan.Outcome.Ask) running beside the reconciles; its ID
// lands it, done and check are its answer.
type asked struct {
	id    uint64
	done  bool
	check plan.Check
}

// endpointKey names one salt-api endpoint of one allowlist: each has its own deliveries and flight.
type endpointKey struct {
	name, url string
}

// flight is a plan.Flight (its ID is the one its goroutine lands it by, so that the result of a send
// for a deleted allowlist never lands on a later one of the same name).
type flight struct {
	plan.Flight
}

func newDeliveryMemory() *deliveryMemory {
	return &deliveryMemory{entries: map[endpointKey]plan.Memory{}, flights: map[endpointKey]*flight{}, checks: map[endpointKey]*asked{}}
}

// get returns what is remembered of endpoint k; the zero Memory when nothing is.
func (m *deliveryMemory) get(k endpointKey) plan.Memory {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.entries[k]
}

// flightsOf returns copies of allowlist name's sends in flight or landed unrecorded, by endpoint URL.
func (m *deliveryMemory) flightsOf(name string) map[string]*plan.Flight {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]*plan.Flight{}
	for k, fl := range m.flights {
		if k.name == name {
			c := fl.Flight
			out[k.url] = &c
		}
	}
	return out
}

// launch records that fl left for endpoint k and returns the id to land it by. It replaces the
// landed flight replaces (the one the same Outcome records); ok is false when another flight is
// remembered, which plan.Decide never lets happen.
func (m *deliveryMemory) launch(k endpointKey, fl plan.Flight, replaces uint64) (id uint64, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, busy := m.flights[k]; busy && (!old.Done || old.ID != replaces) {
		return 0, false
	}
	m.lastID++
	fl.ID = m.lastID
	m.flights[k] = &flight{Flight: fl}
	return m.lastID, true
}

// drop forgets flight id of endpoint k once its result is recorded; a later flight stays.
func (m *deliveryMemory) drop(k endpointKey, id uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if fl, ok := m.flights[k]; ok && fl.ID == id && fl.Done {
		delete(m.flights, k)
	}
}

// progress records a failed attempt of flight id of endpoint k that its publisher retries.
func (m *deliveryMemory) progress(k endpointKey, id uint64, a publisher.Attempt) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if fl, ok := m.flights[k]; ok && fl.ID == id && !fl.Done {
		fl.FailedAttempts++
		fl.LastFailure = a.Err
		if a.StatusCode != 0 {
			fl.LastFailure = fmt.Sprintf("HTTP %d: %s", a.StatusCode, a.Err)
		}
	}
}

// land records what became of flight id of endpoint k; it reports false when that flight is no
// longer remembered (the allowlist or the endpoint was forgotten meanwhile).
func (m *deliveryMemory) land(k endpointKey, id uint64, d plan.Delivery) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	fl, ok := m.flights[k]
	if !ok || fl.ID != id {
		return false
	}
	fl.Done, fl.Delivery = true, d
	return true
}

// ask records that a check of endpoint k left and returns the id to answer it by; ok is false
// while another one is remembered, which plan.Decide never lets happen (Facts.Checking).
func (m *deliveryMemory) ask(k endpointKey) (id uint64, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, busy := m.checks[k]; busy {
		return 0, false
	}
	m.lastID++
	m.checks[k] = &asked{id: m.lastID}
	return m.lastID, true
}

// answer records the answer to check id of endpoint k; it reports false when that check is no
// longer remembered (the allowlist or the endpoint was forgotten meanwhile).
func (m *deliveryMemory) answer(k endpointKey, id uint64, c plan.Check) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.checks[k]
	if !ok || a.id != id {
		return false
	}
	a.done, a.check = true, c
	return true
}

// takeCheck returns the answer of endpoint k's check and forgets the check, which plan.Decide
// records (or, asked before a later acknowledgement, asks again); waiting is true while one has
// not been answered.
func (m *deliveryMemory) takeCheck(k endpointKey) (c *plan.Check, waiting bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.checks[k]
	switch {
	case !ok:
		return nil, false
	case !a.done:
		return nil, true
	}
	delete(m.checks, k)
	answer := a.check
	return &answer, false
}

// checking reports whether a check of endpoint k is unanswered or its answer not taken.
func (m *deliveryMemory) checking(k endpointKey) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.checks[k]
	return ok
}

// remember applies one Outcome's changes to endpoint k's memory, at now.
func (m *deliveryMemory) remember(k endpointKey, now time.Time, r plan.Remember) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[k]
	if r.Reset {
		e = plan.Memory{}
	}
	if r.Delivered {
		e = plan.Memory{Delivered: now}
	}
	if r.Failed {
		e.Failures++
	}
	if r.Refused != 0 {
		e.Refused, e.RefusedAt = r.Refused, now
	}
	if r.Checked {
		e.Checked = now
		e.CheckStreak++
		if r.CheckSettled {
			e.CheckStreak = 0
		}
	}
	if e == (plan.Memory{}) {
		delete(m.entries, k)
		return
	}
	m.entries[k] = e
}

// forget drops a deleted allowlist; a send still in flight for it lands nowhere.
func (m *deliveryMemory) forget(name string) {
	m.retain(name, nil)
}

// retain drops what is remembered of allowlist name's endpoints other than urls (removed from its
// spec); a send or check still in flight to one of those lands nowhere.
func (m *deliveryMemory) retain(name string, urls []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.entries {
		if k.name == name && !slices.Contains(urls, k.url) {
			delete(m.entries, k)
		}
	}
	for k := range m.flights {
		if k.name == name && !slices.Contains(urls, k.url) {
			delete(m.flights, k)
		}
	}
	for k := range m.checks {
		if k.name == name && !slices.Contains(urls, k.url) {
			delete(m.checks, k)
		}
	}
}
