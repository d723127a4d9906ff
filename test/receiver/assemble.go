// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package receiver

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/nodeallow/nodeallow/api/protocol"
)

// ErrIncomplete means that not every chunk of a sequence has arrived yet.
var ErrIncomplete = errors.New("not every chunk of the sequence has arrived")

// Assemble joins the decoded chunks of one sequence, given in any order and possibly more than once,
// into the snapshot they carry, as the receiver does: all chunks must agree on everything but their
// addresses, the joined list must be canonical and hash to the digest. It returns an error wrapping
// ErrIncomplete while chunks are missing, and a *RefusalError for chunks that can never assemble.
func Assemble(chunks []*Body) (protocol.Snapshot, error) {
	if len(chunks) == 0 {
		return protocol.Snapshot{}, fmt.Errorf("assemble: no chunks: %w", ErrIncomplete)
	}
	first := chunks[0]
	if first.Chunk.Total < 1 || first.Chunk.Total > protocol.MaxChunks {
		return protocol.Snapshot{}, refuse(protocol.ReasonSchema, "chunk.total %d is outside 1 … %d", first.Chunk.Total, protocol.MaxChunks)
	}
	byIndex := make([]*Body, first.Chunk.Total)
	for _, c := range chunks {
		if c.Sequence != first.Sequence || c.Cluster != first.Cluster || c.Allowlist != first.Allowlist {
			return protocol.Snapshot{}, fmt.Errorf("assemble: chunks of %s/%s sequence %d and %s/%s sequence %d cannot be joined",
				first.Cluster, first.Allowlist, first.Sequence, c.Cluster, c.Allowlist, c.Sequence)
		}
		if c.Digest != first.Digest || c.Kind != first.Kind || c.Chunk.Total != first.Chunk.Total || !c.GeneratedAt.Equal(first.GeneratedAt) {
			return protocol.Snapshot{}, refuse(protocol.ReasonSequenceConflict, "chunks of sequence %d disagree on digest, kind, generatedAt or chunk total", c.Sequence)
		}
		if c.Chunk.Index < 0 || c.Chunk.Index >= len(byIndex) {
			return protocol.Snapshot{}, refuse(protocol.ReasonSchema, "chunk.index %d is not below chunk.total %d", c.Chunk.Index, c.Chunk.Total)
		}
		if prev := byIndex[c.Chunk.Index]; prev != nil && !slices.Equal(prev.Addresses, c.Addresses) {
			return protocol.Snapshot{}, refuse(protocol.ReasonSequenceConflict, "chunk %d of sequence %d arrived twice with different addresses", c.Chunk.Index, c.Sequence)
		}
		byIndex[c.Chunk.Index] = c
	}
	count := 0
	for i, c := range byIndex {
		if c == nil {
			return protocol.Snapshot{}, fmt.Errorf("assemble %s/%s sequence %d: chunk %d of %d is missing: %w",
				first.Cluster, first.Allowlist, first.Sequence, i, first.Chunk.Total, ErrIncomplete)
		}
		count += len(c.Addresses)
	}
	if count > protocol.MaxAddresses {
		return protocol.Snapshot{}, refuse(protocol.ReasonTooManyAddresses, "the snapshot holds %d addresses, more than %d", count, protocol.MaxAddresses)
	}
	s := protocol.Snapshot{
		Kind:        first.Kind,
		Cluster:     first.Cluster,
		Allowlist:   first.Allowlist,
		Sequence:    first.Sequence,
		GeneratedAt: first.GeneratedAt,
		Addresses:   make([]netip.Prefix, 0, count),
	}
	for _, c := range byIndex {
		s.Addresses = append(s.Addresses, c.Addresses...)
	}
	if err := protocol.CheckCanonical(s.Addresses); err != nil {
		return protocol.Snapshot{}, err
	}
	if got := s.Digest(); got != first.Digest {
		return protocol.Snapshot{}, refuse(protocol.ReasonDigestMismatch, "the assembled addresses hash to %s, the chunks say %s", got, first.Digest)
	}
	return s, nil
}
