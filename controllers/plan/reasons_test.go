// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package plan

import (
	"slices"
	"testing"
)

func TestTruncateKeepsUTF8(t *testing.T) {
	s := "ääääää" // 2 bytes each
	got := truncate(s, 6)
	if len(got) > 6 || !slices.Contains([]string{"ä…", "ää…"}, got) {
		t.Fatalf("truncate = %q", got)
	}
	if truncate("short", 10) != "short" {
		t.Fatal("truncate changed a short string")
	}
}
