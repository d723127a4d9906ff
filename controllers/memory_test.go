// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"testing"
	"time"

	"github.com/nodeallow/nodeallow/controllers/plan"
)

func TestDeliveryMemory(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := newDeliveryMemory()
	if got := m.get("a"); got != (plan.Memory{}) {
		t.Fatalf("a fresh process remembers %+v, want nothing (so it re-sends once)", got)
	}
	m.remember("a", t0, plan.Remember{Delivered: true})
	m.remember("a", t0.Add(time.Second), plan.Remember{Refused: 3})
	if got, want := m.get("a"), (plan.Memory{Delivered: t0, Refused: 3, RefusedAt: t0.Add(time.Second)}); got != want {
		t.Fatalf("get = %+v, want %+v", got, want)
	}
	m.remember("a", t0.Add(2*time.Second), plan.Remember{Delivered: true})
	if got, want := m.get("a"), (plan.Memory{Delivered: t0.Add(2 * time.Second)}); got != want {
		t.Fatalf("a delivery did not clear the refusal: %+v, want %+v", got, want)
	}
	m.remember("a", t0.Add(3*time.Second), plan.Remember{Reset: true, Refused: 4})
	if got, want := m.get("a"), (plan.Memory{Refused: 4, RefusedAt: t0.Add(3 * time.Second)}); got != want {
		t.Fatalf("a reset kept the delivery: %+v, want %+v", got, want)
	}
	m.forget("a")
	if got := m.get("a"); got != (plan.Memory{}) {
		t.Fatalf("forget kept %+v", got)
	}
}

func TestDeliveryMemoryFlights(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := newDeliveryMemory()
	id, ok := m.launch("a", plan.Flight{Since: t0}, 0)
	if !ok || m.flight("a") == nil || m.flight("a").Done || m.flight("a").ID != id {
		t.Fatalf("launch: ok %v, flight %+v", ok, m.flight("a"))
	}
	if _, ok := m.launch("a", plan.Flight{Since: t0}, id); ok {
		t.Fatal("a second send was let in flight for the same allowlist")
	}
	m.drop("a", id)
	if m.flight("a") == nil {
		t.Fatal("a flight still in the air was dropped")
	}
	if !m.land("a", id, plan.Delivery{Chunks: 1}) || !m.flight("a").Done || m.flight("a").Delivery.Chunks != 1 {
		t.Fatalf("land: %+v", m.flight("a"))
	}
	if _, ok := m.launch("a", plan.Flight{Since: t0}, id+1); ok {
		t.Fatal("a landed flight was replaced by a reconcile that did not record it")
	}
	// The reconcile that records the landed flight may send the next one at once.
	next, ok := m.launch("a", plan.Flight{Since: t0}, id)
	if !ok || m.flight("a").ID != next || m.flight("a").Done {
		t.Fatalf("the next send did not replace the recorded flight: %+v", m.flight("a"))
	}
	m.drop("a", id)
	if m.flight("a") == nil {
		t.Fatal("dropping the recorded flight dropped the next one")
	}
	m.land("a", next, plan.Delivery{})
	m.drop("a", next)
	if m.flight("a") != nil {
		t.Fatal("a recorded flight was kept")
	}

	old, _ := m.launch("b", plan.Flight{Since: t0}, 0)
	m.forget("b")
	if _, ok := m.launch("b", plan.Flight{Since: t0}, 0); !ok {
		t.Fatal("a recreated allowlist cannot send")
	}
	if m.land("b", old, plan.Delivery{}) || m.flight("b").Done {
		t.Fatal("the send of a deleted allowlist landed on its successor")
	}
}
