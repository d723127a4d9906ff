// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"testing"
	"time"
)

func TestDebouncer(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	quiet, max := 2*time.Second, 10*time.Second
	cases := []struct {
		name  string
		marks []time.Duration // offsets from t0
		at    time.Duration
		want  time.Duration
	}{
		{"no change: publish now", nil, 0, 0},
		{"one change: wait for quiet", []time.Duration{0}, 500 * time.Millisecond, 1500 * time.Millisecond},
		{"quiet elapsed", []time.Duration{0}, 2 * time.Second, 0},
		{"a later change restarts quiet", []time.Duration{0, time.Second}, 2 * time.Second, time.Second},
		{"churn is cut at max after the first change", []time.Duration{0, 3 * time.Second, 6 * time.Second, 9 * time.Second}, 9 * time.Second, time.Second},
		{"max reached during churn", []time.Duration{0, 3 * time.Second, 6 * time.Second, 9 * time.Second, 10 * time.Second}, 10 * time.Second, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := newDebouncer()
			for _, m := range tc.marks {
				d.mark("a", t0.Add(m))
			}
			if got := d.wait("a", t0.Add(tc.at), quiet, max); got != tc.want {
				t.Fatalf("wait = %s, want %s", got, tc.want)
			}
		})
	}

	d := newDebouncer()
	d.mark("a", t0)
	if got := d.takeIfDue("a", t0.Add(time.Second), quiet, max); got != time.Second {
		t.Fatalf("takeIfDue before the quiet time = %s, want 1s", got)
	}
	if got := d.takeIfDue("a", t0.Add(quiet), quiet, max); got != 0 {
		t.Fatalf("takeIfDue after the quiet time = %s, want 0", got)
	}
	if got := d.wait("a", t0.Add(quiet), quiet, max); got != 0 {
		t.Fatalf("wait after takeIfDue = %s, want 0 (nothing pending)", got)
	}
	d.mark("a", t0.Add(time.Minute))
	if got := d.wait("a", t0.Add(time.Minute), quiet, max); got != quiet {
		t.Fatalf("a change after takeIfDue starts a new window: wait = %s, want %s", got, quiet)
	}
}
