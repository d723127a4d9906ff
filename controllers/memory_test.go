// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"testing"
	"time"

	"github.com/nodeallow/nodeallow/controllers/plan"
)

// flightOf returns endpoint k's flight, nil when none.
func flightOf(m *deliveryMemory, k endpointKey) *plan.Flight {
	return m.flightsOf(k.name)[k.url]
}

func TestDeliveryMemory(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := newDeliveryMemory()
	a := endpointKey{"a", "https://salt-1"}
	if got := m.get(a); got != (plan.Memory{}) {
		t.Fatalf("a fresh process remembers %+v, want nothing (so it re-sends once)", got)
	}
	m.remember(a, t0, plan.Remember{Delivered: true})
	m.remember(a, t0.Add(time.Second), plan.Remember{Refused: 3})
	if got, want := m.get(a), (plan.Memory{Delivered: t0, Refused: 3, RefusedAt: t0.Add(time.Second)}); got != want {
		t.Fatalf("get = %+v, want %+v", got, want)
	}
	m.remember(a, t0.Add(2*time.Second), plan.Remember{Delivered: true})
	if got, want := m.get(a), (plan.Memory{Delivered: t0.Add(2 * time.Second)}); got != want {
		t.Fatalf("a delivery did not clear the refusal: %+v, want %+v", got, want)
	}
	m.remember(a, t0.Add(3*time.Second), plan.Remember{Reset: true, Refused: 4})
	if got, want := m.get(a), (plan.Memory{Refused: 4, RefusedAt: t0.Add(3 * time.Second)}); got != want {
		t.Fatalf("a reset kept the delivery: %+v, want %+v", got, want)
	}
	m.remember(a, t0.Add(4*time.Second), plan.Remember{Failed: true})
	m.remember(a, t0.Add(5*time.Second), plan.Remember{Failed: true})
	if got := m.get(a).Failures; got != 2 {
		t.Fatalf("two failed publishes in a row remembered as %d", got)
	}
	m.remember(a, t0.Add(6*time.Second), plan.Remember{Delivered: true})
	if got := m.get(a).Failures; got != 0 {
		t.Fatalf("a delivery kept %d failures", got)
	}
	m.forget("a")
	if got := m.get(a); got != (plan.Memory{}) {
		t.Fatalf("forget kept %+v", got)
	}
}

func TestDeliveryMemoryFlights(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := newDeliveryMemory()
	a, b := endpointKey{"a", "https://salt-1"}, endpointKey{"b", "https://salt-1"}
	id, ok := m.launch(a, plan.Flight{Since: t0}, 0)
	if !ok || flightOf(m, a) == nil || flightOf(m, a).Done || flightOf(m, a).ID != id {
		t.Fatalf("launch: ok %v, flight %+v", ok, flightOf(m, a))
	}
	if _, ok := m.launch(a, plan.Flight{Since: t0}, id); ok {
		t.Fatal("a second send was let in flight for the same allowlist")
	}
	m.drop(a, id)
	if flightOf(m, a) == nil {
		t.Fatal("a flight still in the air was dropped")
	}
	if !m.land(a, id, plan.Delivery{Chunks: 1}) || !flightOf(m, a).Done || flightOf(m, a).Delivery.Chunks != 1 {
		t.Fatalf("land: %+v", flightOf(m, a))
	}
	if _, ok := m.launch(a, plan.Flight{Since: t0}, id+1); ok {
		t.Fatal("a landed flight was replaced by a reconcile that did not record it")
	}
	// The reconcile that records the landed flight may send the next one at once.
	next, ok := m.launch(a, plan.Flight{Since: t0}, id)
	if !ok || flightOf(m, a).ID != next || flightOf(m, a).Done {
		t.Fatalf("the next send did not replace the recorded flight: %+v", flightOf(m, a))
	}
	m.drop(a, id)
	if flightOf(m, a) == nil {
		t.Fatal("dropping the recorded flight dropped the next one")
	}
	m.land(a, next, plan.Delivery{})
	m.drop(a, next)
	if flightOf(m, a) != nil {
		t.Fatal("a recorded flight was kept")
	}

	old, _ := m.launch(b, plan.Flight{Since: t0}, 0)
	m.forget("b")
	if _, ok := m.launch(b, plan.Flight{Since: t0}, 0); !ok {
		t.Fatal("a recreated allowlist cannot send")
	}
	if m.land(b, old, plan.Delivery{}) || flightOf(m, b).Done {
		t.Fatal("the send of a deleted allowlist landed on its successor")
	}
}

func TestDeliveryMemoryEndpoints(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := newDeliveryMemory()
	one, two := endpointKey{"a", "https://salt-1"}, endpointKey{"a", "https://salt-2"}
	first, _ := m.launch(one, plan.Flight{Since: t0}, 0)
	if _, ok := m.launch(two, plan.Flight{Since: t0}, 0); !ok {
		t.Fatal("a send in flight to one endpoint kept the other from sending")
	}
	m.remember(two, t0, plan.Remember{Delivered: true})
	if got := m.get(one); got != (plan.Memory{}) {
		t.Fatalf("a delivery to salt-2 was remembered for salt-1: %+v", got)
	}
	if got := len(m.flightsOf("a")); got != 2 {
		t.Fatalf("flights of a: %d, want 2", got)
	}
	m.retain("a", []string{two.url})
	if flightOf(m, one) != nil || m.land(one, first, plan.Delivery{}) {
		t.Fatal("the flight to a removed endpoint was kept")
	}
	if flightOf(m, two) == nil || m.get(two) == (plan.Memory{}) {
		t.Fatal("retain dropped an endpoint it was told to keep")
	}
}

func TestDeliveryMemoryChecks(t *testing.T) {
	m := newDeliveryMemory()
	a, b := endpointKey{"a", "https://salt-1"}, endpointKey{"a", "https://salt-2"}
	if c, waiting := m.takeCheck(a); c != nil || waiting {
		t.Fatalf("nothing asked, yet takeCheck = %+v, %v", c, waiting)
	}
	id, ok := m.ask(a)
	if !ok {
		t.Fatal("ask refused with nothing asked")
	}
	if _, again := m.ask(a); again {
		t.Fatal("a second check of the same endpoint was let out while one is unanswered")
	}
	if c, waiting := m.takeCheck(a); c != nil || !waiting || !m.checking(a) {
		t.Fatalf("unanswered: takeCheck = %+v, %v; checking %v", c, waiting, m.checking(a))
	}
	if m.answer(a, id+1, plan.Check{Sequence: 3}) {
		t.Fatal("an answer to another check was taken")
	}
	if !m.answer(a, id, plan.Check{Sequence: 3, Found: true}) {
		t.Fatal("the answer was not taken")
	}
	if !m.checking(a) {
		t.Fatal("an answer not yet taken by a reconcile does not count as checking")
	}
	if c, waiting := m.takeCheck(a); c == nil || waiting || c.Sequence != 3 || !c.Found {
		t.Fatalf("answered: takeCheck = %+v, %v", c, waiting)
	}
	if c, waiting := m.takeCheck(a); c != nil || waiting || m.checking(a) {
		t.Fatalf("taken twice: %+v, %v", c, waiting)
	}
	idB, _ := m.ask(b)
	m.retain("a", []string{a.url})
	if m.answer(b, idB, plan.Check{}) || m.checking(b) {
		t.Fatal("the check of an endpoint removed from the spec lands")
	}
	idA, _ := m.ask(a)
	m.forget("a")
	if m.answer(a, idA, plan.Check{}) {
		t.Fatal("the check of a forgotten allowlist lands")
	}
}
