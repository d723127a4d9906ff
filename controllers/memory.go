// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"fmt"
	"sync"
	"time"

	"github.com/nodeallow/nodeallow/controllers/plan"
	"github.com/nodeallow/nodeallow/controllers/publisher"
)

// deliveryMemory keeps each allowlist's plan.Memory (when this process last delivered it, which
// sequence salt-api last refused) between reconciles, and the one send this process has in flight
// per allowlist (plan.Flight) until a reconcile recorded its result; plan.Memory says why in memory only.
type deliveryMemory struct {
	mu      sync.Mutex
	entries map[string]plan.Memory
	flights map[string]*flight
	lastID  uint64
}

// flight is a plan.Flight (its ID is the one its goroutine lands it by, so that the result of a send
// for a deleted allowlist never lands on a later one of the same name).
type flight struct {
	plan.Flight
}

func newDeliveryMemory() *deliveryMemory {
	return &deliveryMemory{entries: map[string]plan.Memory{}, flights: map[string]*flight{}}
}

// get returns what is remembered of allowlist name; the zero Memory when nothing is.
func (m *deliveryMemory) get(name string) plan.Memory {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.entries[name]
}

// flight returns a copy of allowlist name's send in flight or landed unrecorded; nil when none.
func (m *deliveryMemory) flight(name string) *plan.Flight {
	m.mu.Lock()
	defer m.mu.Unlock()
	fl, ok := m.flights[name]
	if !ok {
		return nil
	}
	c := fl.Flight
	return &c
}

// launch records that fl left for allowlist name and returns the id to land it by. It replaces
// the landed flight replaces (the one the same Outcome records); ok is false when another flight is
// remembered, which plan.Decide never lets happen.
func (m *deliveryMemory) launch(name string, fl plan.Flight, replaces uint64) (id uint64, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, busy := m.flights[name]; busy && (!old.Done || old.ID != replaces) {
		return 0, false
	}
	m.lastID++
	fl.ID = m.lastID
	m.flights[name] = &flight{Flight: fl}
	return m.lastID, true
}

// drop forgets flight id of allowlist name once its result is recorded; a later flight stays.
func (m *deliveryMemory) drop(name string, id uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if fl, ok := m.flights[name]; ok && fl.ID == id && fl.Done {
		delete(m.flights, name)
	}
}

// progress records a failed attempt of flight id of allowlist name that its publisher retries.
func (m *deliveryMemory) progress(name string, id uint64, a publisher.Attempt) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if fl, ok := m.flights[name]; ok && fl.ID == id && !fl.Done {
		fl.FailedAttempts++
		fl.LastFailure = a.Err
		if a.StatusCode != 0 {
			fl.LastFailure = fmt.Sprintf("HTTP %d: %s", a.StatusCode, a.Err)
		}
	}
}

// land records what became of flight id of allowlist name; it reports false when that flight is no
// longer remembered (the allowlist was forgotten meanwhile).
func (m *deliveryMemory) land(name string, id uint64, d plan.Delivery) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	fl, ok := m.flights[name]
	if !ok || fl.ID != id {
		return false
	}
	fl.Done, fl.Delivery = true, d
	return true
}

// remember applies one Outcome's changes to allowlist name's memory, at now.
func (m *deliveryMemory) remember(name string, now time.Time, r plan.Remember) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[name]
	if r.Reset {
		e = plan.Memory{}
	}
	if r.Delivered {
		e = plan.Memory{Delivered: now}
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
		delete(m.entries, name)
		return
	}
	m.entries[name] = e
}

// forget drops a deleted allowlist; a send still in flight for it lands nowhere.
func (m *deliveryMemory) forget(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.entries, name)
	delete(m.flights, name)
}
