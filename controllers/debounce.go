// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"sync"
	"time"
)

// debouncer remembers, per allowlist, when the first and the last unpublished
// Node change arrived, so a publish waits for min of quiet but never longer
// than max after the first change (Consul-Terraform-Sync's buffer period).
// It lives in memory only: after a restart the first reconcile simply
// publishes, which is what a restart should do anyway.
type debouncer struct {
	mu      sync.Mutex
	windows map[string]changeWindow
}

// changeWindow spans the unpublished changes of one allowlist.
type changeWindow struct {
	first, last time.Time
}

func newDebouncer() *debouncer {
	return &debouncer{windows: map[string]changeWindow{}}
}

// mark records a change relevant to allowlist name at now.
func (d *debouncer) mark(name string, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	w, ok := d.windows[name]
	if !ok {
		w.first = now
	}
	w.last = now
	d.windows[name] = w
}

// wait returns how long allowlist name must still wait before publishing; 0
// means publish now (also when no change is pending, e.g. for a spec change,
// a resync or a retry, which need no debounce).
func (d *debouncer) wait(name string, now time.Time, quiet, max time.Duration) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.waitLocked(name, now, quiet, max)
}

func (d *debouncer) waitLocked(name string, now time.Time, quiet, max time.Duration) time.Duration {
	w, ok := d.windows[name]
	if !ok {
		return 0
	}
	due := w.last.Add(quiet)
	if latest := w.first.Add(max); latest.Before(due) {
		due = latest
	}
	if wait := due.Sub(now); wait > 0 {
		return wait
	}
	return 0
}

// takeIfDue is wait and, when nothing is left to wait, forgets the pending
// changes in the same step, because a snapshot is about to be computed. Being
// one step, a change marked between a reconcile's first look and its listing
// cannot be swallowed without its quiet time. It must be called right before
// the Nodes are listed: the informer updates its store before it calls the
// handler that marks, so a change marked after takeIfDue is either in that
// list already or gets its own publish; none is lost.
func (d *debouncer) takeIfDue(name string, now time.Time, quiet, max time.Duration) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	if wait := d.waitLocked(name, now, quiet, max); wait > 0 {
		return wait
	}
	delete(d.windows, name)
	return 0
}

// forget drops the pending changes of a deleted allowlist.
func (d *debouncer) forget(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.windows, name)
}
