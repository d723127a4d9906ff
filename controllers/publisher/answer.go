// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package publisher

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/go-resty/resty/v2"
)

// maxMessageRunes bounds how much of salt-api's answer an error quotes.
const maxMessageRunes = 512

// retryable is the only resty retry condition: transport errors except those a retry cannot fix,
// 408, 429 and 5xx, and a 2xx whose body says the event did not reach the bus.
func retryable(resp *resty.Response, err error) bool {
	if err != nil {
		var certErr *tls.CertificateVerificationError
		return !errors.As(err, &certErr) && !errors.Is(err, errRedirect) && !errors.Is(err, resty.ErrResponseBodyTooLarge)
	}
	switch code := resp.StatusCode(); {
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500:
		return true
	case code >= 200 && code < 300:
		return eventNotFired(resp.Body())
	}
	return false
}

// eventNotFired reports whether a hook answer is {"success": false}: salt-api answers 200 even when it
// could not put the event on the bus.
func eventNotFired(body []byte) bool {
	var answer struct {
		Success *bool `json:"success"`
	}
	return json.Unmarshal(body, &answer) == nil && answer.Success != nil && !*answer.Success
}

// retryAfter lets resty honour a Retry-After header (resty caps it at the maximum wait); zero means
// "use the exponential backoff".
func retryAfter(_ *resty.Client, resp *resty.Response) (time.Duration, error) {
	if resp == nil || resp.RawResponse == nil {
		return 0, nil
	}
	return parseRetryAfter(resp.Header().Get("Retry-After"), time.Now()), nil
}

// parseRetryAfter reads Retry-After as delay-seconds or an HTTP date; anything else, or a time in the
// past, yields 0.
func parseRetryAfter(value string, now time.Time) time.Duration {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(value, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		// Beyond a day the value is nonsense and would overflow; resty caps the wait anyway.
		return time.Duration(min(secs, 86400)) * time.Second
	}
	if at, err := http.ParseTime(value); err == nil && at.After(now) {
		return at.Sub(now)
	}
	return 0
}

// checkAnswer turns salt-api's final answer to a request into nil or an error a user can act on.
func checkAnswer(resp *resty.Response, request string, attempts int) error {
	code := resp.StatusCode()
	switch {
	case code >= 200 && code < 300:
		if eventNotFired(resp.Body()) {
			return fmt.Errorf("salt-api answered %s with success false after %d attempts: the event did not reach the master's event bus; check the salt-master and salt-api logs", request, attempts)
		}
		return nil
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500:
		return fmt.Errorf("salt-api answered %s with HTTP %d after %d attempts: %s", request, code, attempts, quote(resp.Body(), code))
	default:
		return &PermanentError{StatusCode: code, Message: quote(resp.Body(), code), Request: request}
	}
}

// describeTransportError explains a request that got no usable answer.
func describeTransportError(err error, ep hookURLs, attempts int) error {
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.As(err, &certErr):
		return fmt.Errorf("verify the TLS certificate of salt-api at %s: %w; set salt.caBundle to the PEM of the CA that signed it", ep.base, err)
	case errors.Is(err, errRedirect):
		return fmt.Errorf("salt-api at %s: %w", ep.base, err)
	default:
		return fmt.Errorf("reach salt-api at %s (%d attempts): %w", ep.base, attempts, err)
	}
}

// quote renders an untrusted answer body as one line of at most maxMessageRunes printable runes, for
// errors that end up in Kubernetes conditions and events.
func quote(body []byte, code int) string {
	s := strings.ToValidUTF8(string(body), "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return http.StatusText(code)
	}
	if r := []rune(s); len(r) > maxMessageRunes {
		s = string(r[:maxMessageRunes-1]) + "…"
	}
	return s
}
