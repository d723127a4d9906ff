// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package publisher

import (
	"fmt"

	"github.com/go-logr/logr"
)

// restyLogger sends resty's own messages to logr at V(1): they describe single attempts, and the
// outcome reaches the caller as an error anyway. Without it resty prints to stderr.
type restyLogger struct {
	log logr.Logger
}

// Errorf logs a failed request at V(1).
func (l restyLogger) Errorf(format string, v ...any) {
	l.log.V(1).Info(fmt.Sprintf(format, v...), "source", "resty", "severity", "error")
}

// Warnf logs a failed attempt at V(1).
func (l restyLogger) Warnf(format string, v ...any) {
	l.log.V(1).Info(fmt.Sprintf(format, v...), "source", "resty", "severity", "warning")
}

// Debugf logs resty's debug output at V(2).
func (l restyLogger) Debugf(format string, v ...any) {
	l.log.V(2).Info(fmt.Sprintf(format, v...), "source", "resty")
}
