// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

// Package metricsauth guards the controller's metrics endpoint: a request is served only when the API server
// accepts its bearer token (a TokenReview) and lets that user get the path (a SubjectAccessReview of a
// nonResourceURL). It does what controller-runtime's metrics/filters.WithAuthenticationAndAuthorization does
// for bearer tokens with client-go's typed clients, so the binary does not link k8s.io/apiserver (and with it
// CEL, gRPC and OpenTelemetry): a third of the controller's size and resident memory (docs/benchmarks.md).
package metricsauth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authenticationclient "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationclient "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// How long answers are kept: a scraper every 15-60 s costs the API server about one TokenReview and one
// SubjectAccessReview a minute, and a revoked binding or token stops working within a minute.
const (
	// AllowTTL is how long an accepted token or a granted access is remembered.
	AllowTTL = time.Minute
	// DenyTTL is how long a rejected token or a denied access is remembered.
	DenyTTL = 30 * time.Second
	// ReviewTimeout bounds one TokenReview or SubjectAccessReview.
	ReviewTimeout = 10 * time.Second
	// cacheSize bounds each cache, so requests with made-up tokens cannot grow the controller's memory.
	cacheSize = 1024
)

// authenticatedGroup is the group every authenticated user is in, as the API server's authenticator adds it.
const authenticatedGroup = "system:authenticated"

// TokenReviewer creates TokenReviews (client-go's TokenReviewInterface).
type TokenReviewer interface {
	Create(ctx context.Context, review *authenticationv1.TokenReview, opts metav1.CreateOptions) (*authenticationv1.TokenReview, error)
}

// AccessReviewer creates SubjectAccessReviews (client-go's SubjectAccessReviewInterface).
type AccessReviewer interface {
	Create(ctx context.Context, review *authorizationv1.SubjectAccessReview, opts metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error)
}

// FilterProvider is a metricsserver.Options.FilterProvider: it reviews tokens and access with the API server
// the manager talks to, as the controller's own ServiceAccount (which needs create on tokenreviews and
// subjectaccessreviews: the chart's metrics-auth ClusterRole).
func FilterProvider(config *rest.Config, httpClient *http.Client) (metricsserver.Filter, error) {
	authn, err := authenticationclient.NewForConfigAndClient(config, httpClient)
	if err != nil {
		return nil, fmt.Errorf("creating the TokenReview client for the metrics endpoint: %w", err)
	}
	authz, err := authorizationclient.NewForConfigAndClient(config, httpClient)
	if err != nil {
		return nil, fmt.Errorf("creating the SubjectAccessReview client for the metrics endpoint: %w", err)
	}
	return New(authn.TokenReviews(), authz.SubjectAccessReviews(), time.Now).Filter, nil
}

// Guard authenticates and authorizes requests to the metrics endpoint; New makes one.
type Guard struct {
	tokens TokenReviewer
	access AccessReviewer
	users  *cache[*authenticationv1.UserInfo] // by the token's hash; nil for a rejected token
	grants *cache[bool]                       // by the SubjectAccessReview's spec
}

// New returns a Guard that asks tokens and access, remembering answers by the clock now.
func New(tokens TokenReviewer, access AccessReviewer, now func() time.Time) *Guard {
	return &Guard{tokens: tokens, access: access, users: newCache[*authenticationv1.UserInfo](now), grants: newCache[bool](now)}
}

