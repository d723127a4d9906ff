// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package publisher

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/go-resty/resty/v2"
)

// maxCachedClients bounds the clients kept for distinct CA bundles; a bundle that was replaced
// leaves its client behind until it is the least recently used.
const maxCachedClients = 32

// maxAnswerBytes bounds how much of salt-api's answer is read; its answers are a few hundred bytes.
const maxAnswerBytes = 1 << 20

// errRedirect refuses redirects: following one would resend the token and the signed body elsewhere,
// and a 302 turns the POST into a GET that salt-api answers without firing an event.
var errRedirect = errors.New("salt-api answered with a redirect, which nodeallow does not follow; set salt.url to the address salt-api serves directly")

// clientCache keeps one resty client per TLS configuration. The clients carry no per-endpoint state, so
// allowlists with the same CA bundle share connections, and the cache is safe for concurrent use.
type clientCache struct {
	opts    Options
	mu      sync.Mutex
	clients map[[sha256.Size]byte]*cachedClient
}

// cachedClient is a client and when it was last handed out.
type cachedClient struct {
	client   *resty.Client
	lastUsed time.Time
}

// newClientCache returns an empty cache whose clients follow opts.
func newClientCache(opts Options) *clientCache {
	return &clientCache{opts: opts, clients: map[[sha256.Size]byte]*cachedClient{}}
}

// get returns the client for a CA bundle (empty: system roots), building it on first use.
func (c *clientCache) get(caBundle []byte) (*resty.Client, error) {
	key := sha256.Sum256(caBundle)
	c.mu.Lock()
	defer c.mu.Unlock()
	if cc, ok := c.clients[key]; ok {
		cc.lastUsed = time.Now()
		return cc.client, nil
	}
	client, err := c.build(caBundle)
	if err != nil {
		return nil, err
	}
	if len(c.clients) >= maxCachedClients {
		c.evictLeastRecentlyUsed()
	}
	c.clients[key] = &cachedClient{client: client, lastUsed: time.Now()}
	return client, nil
}

// evictLeastRecentlyUsed drops one client and closes its idle connections; requests in flight on it
// finish normally.
func (c *clientCache) evictLeastRecentlyUsed() {
	var oldest [sha256.Size]byte
	var oldestAt time.Time
	for k, cc := range c.clients {
		if oldestAt.IsZero() || cc.lastUsed.Before(oldestAt) {
			oldest, oldestAt = k, cc.lastUsed
		}
	}
	if cc, ok := c.clients[oldest]; ok {
		cc.client.GetClient().CloseIdleConnections()
		delete(c.clients, oldest)
	}
}

// build makes a client that verifies TLS with the bundle's CAs only (or the system roots), never
// follows redirects, keeps no cookies (a salt-api session cookie must not leak between allowlists with
// different credentials) and retries as the protocol says.
func (c *clientCache) build(caBundle []byte) (*resty.Client, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(caBundle) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caBundle) {
			return nil, invalid("salt.caBundle holds no PEM certificate; give the PEM of the CA that signed salt-api's certificate")
		}
		tlsConfig.RootCAs = pool
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	hc := &http.Client{
		Transport:     gatedTransport{next: transport},
		CheckRedirect: func(*http.Request, []*http.Request) error { return errRedirect },
	}
	o := c.opts
	client := resty.NewWithClient(hc).
		SetTimeout(o.Timeout).
		SetLogger(restyLogger{log: o.Logger}).
		SetHeader("Accept", "application/json").
		SetHeader("User-Agent", o.UserAgent).
		SetResponseBodyLimit(maxAnswerBytes).
		SetRetryCount(o.RetryCount).
		SetRetryWaitTime(o.RetryWaitTime).
		SetRetryMaxWaitTime(o.RetryMaxWaitTime).
		SetRetryAfter(retryAfter).
		// resty retries transport errors on its own only while no condition is set; this one condition
		// decides for transport errors and statuses alike.
		AddRetryCondition(retryable).
		AddRetryHook(func(resp *resty.Response, err error) {
			o.Logger.V(1).Info("retrying salt-api request", "url", requestURL(resp), "status", statusOf(resp), "error", errString(err), "attempt", attemptsOf(resp))
			reportAttempt(resp, err)
		})
	return client, nil
}

// requestURL returns the URL of the request behind resp, for logs.
func requestURL(resp *resty.Response) string {
	if resp == nil || resp.Request == nil {
		return ""
	}
	return resp.Request.URL
}

// statusOf returns resp's HTTP status, or 0 without a response.
func statusOf(resp *resty.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode()
}

// errString returns err's text, or "" for nil, for logs.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
