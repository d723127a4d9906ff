// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"bytes"
	"testing"
)

func TestSigningKeyIsTheFirstNonEmptyLine(t *testing.T) {
	cases := []struct {
		name, value, want string
	}{
		{"one key", "k1", "k1"},
		{"one key with the newline a file ends in", "k1\n", "k1"},
		{"new key first, old key second", "new\nold\n", "new"},
		{"Windows line ends", "new\r\nold\r\n", "new"},
		{"blank lines before the key", "\n\nnew\nold", "new"},
		{"spaces are part of a key", " k1 \n", " k1 "},
		{"only blank lines", "\n\r\n", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := signingKey([]byte(tc.value)); !bytes.Equal(got, []byte(tc.want)) || (tc.want == "") != (got == nil) {
				t.Fatalf("signingKey(%q) = %q, want %q", tc.value, got, tc.want)
			}
		})
	}
}
