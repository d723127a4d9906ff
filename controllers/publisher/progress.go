// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package publisher

import (
	"context"
	"time"

	"github.com/go-resty/resty/v2"
)

// Attempt is one failed attempt of a request (resty's retry hook runs after each, the last included).
type Attempt struct {
	// Number counts the request's attempts so far, this one included.
	Number int
	// StatusCode is salt-api's answer, 0 when there was none (a transport error).
	StatusCode int
	// Err is the transport error or salt-api's answer, as text.
	Err string
	// At is when the attempt failed.
	At time.Time
}

// progressKey is the context key of the function that WithProgress installs.
type progressKey struct{}

// WithProgress returns a context whose requests report each failed attempt to report, so that a caller waiting for a publish can tell a salt-api that refuses connections from
// one that accepts them and never answers. report must not block.
func WithProgress(ctx context.Context, report func(Attempt)) context.Context {
	return context.WithValue(ctx, progressKey{}, report)
}

// reportAttempt is the retry hook's report of a failed attempt to the request context's WithProgress.
func reportAttempt(resp *resty.Response, err error) {
	if resp == nil || resp.Request == nil {
		return
	}
	report, ok := resp.Request.Context().Value(progressKey{}).(func(Attempt))
	if !ok {
		return
	}
	a := Attempt{Number: attemptsOf(resp), At: time.Now()}
	switch {
	case err != nil:
		a.Err = err.Error()
	default:
		a.StatusCode = resp.StatusCode()
		a.Err = quote(resp.Body(), a.StatusCode)
	}
	report(a)
}
