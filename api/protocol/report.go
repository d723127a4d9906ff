// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package protocol

import (
	"encoding/json"
	"fmt"
	"strings"
)

// StatusRunner is the Salt runner function the controller calls through salt-api to confirm delivery.
const StatusRunner = "nodeallow.status"

// StatusOutputter is the outputter the runner names beside its report (Salt's {"outputter", "data"} form).
const StatusOutputter = "nodeallow_status"

// StatusEntry is one allowlist's entry of the runner nodeallow.status, the fields the controller reads
// (test/protocol/v1/status.json holds the schema both halves test against).
type StatusEntry struct {
	// Cluster and Allowlist name the entry.
	Cluster   string `json:"cluster"`
	Allowlist string `json:"allowlist"`
	// Stored is false while the master has no snapshot of the allowlist (chunks pending, or never).
	Stored bool `json:"stored"`
	// Sequence is the stored snapshot's sequence (0 when none is stored).
	Sequence int64 `json:"sequence"`
	// Retired is true when the stored snapshot is a retirement.
	Retired bool `json:"retired"`
	// StoredSecondsAgo is how long ago the master stored it; nil when unknown.
	StoredSecondsAgo *int64 `json:"stored_seconds_ago"`
	// Subscribers are the minions that subscribe to the allowlist in pillar, by minion id.
	Subscribers map[string]SubscriberStatus `json:"subscribers"`
}

// SubscriberStatus is what the master knows of one subscriber's last apply of the allowlist.
type SubscriberStatus struct {
	// AppliedSequence is the sequence of the last apply; nil when the minion never applied it.
	AppliedSequence *int64 `json:"applied_sequence"`
	// Result is the last apply's result: true, false, or nil when none is recorded.
	Result *bool `json:"result"`
	// LastError is the comment of a failed apply, or why the minion is behind.
	LastError string `json:"last_error"`
	// SecondsAgo is how long ago the last apply returned; nil when never.
	SecondsAgo *int64 `json:"seconds_ago"`
	// Failures counts the master's consecutive failed attempts to bring the minion up to date.
	Failures int `json:"failures"`
	// NextRetryIn is how many seconds until the master's reconcile loop retries the minion.
	NextRetryIn int64 `json:"next_retry_in"`
}

// statusAnswer is salt-api's answer to one runner call: {"return": [<the runner's return>]}.
type statusAnswer struct {
	Return []json.RawMessage `json:"return"`
}

// statusReturn is the runner's return: the report under data, its outputter beside it.
type statusReturn struct {
	Outputter string                 `json:"outputter"`
	Data      map[string]StatusEntry `json:"data"`
}

// DecodeStatusAnswer reads salt-api's answer to the runner nodeallow.status called with cluster and
// allowlist, and returns that allowlist's entry; found is false when the master knows nothing of it
// (never stored, nobody subscribes). An answer of another shape (Salt returns a string when the runner
// is missing or failed) is an error that quotes it.
func DecodeStatusAnswer(body []byte, cluster, allowlist string) (entry StatusEntry, found bool, err error) {
	var answer statusAnswer
	if err := json.Unmarshal(body, &answer); err != nil {
		return entry, false, fmt.Errorf("salt-api's answer to %s is not JSON: %w (%q)", StatusRunner, err, clip(body))
	}
	if len(answer.Return) != 1 {
		return entry, false, fmt.Errorf("salt-api's answer to %s has %d returns, want 1 (%q)", StatusRunner, len(answer.Return), clip(body))
	}
	var ret statusReturn
	if err := json.Unmarshal(answer.Return[0], &ret); err != nil || ret.Outputter != StatusOutputter {
		// A missing runner returns a string such as "'nodeallow.status' is not available.".
		return entry, false, fmt.Errorf("the Salt master's %s did not return a report: %q; check that saltext-nodeallow is installed on the master",
			StatusRunner, clip(answer.Return[0]))
	}
	entry, found = ret.Data[cluster+"/"+allowlist]
	if found && (entry.Cluster != cluster || entry.Allowlist != allowlist) {
		return StatusEntry{}, false, fmt.Errorf("the Salt master's %s entry %s/%s names %s/%s", StatusRunner, cluster, allowlist, entry.Cluster, entry.Allowlist)
	}
	return entry, found, nil
}

// clip shortens an answer for an error message.
func clip(b []byte) string {
	const n = 300
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
