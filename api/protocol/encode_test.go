// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package protocol_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nodeallow/nodeallow/api/protocol"
	"github.com/nodeallow/nodeallow/test/receiver"
)

// randomCanonical returns n distinct canonical host prefixes of both families with varied lengths.
func randomCanonical(r *rand.Rand, n int) []netip.Prefix {
	in := make([]netip.Prefix, 0, n)
	for len(in) < n {
		for range n - len(in) {
			if r.IntN(2) == 0 {
				a := netip.AddrFrom4([4]byte{byte(1 + r.IntN(200)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
				in = append(in, netip.PrefixFrom(a, 32))
			} else {
				b := [16]byte{0x20, 0x01, 0x0d, 0xb8, byte(r.IntN(256))}
				b[15] = byte(1 + r.IntN(255))
				in = append(in, netip.PrefixFrom(netip.AddrFrom16(b), 128))
			}
		}
		// Duplicates are dropped; top up until n distinct remain.
		in = protocol.Canonicalize(in)
	}
	return in
}

func TestEncodeSplitsGreedilyAndRoundTrips(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 300 {
		s := protocol.Snapshot{
			Kind: protocol.KindSnapshot, Cluster: "cluster-" + fmt.Sprint(round%7), Allowlist: "pool", Sequence: int64(1 + r.IntN(1_000_000)),
			GeneratedAt: time.Date(2026, 1, 2, 3, 4, 5, 999, time.FixedZone("CET", 3600)),
			Addresses:   randomCanonical(r, r.IntN(400)),
		}
		maxBody := 300 + r.IntN(4000)
		bodies, err := protocol.Encode(s, maxBody)
		if err != nil {
			t.Fatalf("round %d: Encode(%d addresses, %d bytes): %v", round, len(s.Addresses), maxBody, err)
		}
		again, _ := protocol.Encode(s, maxBody)
		if !slices.EqualFunc(bodies, again, bytes.Equal) {
			t.Fatalf("round %d: Encode is not deterministic", round)
		}
		decoded := make([]*receiver.Body, len(bodies))
		next := 0
		for i, b := range bodies {
			if len(b) > maxBody {
				t.Fatalf("round %d: body %d has %d bytes, limit %d", round, i, len(b), maxBody)
			}
			d, err := receiver.Decode(b)
			if err != nil {
				t.Fatalf("round %d: Decode(body %d): %v", round, i, err)
			}
			if d.Chunk.Index != i || d.Chunk.Total != len(bodies) {
				t.Fatalf("round %d: body %d says chunk %+v", round, i, d.Chunk)
			}
			if d.GeneratedAt.Format(time.RFC3339Nano) != "2026-01-02T02:04:05Z" {
				t.Fatalf("round %d: generatedAt %v is not UTC truncated to seconds", round, d.GeneratedAt)
			}
			next += len(d.Addresses)
			// Greedy: the next address would not have fitted into this chunk.
			if i < len(bodies)-1 {
				if grown := len(b) + len(s.Addresses[next].String()) + 3; grown <= maxBody {
					t.Fatalf("round %d: chunk %d stops at %d bytes although the next address fits (%d <= %d)", round, i, len(b), grown, maxBody)
				}
			}
			decoded[i] = d
		}
		got, err := receiver.Assemble(decoded)
		if err != nil {
			t.Fatalf("round %d: Assemble: %v", round, err)
		}
		if !slices.Equal(got.Addresses, s.Addresses) || got.Digest() != s.Digest() {
			t.Fatalf("round %d: the chunks do not reassemble to the snapshot", round)
		}
	}
}

func TestEncodeChunkLimit(t *testing.T) {
	// Each address alone fills a body, so n addresses need n chunks.
	addrs := make([]netip.Prefix, protocol.MaxChunks+1)
	for i := range addrs {
		addrs[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 32)
	}
	s := protocol.Snapshot{Kind: protocol.KindSnapshot, Cluster: "c", Allowlist: "a", Sequence: 1, GeneratedAt: vectorsGeneratedAt}
	s.Addresses = addrs[:2]
	one, err := protocol.Encode(protocol.Snapshot{Kind: s.Kind, Cluster: "c", Allowlist: "a", Sequence: 1, GeneratedAt: s.GeneratedAt, Addresses: addrs[:1]}, protocol.MaxBodySize)
	if err != nil {
		t.Fatal(err)
	}
	// Room for one address of any length here with a four-digit total, never for two.
	limit := len(one[0]) + 10

	s.Addresses = addrs[:protocol.MaxChunks]
	bodies, err := protocol.Encode(s, limit)
	if err != nil {
		t.Fatalf("Encode of %d single-address chunks: %v", protocol.MaxChunks, err)
	}
	if len(bodies) != protocol.MaxChunks || !strings.Contains(string(bodies[999]), `"chunk":{"index":999,"total":1000}`) {
		t.Fatalf("got %d chunks, last %s", len(bodies), bodies[len(bodies)-1])
	}
	s.Addresses = addrs
	if _, err := protocol.Encode(s, limit); err == nil || !strings.Contains(err.Error(), "more than 1000 chunks") {
		t.Fatalf("Encode of %d single-address chunks = %v, want a chunk limit error", len(addrs), err)
	}
}

func TestEncodeRefuses(t *testing.T) {
	at := vectorsGeneratedAt
	one := []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}
	valid := protocol.Snapshot{Kind: protocol.KindSnapshot, Cluster: "prod", Allowlist: "workers", Sequence: 1, GeneratedAt: at, Addresses: one}
	tests := []struct {
		name    string
		mutate  func(*protocol.Snapshot)
		maxBody int
		want    string
	}{
		{"unknown kind", func(s *protocol.Snapshot) { s.Kind = "delete" }, 4096, "kind"},
		{"cluster not a label", func(s *protocol.Snapshot) { s.Cluster = "x; flush ruleset" }, 4096, "cluster name"},
		{"allowlist not a label", func(s *protocol.Snapshot) { s.Allowlist = "Workers" }, 4096, "allowlist name"},
		{"sequence zero", func(s *protocol.Snapshot) { s.Sequence = 0 }, 4096, "sequence 0"},
		{"sequence above 2^53-1", func(s *protocol.Snapshot) { s.Sequence = protocol.MaxSequence + 1 }, 4096, "sequence"},
		{"no generatedAt", func(s *protocol.Snapshot) { s.GeneratedAt = time.Time{} }, 4096, "generatedAt"},
		{"five-digit year", func(s *protocol.Snapshot) { s.GeneratedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, 4096, "generatedAt"},
		{"retirement with addresses", func(s *protocol.Snapshot) { s.Kind = protocol.KindRetirement }, 4096, "retirement"},
		{"unsorted", func(s *protocol.Snapshot) {
			s.Addresses = []netip.Prefix{netip.MustParsePrefix("10.0.0.2/32"), netip.MustParsePrefix("10.0.0.1/32")}
		}, 4096, "not canonical"},
		{"host bits", func(s *protocol.Snapshot) { s.Addresses = []netip.Prefix{netip.MustParsePrefix("10.0.0.1/8")} }, 4096, "not canonical"},
		{"mapped", func(s *protocol.Snapshot) { s.Addresses = []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.1/128")} }, 4096, "not canonical"},
		{"body limit zero", func(*protocol.Snapshot) {}, 0, "maxBodyBytes"},
		{"body limit above 1 MiB", func(*protocol.Snapshot) {}, protocol.MaxBodySize + 1, "maxBodyBytes"},
		{"address does not fit", func(*protocol.Snapshot) {}, 250, "does not fit"},
		{"empty body does not fit", func(s *protocol.Snapshot) { s.Addresses = nil }, 100, "empty body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := valid
			tt.mutate(&s)
			_, err := protocol.Encode(s, tt.maxBody)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Encode = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
	if _, err := protocol.Encode(valid, 4096); err != nil {
		t.Fatalf("the valid snapshot the cases start from fails: %v", err)
	}
}

func TestEncodeRefusesTooManyAddresses(t *testing.T) {
	addrs := make([]netip.Prefix, protocol.MaxAddresses+1)
	for i := range addrs {
		addrs[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32)
	}
	s := protocol.Snapshot{Kind: protocol.KindSnapshot, Cluster: "c", Allowlist: "a", Sequence: 1, GeneratedAt: vectorsGeneratedAt, Addresses: addrs}
	if _, err := protocol.Encode(s, protocol.DefaultMaxBodyBytes); err == nil || !strings.Contains(err.Error(), "500000") {
		t.Fatalf("Encode of %d addresses = %v, want the snapshot limit", len(addrs), err)
	}
}

func TestHookPathAndLabels(t *testing.T) {
	if got := protocol.HookPath("nodeallow", "prod", "workers"); got != "/hook/nodeallow/prod/workers" {
		t.Errorf("HookPath = %s", got)
	}
	for s, want := range map[string]bool{"a": true, "a-1": true, strings.Repeat("a", 63): true, strings.Repeat("a", 64): false, "": false, "-a": false, "a-": false, "A": false, "a.b": false, "a\n": false} {
		if got := protocol.IsDNSLabel(s); got != want {
			t.Errorf("IsDNSLabel(%q) = %v, want %v", s, got, want)
		}
	}
}