// Filter wraps handler: no or a rejected bearer token is 401 Unauthorized, a user the API server does not
// let get the path is 403 Forbidden, a review that failed is 500 (logged with the API server's error).
func (g *Guard) Filter(log logr.Logger, handler http.Handler) (http.Handler, error) {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		token, ok := bearerToken(req)
		if !ok {
			log.V(4).Info("Metrics request without a bearer token", "remote", req.RemoteAddr)
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		user, err := g.authenticate(req.Context(), token)
		if err != nil {
			log.Error(err, "Authentication failed")
			http.Error(w, "Authentication failed", http.StatusInternalServerError)
			return
		}
		if user == nil {
			log.V(4).Info("Metrics request with a token the API server rejected", "remote", req.RemoteAddr)
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		// As the API server's bearer token authenticator does: handlers never see the token.
		req.Header.Del("Authorization")

		allowed, reason, err := g.authorize(req.Context(), user, strings.ToLower(req.Method), req.URL.Path)
		if err != nil {
			msg := fmt.Sprintf("Authorization for user %s failed", user.Username)
			log.Error(err, msg)
			http.Error(w, msg, http.StatusInternalServerError)
			return
		}
		if !allowed {
			msg := fmt.Sprintf("Authorization denied for user %s", user.Username)
			log.V(4).Info(msg, "reason", reason)
			http.Error(w, msg, http.StatusForbidden)
			return
		}
		handler.ServeHTTP(w, req)
	}), nil
}

// bearerToken returns the token of an "Authorization: Bearer <token>" header, read as the API server reads it.
func bearerToken(req *http.Request) (string, bool) {
	parts := strings.SplitN(strings.TrimSpace(req.Header.Get("Authorization")), " ", 3)
	if len(parts) < 2 || !strings.EqualFold(parts[0], "bearer") || parts[1] == "" {
		return "", false
	}
	return parts[1], true
}

// authenticate returns the user the token belongs to, nil when the API server rejects it, or the error of a
// TokenReview that could not be made (not remembered: the next scrape asks again).
func (g *Guard) authenticate(ctx context.Context, token string) (*authenticationv1.UserInfo, error) {
	key := hashKey(token)
	if user, ok := g.users.get(key); ok {
		return user, nil
	}
	ctx, cancel := context.WithTimeout(ctx, ReviewTimeout)
	defer cancel()
	review, err := g.tokens.Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}},
		metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("reviewing a metrics scraper's bearer token (TokenReview): %w; "+
			"the controller's ServiceAccount needs create on tokenreviews.authentication.k8s.io (the chart's metrics-auth ClusterRole)", err)
	}
	if !review.Status.Authenticated {
		g.users.put(key, nil, DenyTTL)
		return nil, nil
	}
	user := review.Status.User.DeepCopy()
	if !slices.Contains(user.Groups, authenticatedGroup) {
		user.Groups = append(user.Groups, authenticatedGroup)
	}
	g.users.put(key, user, AllowTTL)
	return user, nil
}

// authorize asks whether user may do verb on the non-resource path, with the reason the API server gave.
func (g *Guard) authorize(ctx context.Context, user *authenticationv1.UserInfo, verb, path string) (bool, string, error) {
	spec := authorizationv1.SubjectAccessReviewSpec{
		User: user.Username, UID: user.UID, Groups: user.Groups,
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: path, Verb: verb},
	}
	if len(user.Extra) > 0 {
		spec.Extra = make(map[string]authorizationv1.ExtraValue, len(user.Extra))
		for k, v := range user.Extra {
			spec.Extra[k] = authorizationv1.ExtraValue(v)
		}
	}
	raw, err := json.Marshal(spec) // map keys sorted: the same spec is the same key
	if err != nil {
		return false, "", fmt.Errorf("encoding the SubjectAccessReview of user %s: %w", user.Username, err)
	}
	key := hashKey(string(raw))
	if allowed, ok := g.grants.get(key); ok {
		return allowed, "remembered", nil
	}
	ctx, cancel := context.WithTimeout(ctx, ReviewTimeout)
	defer cancel()
	review, err := g.access.Create(ctx, &authorizationv1.SubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		return false, "", fmt.Errorf("asking whether %s may %s %s (SubjectAccessReview): %w; the controller's ServiceAccount "+
			"needs create on subjectaccessreviews.authorization.k8s.io (the chart's metrics-auth ClusterRole)", user.Username, verb, path, err)
	}
	allowed := review.Status.Allowed && !review.Status.Denied
	ttl := DenyTTL
	if allowed {
		ttl = AllowTTL
	}
	g.grants.put(key, allowed, ttl)
	reason := review.Status.Reason
	if review.Status.EvaluationError != "" {
		reason += " (evaluation error: " + review.Status.EvaluationError + ")"
	}
	return allowed, reason, nil
}
