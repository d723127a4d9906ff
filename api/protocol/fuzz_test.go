// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package protocol_test

import (
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/nodeallow/nodeallow/api/protocol"
	"github.com/nodeallow/nodeallow/test/receiver"
)

// FuzzDecode checks that Decode never panics, refuses only with a documented reason, and that what it
// accepts is canonical and re-encodes to a body it accepts again with the same meaning.
func FuzzDecode(f *testing.F) {
	if raw, err := os.ReadFile(vectorsPath); err == nil {
		for _, b := range loadVectorsForFuzz(raw) {
			f.Add([]byte(b))
		}
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"chunk":{"index":0,"total":1,"total":2}}`))
	reasons := []string{protocol.ReasonTooLarge, protocol.ReasonMalformedJSON, protocol.ReasonSchema, protocol.ReasonBadAddress,
		protocol.ReasonNotCanonical, protocol.ReasonDigestMismatch, protocol.ReasonTooManyAddresses}
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := receiver.Decode(raw)
		if err != nil {
			var r *protocol.RefusalError
			if !errors.As(err, &r) || !slices.Contains(reasons, r.Reason) {
				t.Fatalf("Decode returned %T %v, not a refusal with a documented reason", err, err)
			}
			return
		}
		if !slices.Equal(protocol.Canonicalize(b.Addresses), b.Addresses) {
			t.Fatalf("Decode accepted a non-canonical list %v", b.Addresses)
		}
		// Encode refuses the zero time as a forgotten GeneratedAt, which a receiver has no reason to refuse.
		if b.Chunk.Total != 1 || b.GeneratedAt.IsZero() {
			return
		}
		s := protocol.Snapshot{Kind: b.Kind, Cluster: b.Cluster, Allowlist: b.Allowlist, Sequence: b.Sequence, GeneratedAt: b.GeneratedAt, Addresses: b.Addresses}
		if s.Digest() != b.Digest {
			t.Fatalf("Decode accepted digest %s for addresses hashing to %s", b.Digest, s.Digest())
		}
		bodies, err := protocol.Encode(s, protocol.MaxBodySize)
		if err != nil {
			t.Fatalf("Encode of an accepted body: %v", err)
		}
		again, err := receiver.Decode(bodies[0])
		if err != nil || again.Digest != b.Digest || again.Sequence != b.Sequence || !again.GeneratedAt.Equal(b.GeneratedAt) {
			t.Fatalf("re-encoded body decodes to %+v, %v; want %+v", again, err, b)
		}
	})
}
