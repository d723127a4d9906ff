// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package protocol

import (
	"fmt"
	"strconv"
)

// Encode renders a snapshot as the request bodies to send, in chunk index order: compact JSON with the
// members in the doc's order, split greedily so that every body is at most maxBodyBytes long. It fails
// if the snapshot is invalid (names, sequence, time, a non-canonical list, too many addresses), if
// maxBodyBytes is outside 1…MaxBodySize, if one address cannot fit in a body on its own, or if the
// split needs more than MaxChunks bodies.
//
// The bodies are built by hand rather than with encoding/json: every string on the wire is a DNS label,
// a digest, a timestamp or an address, none of which needs escaping, and the chunker must know each
// entry's exact encoded length anyway.
func Encode(s Snapshot, maxBodyBytes int) ([][]byte, error) {
	if err := validateSnapshot(s); err != nil {
		return nil, err
	}
	if maxBodyBytes < 1 || maxBodyBytes > MaxBodySize {
		return nil, fmt.Errorf("encode allowlist %q: maxBodyBytes %d is outside 1…%d", s.Allowlist, maxBodyBytes, MaxBodySize)
	}
	entries := make([]string, len(s.Addresses))
	for i, p := range s.Addresses {
		entries[i] = p.String()
	}
	env := envelope{
		head: `{"protocol":"` + Version + `","kind":"` + string(s.Kind) + `","cluster":"` + s.Cluster +
			`","allowlist":"` + s.Allowlist + `","sequence":` + strconv.FormatInt(s.Sequence, 10) +
			`,"digest":"` + Digest(s.Addresses) + `","generatedAt":"` + s.GeneratedAt.UTC().Format(TimeLayout) +
			`","chunk":{"index":`,
	}
	counts, err := env.split(entries, maxBodyBytes)
	if err != nil {
		return nil, fmt.Errorf("encode allowlist %q sequence %d: %w", s.Allowlist, s.Sequence, err)
	}
	bodies := make([][]byte, len(counts))
	next := 0
	for i, n := range counts {
		bodies[i] = env.render(i, len(counts), entries[next:next+n])
		next += n
	}
	return bodies, nil
}

// envelope is everything of a body except the chunk numbers and the addresses.
type envelope struct {
	// head runs from the opening brace to just before the chunk index.
	head string
}

// Fixed pieces between the head, the chunk numbers, the addresses and the end of a body.
const (
	totalKey      = `,"total":`
	addressesOpen = `},"addresses":[`
	bodyEnd       = `]}`
)

// size returns the encoded length of a chunk body with no addresses.
func (e envelope) size(index, total int) int {
	return len(e.head) + digits(index) + len(totalKey) + digits(total) + len(addressesOpen) + len(bodyEnd)
}

// split returns how many entries each chunk takes. The envelope's size depends on the width of the
// chunk count, which is only known after splitting, so it splits again whenever that width grows;
// a wider count only shrinks chunks, so the count never decreases and the loop ends.
func (e envelope) split(entries []string, maxBodyBytes int) ([]int, error) {
	total := 1
	for {
		counts, err := e.splitWithTotal(entries, maxBodyBytes, total)
		if err != nil {
			return nil, err
		}
		if digits(len(counts)) == digits(total) {
			return counts, nil
		}
		total = len(counts)
	}
}

// splitWithTotal splits greedily, assuming the chunk count is written with as many digits as total.
func (e envelope) splitWithTotal(entries []string, maxBodyBytes, total int) ([]int, error) {
	if len(entries) == 0 {
		if need := e.size(0, 1); need > maxBodyBytes {
			return nil, fmt.Errorf("an empty body needs %d bytes, more than maxBodyBytes %d", need, maxBodyBytes)
		}
		return []int{0}, nil
	}
	var counts []int
	for next := 0; next < len(entries); {
		index := len(counts)
		if index == MaxChunks {
			return nil, fmt.Errorf("%d addresses need more than %d chunks of at most %d bytes; raise maxBodyBytes", len(entries), MaxChunks, maxBodyBytes)
		}
		size := e.size(index, total)
		n := 0
		for next+n < len(entries) && n < MaxAddressesPerChunk {
			add := len(entries[next+n]) + 2 // the quotes
			if n > 0 {
				add++ // the comma
			}
			if size+add > maxBodyBytes {
				break
			}
			size += add
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("address %s does not fit in a body of at most %d bytes; raise maxBodyBytes", entries[next], maxBodyBytes)
		}
		counts = append(counts, n)
		next += n
	}
	return counts, nil
}

// render writes one chunk body.
func (e envelope) render(index, total int, entries []string) []byte {
	n := e.size(index, total)
	for i, s := range entries {
		n += len(s) + 2
		if i > 0 {
			n++
		}
	}
	b := make([]byte, 0, n)
	b = append(b, e.head...)
	b = strconv.AppendInt(b, int64(index), 10)
	b = append(b, totalKey...)
	b = strconv.AppendInt(b, int64(total), 10)
	b = append(b, addressesOpen...)
	for i, s := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, s...)
		b = append(b, '"')
	}
	return append(b, bodyEnd...)
}

// digits returns the number of decimal digits of a non-negative n.
func digits(n int) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}

// validateSnapshot checks everything Encode needs from a snapshot before any bytes are produced, so the
// controller never sends a body that a receiver must refuse.
func validateSnapshot(s Snapshot) error {
	if s.Kind != KindSnapshot && s.Kind != KindRetirement {
		return fmt.Errorf("encode allowlist %q: kind %q is neither %q nor %q", s.Allowlist, s.Kind, KindSnapshot, KindRetirement)
	}
	if !IsDNSLabel(s.Cluster) {
		return fmt.Errorf("encode allowlist %q: cluster name %q is not a DNS label (1-63 of a-z, 0-9 and '-')", s.Allowlist, s.Cluster)
	}
	if !IsDNSLabel(s.Allowlist) {
		return fmt.Errorf("encode: allowlist name %q is not a DNS label (1-63 of a-z, 0-9 and '-')", s.Allowlist)
	}
	if s.Sequence < 1 || s.Sequence > MaxSequence {
		return fmt.Errorf("encode allowlist %q: sequence %d is outside 1…%d", s.Allowlist, s.Sequence, int64(MaxSequence))
	}
	if y := s.GeneratedAt.UTC().Year(); s.GeneratedAt.IsZero() || y < 0 || y > 9999 {
		return fmt.Errorf("encode allowlist %q: generatedAt %v is unset or not a four-digit year", s.Allowlist, s.GeneratedAt)
	}
	if s.Kind == KindRetirement && len(s.Addresses) != 0 {
		return fmt.Errorf("encode allowlist %q: a retirement carries no addresses, got %d", s.Allowlist, len(s.Addresses))
	}
	if len(s.Addresses) > MaxAddresses {
		return fmt.Errorf("encode allowlist %q: %d addresses exceed the protocol's limit of %d per snapshot", s.Allowlist, len(s.Addresses), MaxAddresses)
	}
	if err := checkCanonical(s.Addresses); err != nil {
		return fmt.Errorf("encode allowlist %q: the address list is not canonical (pass it through Canonicalize): %s", s.Allowlist, err.Detail)
	}
	return nil
}
