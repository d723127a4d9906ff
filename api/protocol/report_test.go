// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package protocol

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// statusVectorsPath holds the answers of the runner nodeallow.status both halves test against.
const statusVectorsPath = "../../test/protocol/v1/status.json"

// statusVector is one answer of test/protocol/v1/status.json and what decoding it gives.
type statusVector struct {
	Name      string          `json:"name"`
	Cluster   string          `json:"cluster"`
	Allowlist string          `json:"allowlist"`
	Body      json.RawMessage `json:"body"`
	BodyText  string          `json:"bodyText"`
	Found     bool            `json:"found"`
	Sequence  int64           `json:"sequence"`
	// Subscribers maps each minion to [applied_sequence, result].
	Subscribers map[string][2]any `json:"subscribers"`
	Error       string            `json:"error"`
}

func TestDecodeStatusAnswerVectors(t *testing.T) {
	raw, err := os.ReadFile(statusVectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Answers []statusVector `json:"answers"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Answers) < 5 {
		t.Fatalf("%d answers in %s", len(file.Answers), statusVectorsPath)
	}
	for _, v := range file.Answers {
		t.Run(v.Name, func(t *testing.T) {
			body := []byte(v.Body)
			if v.BodyText != "" {
				body = []byte(v.BodyText)
			}
			e, found, err := DecodeStatusAnswer(body, v.Cluster, v.Allowlist)
			if v.Error != "" {
				if err == nil || !strings.Contains(err.Error(), v.Error) {
					t.Fatalf("err %v, want one containing %q", err, v.Error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if found != v.Found || e.Sequence != v.Sequence || len(e.Subscribers) != len(v.Subscribers) {
				t.Fatalf("found %v, sequence %d, %d subscribers; want %v, %d, %d", found, e.Sequence, len(e.Subscribers), v.Found, v.Sequence, len(v.Subscribers))
			}
			for name, want := range v.Subscribers {
				s, ok := e.Subscribers[name]
				if !ok {
					t.Fatalf("subscriber %s missing", name)
				}
				if got := optional(s.AppliedSequence); got != want[0] {
					t.Errorf("%s applied_sequence %v, want %v", name, got, want[0])
				}
				if got := optional(s.Result); got != want[1] {
					t.Errorf("%s result %v, want %v", name, got, want[1])
				}
			}
		})
	}
}

// optional returns *p as JSON decoding into any would (float64 for numbers), nil for nil.
func optional[T int64 | bool](p *T) any {
	if p == nil {
		return nil
	}
	switch v := any(*p).(type) {
	case int64:
		return float64(v)
	default:
		return v
	}
}
