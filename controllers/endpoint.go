// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"bytes"
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
	"github.com/nodeallow/nodeallow/controllers/plan"
	"github.com/nodeallow/nodeallow/controllers/publisher"
)

// Keys of the credentials Secret named by spec.salt.credentialsSecretRef.
const (
	credentialsUsernameKey = "username"
	credentialsPasswordKey = "password"
	credentialsEauthKey    = "eauth"
	defaultSigningKeyKey   = "signing-key"
)

// secretError says which Secret or key is missing, so the condition and the
// Event can name it; Reason is plan.ReasonSecretNotFound or plan.ReasonSecretUnreadable.
type secretError struct {
	Reason string
	msg    string
	err    error
}

func (e *secretError) Error() string { return e.msg }
func (e *secretError) Unwrap() error { return e.err }

// endpointFor builds the publisher endpoint of an allowlist, reading its Secrets
// from the controller's namespace.
//
// Secrets are read with the manager's APIReader, uncached, on purpose: a
// cached client would start a cluster-wide Secret informer (holding every
// Secret of the cluster in memory and needing list/watch on all of them),
// while a publish happens at most every debounce period per allowlist, so one
// GET per publish is cheap, needs only `get` in one namespace, and always sees
// a rotated key at once.
func (r *NodeAllowlistReconciler) endpointFor(ctx context.Context, nal *nodeallowv1alpha1.NodeAllowlist) (publisher.Endpoint, error) {
	salt := &nal.Spec.Salt
	keyName := salt.SigningKeySecretRef.Key
	if keyName == "" {
		keyName = defaultSigningKeyKey
	}
	signing, err := r.secret(ctx, salt.SigningKeySecretRef.Name)
	if err != nil {
		return publisher.Endpoint{}, err
	}
	keys, err := secretValue(signing, keyName, "spec.salt.signingKeySecretRef")
	if err != nil {
		return publisher.Endpoint{}, err
	}
	key := signingKey(keys)
	if key == nil {
		return publisher.Endpoint{}, &secretError{Reason: plan.ReasonSecretNotFound, msg: fmt.Sprintf(
			"Secret %s/%s key %q (named by spec.salt.signingKeySecretRef) holds only empty lines: put the signing key on its first line",
			signing.Namespace, signing.Name, keyName)}
	}

	// An unset hookPath or maxBodyBytes (objects that bypassed defaulting) takes the publisher's default.
	endpoint := publisher.Endpoint{
		URL:               salt.URL,
		HookPath:          salt.HookPath,
		AllowInsecureHTTP: salt.AllowInsecureHTTP,
		CABundle:          salt.CABundle,
		MaxBodyBytes:      int(salt.MaxBodyBytes),
		SigningKey:        key,
	}

	if ref := salt.CredentialsSecretRef; ref != nil {
		creds, err := r.secret(ctx, ref.Name)
		if err != nil {
			return publisher.Endpoint{}, err
		}
		const field = "spec.salt.credentialsSecretRef"
		username, err := secretValue(creds, credentialsUsernameKey, field)
		if err != nil {
			return publisher.Endpoint{}, err
		}
		password, err := secretValue(creds, credentialsPasswordKey, field)
		if err != nil {
			return publisher.Endpoint{}, err
		}
		// An absent eauth key takes the publisher's default.
		endpoint.Credentials = &publisher.Credentials{Username: string(username), Password: string(password),
			Eauth: string(creds.Data[credentialsEauthKey])}
	}
	return endpoint, nil
}

// signingKey returns the key to sign with from a Secret value: the value holds one key or several,
// one per line, newest first (the same list as the master's signing_keys, so one secret store can
// feed both sides during a rotation); the controller signs with the first non-empty line. A line's
// trailing "\r" and the value's trailing newline are not part of a key (files written by editors
// end in one). nil when there is no non-empty line.
func signingKey(value []byte) []byte {
	for line := range bytes.SplitSeq(value, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > 0 {
			return line
		}
	}
	return nil
}

// secret GETs one Secret of the controller's namespace through the uncached reader.
func (r *NodeAllowlistReconciler) secret(ctx context.Context, name string) (*corev1.Secret, error) {
	var s corev1.Secret
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: name}, &s)
	switch {
	case err == nil:
		return &s, nil
	case apierrors.IsNotFound(err):
		return nil, &secretError{Reason: plan.ReasonSecretNotFound, err: err, msg: fmt.Sprintf(
			"Secret %s/%s not found: create it in the controller's namespace, or fix the name in the NodeAllowlist", r.Namespace, name)}
	default:
		return nil, &secretError{Reason: plan.ReasonSecretUnreadable, err: err, msg: fmt.Sprintf(
			"reading Secret %s/%s failed (check the controller's RBAC for secrets get in %s): %v", r.Namespace, name, r.Namespace, err)}
	}
}

// secretValue returns a non-empty value of one key, or an error naming Secret and key.
func secretValue(s *corev1.Secret, key, field string) ([]byte, error) {
	v, ok := s.Data[key]
	if !ok || len(v) == 0 {
		state := "has no key"
		if ok {
			state = "has an empty key"
		}
		return nil, &secretError{Reason: plan.ReasonSecretNotFound, msg: fmt.Sprintf(
			"Secret %s/%s %s %q (named by %s): add it", s.Namespace, s.Name, state, key, field)}
	}
	return v, nil
}
