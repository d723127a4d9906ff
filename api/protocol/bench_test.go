// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package protocol_test

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/nodeallow/nodeallow/api/protocol"
	"github.com/nodeallow/nodeallow/test/receiver"
)

// benchSize is the snapshot size benchmarks use: 100k node addresses (a large
// cluster with one InternalIP per node), or 5k under -short so `make test` stays quick.
func benchSize() int {
	if testing.Short() {
		return 5000
	}
	return 100000
}

// benchAddresses returns n distinct host prefixes, 80% IPv4 and 20% IPv6, in scrambled order.
func benchAddresses(n int) []netip.Prefix {
	out := make([]netip.Prefix, 0, n)
	for i := range n {
		x := uint32(i) * 2654435761 // scramble so the sort has work to do
		if i%5 == 4 {
			var b [16]byte
			b[0], b[1] = 0xfd, 0x00
			binary.BigEndian.PutUint32(b[12:], x)
			out = append(out, netip.PrefixFrom(netip.AddrFrom16(b), 128))
			continue
		}
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], 0x0a000000|(x&0x00ffffff))
		out = append(out, netip.PrefixFrom(netip.AddrFrom4(b), 32))
	}
	return out
}

func BenchmarkCanonicalize(b *testing.B) {
	in := benchAddresses(benchSize())
	b.ReportAllocs()
	for b.Loop() {
		protocol.Canonicalize(in)
	}
}

func BenchmarkEncodeChunked(b *testing.B) {
	s := protocol.Snapshot{
		Kind: protocol.KindSnapshot, Cluster: "prod", Allowlist: "workers", Sequence: 42,
		GeneratedAt: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC),
		Addresses:   protocol.Canonicalize(benchAddresses(benchSize())),
	}
	b.ReportAllocs()
	var chunks int
	for b.Loop() {
		bodies, err := protocol.Encode(s, protocol.DefaultMaxBodyBytes)
		if err != nil {
			b.Fatal(err)
		}
		chunks = len(bodies)
	}
	b.ReportMetric(float64(chunks), "chunks")
}

func BenchmarkDecode(b *testing.B) {
	s := protocol.Snapshot{
		Kind: protocol.KindSnapshot, Cluster: "prod", Allowlist: "workers", Sequence: 42,
		GeneratedAt: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC),
		Addresses:   protocol.Canonicalize(benchAddresses(benchSize())),
	}
	bodies, err := protocol.Encode(s, protocol.DefaultMaxBodyBytes)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(bodies[0])))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := receiver.Decode(bodies[0]); err != nil {
			b.Fatal(err)
		}
	}
}
