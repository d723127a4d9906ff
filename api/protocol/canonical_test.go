// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package protocol_test

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/nodeallow/nodeallow/api/protocol"
	"github.com/nodeallow/nodeallow/test/receiver"
)

// bruteCanonical is the canonical list computed the slow, obvious way: normalise each prefix, keep
// those that no other distinct normalised prefix contains, then sort.
func bruteCanonical(in []netip.Prefix) []netip.Prefix {
	var norm []netip.Prefix
	for _, p := range in {
		p = p.Masked()
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked()
		}
		if !slices.Contains(norm, p) {
			norm = append(norm, p)
		}
	}
	var out []netip.Prefix
	for _, p := range norm {
		covered := false
		for _, q := range norm {
			if q != p && q.Bits() <= p.Bits() && q.Contains(p.Addr()) {
				covered = true
			}
		}
		if !covered {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return out
}

// randomPrefix draws from a small address space so that duplicates and overlaps are common.
func randomPrefix(r *rand.Rand) netip.Prefix {
	switch r.IntN(3) {
	case 0:
		a := netip.AddrFrom4([4]byte{10, byte(r.IntN(2)), byte(r.IntN(4)), byte(r.IntN(8))})
		return netip.PrefixFrom(a, 20+r.IntN(13))
	case 1:
		a := netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(4)), byte(r.IntN(8))})
		mapped := netip.AddrFrom16(a.As16())
		return netip.PrefixFrom(mapped, 116+r.IntN(13))
	default:
		b := [16]byte{0x20, 0x01, 0x0d, 0xb8}
		b[14], b[15] = byte(r.IntN(3)), byte(r.IntN(8))
		return netip.PrefixFrom(netip.AddrFrom16(b), 118+r.IntN(11))
	}
}

func TestCanonicalizeMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 2000 {
		in := make([]netip.Prefix, r.IntN(30))
		for i := range in {
			in[i] = randomPrefix(r)
		}
		orig := slices.Clone(in)
		got := protocol.Canonicalize(in)
		if want := bruteCanonical(in); !slices.Equal(got, want) {
			t.Fatalf("round %d: Canonicalize(%v)\n = %v\nwant %v", round, in, got, want)
		}
		if !slices.Equal(in, orig) {
			t.Fatalf("round %d: Canonicalize modified its input", round)
		}
		// The result is a valid snapshot list: Encode accepts it and Decode of the body agrees.
		s := protocol.Snapshot{Kind: protocol.KindSnapshot, Cluster: "c", Allowlist: "a", Sequence: 1, GeneratedAt: vectorsGeneratedAt, Addresses: got}
		bodies, err := protocol.Encode(s, protocol.DefaultMaxBodyBytes)
		if err != nil {
			t.Fatalf("round %d: Encode(canonical %v): %v", round, got, err)
		}
		if _, err := receiver.Decode(bodies[0]); err != nil {
			t.Fatalf("round %d: Decode of a canonical list: %v", round, err)
		}
	}
}

func TestCanonicalizeEdgeCases(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"nil", nil, []string{}},
		{"mapped prefix shorter than /96 stays IPv6", []string{"::ffff:10.0.0.1/80"}, []string{"::/80"}},
		{"whole mapped space becomes 0.0.0.0/0", []string{"::ffff:0.0.0.0/96", "10.0.0.1"}, []string{"0.0.0.0/0"}},
		{"default routes of both families", []string{"::/0", "0.0.0.0/0", "2001:db8::1", "1.2.3.4"}, []string{"0.0.0.0/0", "::/0"}},
		{"IPv4 /0 does not cover IPv6", []string{"0.0.0.0/0", "::1"}, []string{"0.0.0.0/0", "::1/128"}},
		{"adjacent prefixes are kept, not merged", []string{"10.0.0.0/25", "10.0.0.128/25"}, []string{"10.0.0.0/25", "10.0.0.128/25"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in []netip.Prefix
			for _, s := range tt.in {
				p, err := protocol.ParseAddressOrCIDR(s)
				if err != nil {
					t.Fatal(err)
				}
				in = append(in, p)
			}
			got := prefixStrings(protocol.Canonicalize(in))
			if !slices.Equal(got, tt.want) {
				t.Errorf("Canonicalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	if got := protocol.Canonicalize([]netip.Prefix{{}}); len(got) != 0 {
		t.Errorf("Canonicalize kept an invalid prefix: %v", got)
	}
}

func TestParseAddressOrCIDR(t *testing.T) {
	good := map[string]string{
		"10.0.0.1":       "10.0.0.1/32",
		"10.0.0.1/24":    "10.0.0.1/24",
		"2001:DB8::1":    "2001:db8::1/128",
		"::ffff:1.2.3.4": "::ffff:1.2.3.4/128",
	}
	for in, want := range good {
		p, err := protocol.ParseAddressOrCIDR(in)
		if err != nil || p.String() != want {
			t.Errorf("ParseAddressOrCIDR(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	for _, in := range []string{"", "fe80::1%eth0", "10.0.0.1/33", "010.0.0.1", "db.example.com", "10.0.0.1/24/1"} {
		if p, err := protocol.ParseAddressOrCIDR(in); err == nil {
			t.Errorf("ParseAddressOrCIDR(%q) = %v, want an error", in, p)
		}
	}
}

func TestDigestOfEmptyList(t *testing.T) {
	if got := protocol.Digest(nil); got != protocol.EmptyDigest {
		t.Errorf("Digest(nil) = %s, want %s", got, protocol.EmptyDigest)
	}
}
