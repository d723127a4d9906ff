// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

// Package publisher delivers allowlist snapshots to a Salt master through salt-api's webhook, as wire
// protocol v1 (api/protocol) describes; Fake stands in for it in the controller's unit tests.
package publisher

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/nodeallow/nodeallow/api/protocol"
)

// Publisher delivers one snapshot, all its chunks, to one Salt master.
type Publisher interface {
	// Publish sends every chunk of s in index order and returns once all were accepted, or the first
	// chunk that failed after retries. The receiver tolerates duplicates, so the caller re-sends the
	// whole sequence after a failure.
	Publish(ctx context.Context, to Endpoint, s protocol.Snapshot) (Result, error)
}

// Endpoint is where and how one allowlist publishes (built by the controller from the NodeAllowlist spec
// and Secrets).
type Endpoint struct {
	// URL is salt-api's base URL, e.g. https://salt.example.com:8000; it may carry a path prefix.
	URL string
	// HookPath is the path segment after /hook/; empty means protocol.DefaultHookPath.
	HookPath string
	// AllowInsecureHTTP permits an http:// URL.
	AllowInsecureHTTP bool
	// CABundle holds PEM CA certificates that alone verify salt-api's certificate; empty means the
	// system roots.
	CABundle []byte
	// MaxBodyBytes is the largest body sent; empty means protocol.DefaultMaxBodyBytes.
	MaxBodyBytes int
	// SigningKey is this cluster's HMAC key, shared with the Salt master's config; it must not be empty.
	SigningKey []byte
	// Credentials log in to salt-api for a token; nil when the master sets webhook_disable_auth.
	Credentials *Credentials
}

// Credentials are salt-api /login credentials.
type Credentials struct {
	// Username is the eauth user.
	Username string
	// Password is the user's password or, with eauth other than pam, its secret.
	Password string
	// Eauth is the external auth backend; empty means "pam".
	Eauth string
}

// Result describes one publish, successful or not.
type Result struct {
	// Chunks is how many bodies salt-api accepted.
	Chunks int
	// Attempts is how many hook requests were sent, retries included, logins not.
	Attempts int
}

// PermanentError is a refusal that retrying cannot fix (4xx other than 401 after one re-login, 408,
// 429); Message quotes the server.
type PermanentError struct {
	// StatusCode is salt-api's HTTP status.
	StatusCode int
	// Message is salt-api's answer, trimmed to one line of at most 512 characters.
	Message string
	// Request names the refused request, e.g. "POST https://salt:8000/hook/nodeallow/prod/workers".
	Request string
}

// Error says which request salt-api refused, how, and what the answer was.
func (e *PermanentError) Error() string {
	hint := ""
	if e.StatusCode == http.StatusUnauthorized {
		hint = "; check the credentials Secret, or set webhook_disable_auth on the master and drop credentialsSecretRef"
	}
	return fmt.Sprintf("salt-api refused %s with HTTP %d: %s%s", e.Request, e.StatusCode, e.Message, hint)
}

// LoginError is salt-api's /login refusing the credentials (HTTP 401 or 403: wrong username or
// password, an eauth backend the master does not accept, or a user external_auth does not list).
// Retrying cannot fix it until the credentials Secret or the master's configuration changes.
type LoginError struct {
	// URL is the /login URL.
	URL string
	// Username and Eauth are the credentials' user and the eauth backend used (pam when the Secret has none).
	Username, Eauth string
	// StatusCode is salt-api's HTTP status.
	StatusCode int
	// Message is salt-api's answer, its text only (see quote), trimmed to one line.
	Message string
}

// Error names the user and the eauth backend (never the password) and quotes salt-api.
func (e *LoginError) Error() string {
	return fmt.Sprintf("salt-api at %s refused the login of user %q with eauth %q (HTTP %d: %s)", e.URL, e.Username, e.Eauth, e.StatusCode, e.Message)
}

// InvalidEndpointError means the Endpoint or Snapshot cannot be published as given: publishing the same
// input again fails the same way until the NodeAllowlist, its Secrets or the snapshot change.
type InvalidEndpointError struct {
	// Problem says what is wrong and how to fix it.
	Problem string
}

// Error returns the problem.
func (e *InvalidEndpointError) Error() string {
	return e.Problem
}

// invalid builds an InvalidEndpointError with a formatted problem.
func invalid(format string, args ...any) *InvalidEndpointError {
	return &InvalidEndpointError{Problem: fmt.Sprintf(format, args...)}
}

// hookURLs are the request URLs of a validated Endpoint.
type hookURLs struct {
	// base is the salt-api base URL without a trailing slash.
	base string
	// hook is the webhook URL for the snapshot's allowlist.
	hook string
	// login is salt-api's /login URL.
	login string
}

// resolveEndpoint validates an Endpoint for a snapshot and fills in its defaults. Everything here is
// checked before any network traffic so that configuration mistakes surface as InvalidEndpointError;
// the snapshot itself (names, sequence, addresses) is validated by protocol.Encode, also before any
// traffic.
func resolveEndpoint(to Endpoint, s protocol.Snapshot) (hookURLs, int, error) {
	ep, err := resolveBase(to)
	if err != nil {
		return hookURLs{}, 0, err
	}
	hookPath := to.HookPath
	if hookPath == "" {
		hookPath = protocol.DefaultHookPath
	}
	if !protocol.IsDNSLabel(hookPath) {
		return hookURLs{}, 0, invalid("salt.hookPath %q is not a DNS label (1-63 of a-z, 0-9 and '-')", hookPath)
	}
	if len(to.SigningKey) == 0 {
		return hookURLs{}, 0, invalid("the signing key for allowlist %q is empty; put the cluster's key in the Secret named by salt.signingKeySecretRef", s.Allowlist)
	}
	if c := to.Credentials; c != nil && (c.Username == "" || c.Password == "") {
		return hookURLs{}, 0, invalid("the salt-api credentials for allowlist %q lack a username or password; fill the Secret named by salt.credentialsSecretRef", s.Allowlist)
	}
	maxBody := to.MaxBodyBytes
	if maxBody == 0 {
		maxBody = protocol.DefaultMaxBodyBytes
	}
	ep.hook = ep.base + protocol.HookPath(hookPath, s.Cluster, s.Allowlist)
	return ep, maxBody, nil
}

// resolveBase validates an Endpoint's URL and returns its base and /login URLs (hook empty).
func resolveBase(to Endpoint) (hookURLs, error) {
	u, err := url.Parse(to.URL)
	if err != nil {
		return hookURLs{}, invalid("salt.url %q is not a URL: %v", to.URL, err)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && to.AllowInsecureHTTP:
	case u.Scheme == "http":
		return hookURLs{}, invalid("salt.url %q uses plain http, which would expose the signed snapshots and the salt-api token; use https or set salt.allowInsecureHTTP", to.URL)
	default:
		return hookURLs{}, invalid("salt.url %q must start with https://", to.URL)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return hookURLs{}, invalid("salt.url %q must be a plain base URL like https://salt.example.com:8000 (a host, no user info, query or fragment)", to.URL)
	}
	base := strings.TrimRight((&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String(), "/")
	return hookURLs{base: base, login: base + "/login"}, nil
}
