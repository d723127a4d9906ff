// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package main

import "testing"

func TestNewLoggerAcceptsBothFormatsAndRefusesOthers(t *testing.T) {
	for _, encoder := range []string{"json", "console"} {
		if _, err := newLogger("info", encoder); err != nil {
			t.Errorf("--zap-encoder=%s: %v", encoder, err)
		}
	}
	if _, err := newLogger("info", "text"); err == nil {
		t.Error("--zap-encoder=text was accepted; only json and console exist")
	}
	if _, err := newLogger("verbose", "json"); err == nil {
		t.Error("--zap-log-level=verbose was accepted")
	}
}
