// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newLogger builds the zap logger behind logr. level is "debug", "info", "error" or an integer
// n > 0 that shows logr V(n) lines; encoder is "json" (the default, for log pipelines) or
// "console" (for people reading kubectl logs). Sampling is off: the one line per publish must
// never be dropped.
func newLogger(level, encoder string) (logr.Logger, error) {
	var lvl zapcore.Level
	switch strings.ToLower(level) {
	case "debug":
		lvl = zapcore.DebugLevel
	case "info":
		lvl = zapcore.InfoLevel
	case "error":
		lvl = zapcore.ErrorLevel
	default:
		n, err := strconv.Atoi(level)
		if err != nil || n <= 0 || n > 127 {
			return logr.Discard(), fmt.Errorf("--zap-log-level %q is not debug, info, error or an integer from 1 to 127", level)
		}
		// zapr logs V(n) at zap level -n.
		lvl = zapcore.Level(-n)
	}
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.Sampling = nil
	cfg.EncoderConfig.TimeKey = "ts"
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	switch encoder {
	case "json":
	case "console":
		cfg.Encoding = "console"
		cfg.EncoderConfig.EncodeLevel = zapcore.CapitalLevelEncoder
		// The caller and the stack trace of every error are for developers; the message and its fields say what failed.
		cfg.DisableCaller = true
		cfg.DisableStacktrace = true
	default:
		return logr.Discard(), fmt.Errorf("--zap-encoder %q is not json or console", encoder)
	}
	z, err := cfg.Build()
	if err != nil {
		return logr.Discard(), fmt.Errorf("building the zap logger: %w", err)
	}
	return zapr.NewLogger(z), nil
}
