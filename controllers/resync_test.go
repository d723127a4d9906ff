// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"testing"
	"time"
)

func TestResyncClock(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newResyncClock()
	if due, _ := c.due("a", t0, time.Minute); !due {
		t.Fatal("a fresh process must re-send once")
	}
	c.delivered("a", t0)
	if due, left := c.due("a", t0.Add(20*time.Second), time.Minute); due || left != 40*time.Second {
		t.Fatalf("due = %v, left = %s; want false, 40s", due, left)
	}
	if due, _ := c.due("a", t0.Add(time.Minute), time.Minute); !due {
		t.Fatal("resync not due after the interval")
	}

	c.refused("a", 3, t0)
	if recent, left := c.refusedRecently("a", 3, t0.Add(20*time.Second), time.Minute); !recent || left != 40*time.Second {
		t.Fatalf("refusedRecently = %v, %s; want true, 40s", recent, left)
	}
	if recent, _ := c.refusedRecently("a", 4, t0, time.Minute); recent {
		t.Fatal("a refusal of sequence 3 held back sequence 4")
	}
	c.delivered("a", t0.Add(time.Second))
	if recent, _ := c.refusedRecently("a", 3, t0.Add(2*time.Second), time.Minute); recent {
		t.Fatal("a delivery did not clear the refusal")
	}
}
