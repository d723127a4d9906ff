// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package publisher

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-resty/resty/v2"

	"github.com/nodeallow/nodeallow/api/protocol"
)

// Defaults for Options fields left at zero.
const (
	// DefaultRetryCount is how many times a request is retried after its first attempt.
	DefaultRetryCount = 4
	// DefaultRetryWaitTime is the first backoff; it doubles per retry, with jitter.
	DefaultRetryWaitTime = 500 * time.Millisecond
	// DefaultRetryMaxWaitTime caps the backoff and any Retry-After the server asks for.
	DefaultRetryMaxWaitTime = 30 * time.Second
	// DefaultTimeout bounds one HTTP attempt.
	DefaultTimeout = 30 * time.Second
	// DefaultUserAgent identifies the controller to salt-api and its proxies.
	DefaultUserAgent = "nodeallow-controller"
)

// Options tune a SaltAPI publisher; zero fields take the defaults above.
type Options struct {
	// RetryCount is how many times one request is retried after its first attempt; negative means never.
	RetryCount int
	// RetryWaitTime is the first backoff.
	RetryWaitTime time.Duration
	// RetryMaxWaitTime caps the backoff and Retry-After.
	RetryMaxWaitTime time.Duration
	// Timeout bounds one HTTP attempt, connection and TLS handshake included.
	Timeout time.Duration
	// UserAgent is sent with every request.
	UserAgent string
	// Logger receives per-request detail at V(1); the caller logs the outcome of each publish.
	Logger logr.Logger
}

// withDefaults returns o with zero fields set to the defaults.
func (o Options) withDefaults() Options {
	switch {
	case o.RetryCount == 0:
		o.RetryCount = DefaultRetryCount
	case o.RetryCount < 0:
		o.RetryCount = 0
	}
	if o.RetryWaitTime <= 0 {
		o.RetryWaitTime = DefaultRetryWaitTime
	}
	if o.RetryMaxWaitTime <= 0 {
		o.RetryMaxWaitTime = DefaultRetryMaxWaitTime
	}
	if o.RetryMaxWaitTime < o.RetryWaitTime {
		o.RetryMaxWaitTime = o.RetryWaitTime
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.UserAgent == "" {
		o.UserAgent = DefaultUserAgent
	}
	return o
}

// SaltAPI publishes through salt-api's /hook endpoint. It is safe for concurrent use by many allowlists
// publishing to different masters; HTTP clients and login tokens are shared where their settings allow.
type SaltAPI struct {
	opts    Options
	log     logr.Logger
	clients *clientCache
	tokens  *tokenCache
	hooks   hookGates
}

var _ Publisher = (*SaltAPI)(nil)

// NewSaltAPI returns a publisher that talks to salt-api with the given options.
func NewSaltAPI(opts Options) *SaltAPI {
	opts = opts.withDefaults()
	return &SaltAPI{
		opts:    opts,
		log:     opts.Logger,
		clients: newClientCache(opts),
		tokens:  &tokenCache{entries: map[string]*tokenEntry{}},
	}
}

// Publish sends every chunk of s in index order to to, logging in first when it has credentials.
func (p *SaltAPI) Publish(ctx context.Context, to Endpoint, s protocol.Snapshot) (Result, error) {
	var res Result
	ep, maxBody, err := resolveEndpoint(to, s)
	if err != nil {
		return res, err
	}
	bodies, err := protocol.Encode(s, maxBody)
	if err != nil {
		return res, &InvalidEndpointError{Problem: err.Error()}
	}
	client, err := p.clients.get(to.CABundle)
	if err != nil {
		return res, err
	}
	log := p.log.WithValues("allowlist", s.Allowlist, "sequence", s.Sequence, "url", ep.hook)
	for i, body := range bodies {
		attempts, err := p.postChunk(ctx, client, ep, to, body)
		res.Attempts += attempts
		if err != nil {
			return res, fmt.Errorf("publish chunk %d of %d of allowlist %q sequence %d to %s: %w", i+1, len(bodies), s.Allowlist, s.Sequence, ep.hook, err)
		}
		res.Chunks++
		log.V(1).Info("salt-api accepted chunk", "chunk", i, "chunks", len(bodies), "bytes", len(body), "attempts", attempts)
	}
	return res, nil
}

// postChunk sends one body, logging in again once if salt-api no longer accepts the cached token.
func (p *SaltAPI) postChunk(ctx context.Context, client *resty.Client, ep hookURLs, to Endpoint, body []byte) (int, error) {
	signature := protocol.Sign(to.SigningKey, body)
	token := ""
	if to.Credentials != nil {
		var err error
		if token, err = p.tokens.get(ctx, client, ep, *to.Credentials, p.log); err != nil {
			return 0, err
		}
	}
	// One hook POST at a time per salt-api (hookgate.go): concurrent POSTs break its webhook (HTTP 500).
	hookCtx := withHookGate(ctx, p.hooks.get(ep.base))
	resp, err := p.send(hookCtx, client, ep.hook, body, signature, token)
	attempts := attemptsOf(resp)
	if err == nil && resp.StatusCode() == http.StatusUnauthorized && to.Credentials != nil {
		p.log.V(1).Info("salt-api refused the token; logging in again", "url", ep.base)
		p.tokens.invalidate(ep, *to.Credentials, token)
		if token, err = p.tokens.get(ctx, client, ep, *to.Credentials, p.log); err != nil {
			return attempts, err
		}
		resp, err = p.send(hookCtx, client, ep.hook, body, signature, token)
		attempts += attemptsOf(resp)
	}
	if err != nil {
		return attempts, describeTransportError(err, ep, attempts)
	}
	return attempts, checkAnswer(resp, "POST "+ep.hook, attempts)
}

// send POSTs one signed body. resty retries it on transport errors, 408, 429 and 5xx (see retryable).
func (p *SaltAPI) send(ctx context.Context, client *resty.Client, url string, body []byte, signature, token string) (*resty.Response, error) {
	req := client.R().
		SetContext(ctx).
		SetHeader("Content-Type", "application/json").
		SetHeader(protocol.SignatureHeader, signature).
		SetBody(body)
	if token != "" {
		req.SetHeader("X-Auth-Token", token)
	}
	return req.Post(url)
}

// attemptsOf returns how many times resty sent the request behind resp.
func attemptsOf(resp *resty.Response) int {
	if resp == nil || resp.Request == nil {
		return 0
	}
	return resp.Request.Attempt
}
