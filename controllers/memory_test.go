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
