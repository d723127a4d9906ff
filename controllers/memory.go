// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"sync"
	"time"

	"github.com/nodeallow/nodeallow/controllers/plan"
)

// deliveryMemory keeps each allowlist's plan.Memory (when this process last delivered it, which
// sequence salt-api last refused) between reconciles; plan.Memory says why in memory only.
type deliveryMemory struct {
	mu      sync.Mutex
	entries map[string]plan.Memory
}

func newDeliveryMemory() *deliveryMemory {
	return &deliveryMemory{entries: map[string]plan.Memory{}}
}

// get returns what is remembered of allowlist name; the zero Memory when nothing is.
func (m *deliveryMemory) get(name string) plan.Memory {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.entries[name]
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
	if e == (plan.Memory{}) {
		delete(m.entries, name)
		return
	}
	m.entries[name] = e
}

// forget drops a deleted allowlist.
func (m *deliveryMemory) forget(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.entries, name)
}
