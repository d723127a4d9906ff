// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package protocol_test

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/nodeallow/nodeallow/api/protocol"
	"github.com/nodeallow/nodeallow/test/receiver"
)

// reasonOf returns the refusal reason of err, or "" if err is not a *RefusalError.
func reasonOf(err error) string {
	var r *protocol.RefusalError
	if errors.As(err, &r) {
		return r.Reason
	}
	return ""
}

func TestDecodeSizeLimit(t *testing.T) {
	body := []byte(bodyOf(validMembers(baseEntries...)))
	// JSON allows whitespace after the object: pad a valid body to exactly the limit, then one more.
	padded := append(bytes.Clone(body), bytes.Repeat([]byte(" "), protocol.MaxBodySize-len(body))...)
	if _, err := receiver.Decode(padded); err != nil {
		t.Fatalf("Decode of a valid body of exactly %d bytes: %v", protocol.MaxBodySize, err)
	}
	if _, err := receiver.Decode(append(padded, ' ')); reasonOf(err) != protocol.ReasonTooLarge {
		t.Fatalf("Decode of %d bytes = %v, want %s", len(padded)+1, err, protocol.ReasonTooLarge)
	}
}

func TestDecodeRefusesInvalidUTF8(t *testing.T) {
	body := bodyOf(withMember(validMembers(baseEntries...), "cluster", "\"pr\xffod\""))
	if _, err := receiver.Decode([]byte(body)); reasonOf(err) != protocol.ReasonMalformedJSON {
		t.Fatalf("Decode = %v, want %s", err, protocol.ReasonMalformedJSON)
	}
}

func TestDecodeAcceptsMembersInAnyOrderWithWhitespace(t *testing.T) {
	members := validMembers(baseEntries...)
	var b strings.Builder
	b.WriteString("\n{ ")
	for i := len(members) - 1; i >= 0; i-- {
		b.WriteString(`"` + members[i].name + `" : ` + members[i].value)
		if i > 0 {
			b.WriteString(",\n  ")
		}
	}
	b.WriteString(" }\n")
	d, err := receiver.Decode([]byte(b.String()))
	if err != nil {
		t.Fatalf("Decode(%s): %v", b.String(), err)
	}
	if d.Cluster != "prod" || d.Allowlist != "workers" || d.Sequence != 5 || len(d.Addresses) != 3 || d.Addresses[2] != netip.MustParsePrefix("2001:db8::1/128") {
		t.Errorf("Decode = %+v", d)
	}
}

func TestAssembleRefusals(t *testing.T) {
	chunk := func(index, total int, digest string, entries ...string) *receiver.Body {
		b := &receiver.Body{Protocol: protocol.Version, Kind: protocol.KindSnapshot, Cluster: "prod", Allowlist: "workers", Sequence: 9,
			Digest: digest, GeneratedAt: vectorsGeneratedAt, Chunk: receiver.Chunk{Index: index, Total: total}}
		for _, e := range entries {
			b.Addresses = append(b.Addresses, netip.MustParsePrefix(e))
		}
		return b
	}
	list := func(entries ...string) string {
		var ps []netip.Prefix
		for _, e := range entries {
			ps = append(ps, netip.MustParsePrefix(e))
		}
		return protocol.Digest(ps)
	}
	good := list("10.0.0.1/32", "10.0.0.2/32")
	if _, err := receiver.Assemble([]*receiver.Body{chunk(1, 2, good, "10.0.0.2/32"), chunk(0, 2, good, "10.0.0.1/32")}); err != nil {
		t.Fatalf("Assemble of two good chunks: %v", err)
	}
	if _, err := receiver.Assemble([]*receiver.Body{chunk(1, 2, good, "10.0.0.2/32")}); !errors.Is(err, receiver.ErrIncomplete) {
		t.Errorf("Assemble with a chunk missing = %v, want ErrIncomplete", err)
	}
	if _, err := receiver.Assemble([]*receiver.Body{chunk(0, 2, good, "10.0.0.1/32"), chunk(1, 2, list("10.0.0.9/32"), "10.0.0.2/32")}); reasonOf(err) != protocol.ReasonSequenceConflict {
		t.Errorf("Assemble of chunks with different digests = %v, want %s", err, protocol.ReasonSequenceConflict)
	}
	if _, err := receiver.Assemble([]*receiver.Body{chunk(0, 2, good, "10.0.0.1/32"), chunk(0, 2, good, "10.0.0.3/32")}); reasonOf(err) != protocol.ReasonSequenceConflict {
		t.Errorf("Assemble of one chunk twice with different addresses = %v, want %s", err, protocol.ReasonSequenceConflict)
	}
	swapped := list("10.0.0.2/32", "10.0.0.1/32")
	if _, err := receiver.Assemble([]*receiver.Body{chunk(0, 2, swapped, "10.0.0.2/32"), chunk(1, 2, swapped, "10.0.0.1/32")}); reasonOf(err) != protocol.ReasonNotCanonical {
		t.Errorf("Assemble of chunks unsorted across the boundary = %v, want %s", err, protocol.ReasonNotCanonical)
	}
	if _, err := receiver.Assemble([]*receiver.Body{chunk(0, 2, list("10.0.0.1/32"), "10.0.0.1/32"), chunk(1, 2, list("10.0.0.1/32"), "10.0.0.2/32")}); reasonOf(err) != protocol.ReasonDigestMismatch {
		t.Errorf("Assemble with a wrong digest = %v, want %s", err, protocol.ReasonDigestMismatch)
	}

	// Six chunks of 100000 make more than a snapshot may hold, though each chunk is within its limit.
	var chunks []*receiver.Body
	for i := range 6 {
		c := chunk(i, 6, good)
		c.Addresses = make([]netip.Prefix, protocol.MaxAddressesPerChunk)
		for j := range c.Addresses {
			n := i*protocol.MaxAddressesPerChunk + j
			c.Addresses[j] = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)}), 32)
		}
		chunks = append(chunks, c)
	}
	if _, err := receiver.Assemble(chunks); reasonOf(err) != protocol.ReasonTooManyAddresses {
		t.Errorf("Assemble of 600000 addresses = %v, want %s", err, protocol.ReasonTooManyAddresses)
	}
}
