// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package publisher

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-resty/resty/v2"
)

// tokenRenewMargin renews a token this long before salt-api says it expires, so that a request never
// races the expiry.
const tokenRenewMargin = time.Minute

// defaultEauth is salt-api's usual external auth backend.
const defaultEauth = "pam"

// maxTokenLength bounds a token; salt-api's tokens are 40 to 128 hex digits.
const maxTokenLength = 1024

// usableToken reports whether a token may go into an HTTP header as is: printable ASCII, no spaces.
func usableToken(token string) bool {
	if token == "" || len(token) > maxTokenLength {
		return false
	}
	for i := 0; i < len(token); i++ {
		if token[i] < '!' || token[i] > '~' {
			return false
		}
	}
	return true
}

// tokenCache holds one salt-api token per (salt-api URL, user, eauth), shared by every allowlist
// publishing there with those credentials.
type tokenCache struct {
	mu      sync.Mutex
	entries map[string]*tokenEntry
}

// tokenEntry is one cached token; its mutex makes concurrent publishers wait for a single login.
type tokenEntry struct {
	mu      sync.Mutex
	token   string
	expires time.Time // zero: salt-api did not say; used until refused
}

// key identifies whose token an entry holds.
func (c *tokenCache) key(ep hookURLs, cred Credentials) string {
	return ep.base + "\x00" + cred.Username + "\x00" + eauthOf(cred)
}

// entry returns the entry for a key, creating it empty.
func (c *tokenCache) entry(key string) *tokenEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		e = &tokenEntry{}
		c.entries[key] = e
	}
	return e
}

// get returns a token that is not about to expire, logging in if there is none.
func (c *tokenCache) get(ctx context.Context, client *resty.Client, ep hookURLs, cred Credentials, log logr.Logger) (string, error) {
	e := c.entry(c.key(ep, cred))
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.token != "" && (e.expires.IsZero() || time.Now().Before(e.expires.Add(-tokenRenewMargin))) {
		return e.token, nil
	}
	token, expires, err := login(ctx, client, ep, cred)
	if err != nil {
		return "", err
	}
	log.V(1).Info("logged in to salt-api", "url", ep.base, "user", cred.Username, "eauth", eauthOf(cred), "expires", expires)
	e.token, e.expires = token, expires
	return token, nil
}

// invalidate forgets a token salt-api refused, unless another publisher already replaced it.
func (c *tokenCache) invalidate(ep hookURLs, cred Credentials, token string) {
	e := c.entry(c.key(ep, cred))
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.token == token {
		e.token, e.expires = "", time.Time{}
	}
}

// eauthOf returns the credentials' eauth backend, defaulting to pam.
func eauthOf(cred Credentials) string {
	if cred.Eauth == "" {
		return defaultEauth
	}
	return cred.Eauth
}

// loginAnswer is the part of salt-api's /login answer nodeallow uses.
type loginAnswer struct {
	Return []struct {
		Token  string  `json:"token"`
		Expire float64 `json:"expire"`
	} `json:"return"`
}

// login posts the credentials to salt-api's /login and returns the token and its expiry.
func login(ctx context.Context, client *resty.Client, ep hookURLs, cred Credentials) (string, time.Time, error) {
	body, err := json.Marshal(map[string]string{"username": cred.Username, "password": cred.Password, "eauth": eauthOf(cred)})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("encode salt-api login: %w", err)
	}
	resp, err := client.R().
		SetContext(ctx).
		SetHeader("Content-Type", "application/json").
		SetBody(body).
		Post(ep.login)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("log in to salt-api: %w", describeTransportError(err, ep, attemptsOf(resp)))
	}
	request := fmt.Sprintf("the login of user %q with eauth %q at %s", cred.Username, eauthOf(cred), ep.login)
	if resp.StatusCode() != http.StatusOK {
		return "", time.Time{}, checkAnswerOrUnexpected(resp, request, attemptsOf(resp))
	}
	var answer loginAnswer
	if err := json.Unmarshal(resp.Body(), &answer); err != nil || len(answer.Return) == 0 {
		return "", time.Time{}, fmt.Errorf("salt-api answered %s with something other than a token: %s", request, quote(resp.Body(), resp.StatusCode()))
	}
	got := answer.Return[0]
	if !usableToken(got.Token) {
		return "", time.Time{}, fmt.Errorf("salt-api answered %s without a usable token (empty, too long or not printable ASCII)", request)
	}
	var expires time.Time
	if got.Expire > 0 && got.Expire < math.MaxInt32*4 {
		sec, frac := math.Modf(got.Expire)
		expires = time.Unix(int64(sec), int64(frac*1e9))
	}
	return got.Token, expires, nil
}

// checkAnswerOrUnexpected returns checkAnswer's error, or one for a success status other than 200,
// which /login never sends.
func checkAnswerOrUnexpected(resp *resty.Response, request string, attempts int) error {
	if err := checkAnswer(resp, request, attempts); err != nil {
		return err
	}
	return fmt.Errorf("salt-api answered %s with HTTP %d instead of 200: %s", request, resp.StatusCode(), quote(resp.Body(), resp.StatusCode()))
}
