// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

// Package protocol implements nodeallow wire protocol v1 (docs/protocol.md): the request bodies the
// controller posts to salt-api, their signature, canonical address lists, digests and chunking.
package protocol

import (
	"net/netip"
	"regexp"
	"time"
)

// Version is the value of every body's "protocol" member.
const Version = "nodeallow/v1"

// SignatureHeader is the HTTP header carrying a body's HMAC-SHA256 signature.
const SignatureHeader = "X-Hub-Signature-256"

// Limits and defaults of protocol v1.
const (
	// MaxBodySize is the largest body a receiver accepts; salt-api's documented max_request_body_size
	// default, although salt-api 3008 does not enforce it (docs/protocol.md, "Body size on the way").
	MaxBodySize = 1 << 20
	// DefaultMaxBodyBytes is the controller's default body size limit before it splits into chunks.
	DefaultMaxBodyBytes = 262144
	// MaxChunks is the most chunks one sequence may be split into.
	MaxChunks = 1000
	// MaxAddressesPerChunk is the most addresses one body may carry.
	MaxAddressesPerChunk = 100000
	// MaxAddresses is the most addresses one snapshot may hold in all its chunks.
	MaxAddresses = 500000
	// MaxSequence is the largest sequence number (2^53-1, exact in every JSON implementation).
	MaxSequence = 1<<53 - 1
	// DefaultHookPath is the first path segment after /hook/ when a NodeAllowlist does not set one.
	DefaultHookPath = "nodeallow"
	// EmptyDigest is the digest of the empty address list (and of every retirement).
	EmptyDigest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// TimeLayout is RFC 3339 in UTC with seconds precision, the only form generatedAt takes on the wire.
const TimeLayout = "2006-01-02T15:04:05Z"

// Kind says whether a body carries addresses or retires an allowlist.
type Kind string

const (
	// KindSnapshot carries the complete set of addresses of an allowlist.
	KindSnapshot Kind = "snapshot"
	// KindRetirement tells the receiver that the allowlist was deleted and its rules must go.
	KindRetirement Kind = "retirement"
)

// Snapshot is one allowlist's complete state as the controller publishes it.
type Snapshot struct {
	// Kind is KindSnapshot or KindRetirement (whose Addresses must be empty).
	Kind Kind
	// Cluster is the controller's cluster name, a DNS label.
	Cluster string
	// Allowlist is the NodeAllowlist's name, a DNS label.
	Allowlist string
	// Sequence grows by one each time the digest changes, 1 … MaxSequence.
	Sequence int64
	// GeneratedAt is when the snapshot was computed; it is sent in UTC, truncated to seconds.
	GeneratedAt time.Time
	// Addresses is the canonical address list (see Canonicalize).
	Addresses []netip.Prefix
}

// Digest returns the digest of the snapshot's address list.
func (s Snapshot) Digest() string {
	return Digest(s.Addresses)
}

// dnsLabel is the RFC 1123 label syntax shared by cluster, allowlist and hook path names; the length
// limit is checked separately because Go's regexp has no cheap way to bound it.
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// IsDNSLabel reports whether s is a DNS label (1–63 of a-z, 0-9 and '-', not starting or ending with '-'),
// the syntax of cluster, allowlist and hook path names.
func IsDNSLabel(s string) bool {
	return len(s) >= 1 && len(s) <= 63 && dnsLabel.MatchString(s)
}

// HookPath returns the salt-api request path for one allowlist: /hook/<hookPath>/<cluster>/<allowlist>.
// The caller validates the three parts with IsDNSLabel; they are not escaped.
func HookPath(hookPath, cluster, allowlist string) string {
	return "/hook/" + hookPath + "/" + cluster + "/" + allowlist
}
