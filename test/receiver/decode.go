// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

// Package receiver decodes and assembles request bodies of wire protocol v1 as nodeallow's Salt runner
// does, for Go tests: the salt-api stand-in (test/saltapistandin), the publisher's tests and the checks
// of the shared vectors in test/protocol/v1 (api/protocol's tests). The product's receiver is the Python
// one; this one is test support and never runs in the controller.
package receiver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/nodeallow/nodeallow/api/protocol"
)

// Chunk is a body's place in its sequence.
type Chunk struct {
	// Index is the chunk's position, 0 … Total-1.
	Index int `json:"index"`
	// Total is how many chunks the sequence has, 1 … protocol.MaxChunks.
	Total int `json:"total"`
}

// Body is one request body as Decode validated it. Marshalling it with encoding/json (HTML escaping off)
// reproduces the wire bytes, because the fields follow the doc's member order.
type Body struct {
	// Protocol is always protocol.Version.
	Protocol string `json:"protocol"`
	// Kind is protocol.KindSnapshot or protocol.KindRetirement.
	Kind protocol.Kind `json:"kind"`
	// Cluster is the sending cluster's name, a DNS label.
	Cluster string `json:"cluster"`
	// Allowlist is the allowlist's name, a DNS label.
	Allowlist string `json:"allowlist"`
	// Sequence is the snapshot's number, 1 … protocol.MaxSequence.
	Sequence int64 `json:"sequence"`
	// Digest is the digest of the whole canonical list, over all chunks.
	Digest string `json:"digest"`
	// GeneratedAt is when the snapshot was computed, in UTC with seconds precision.
	GeneratedAt time.Time `json:"generatedAt"`
	// Chunk is this body's place in the sequence.
	Chunk Chunk `json:"chunk"`
	// Addresses is this chunk's run of the canonical list.
	Addresses []netip.Prefix `json:"addresses"`
}

// Member names of a body, in the doc's order.
var bodyMembers = []string{"protocol", "kind", "cluster", "allowlist", "sequence", "digest", "generatedAt", "chunk", "addresses"}

var (
	digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	// timePattern admits only what the encoder writes; time.Parse alone would also take fractions.
	timePattern = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z$`)
	// integerPattern is a JSON number without fraction or exponent; the wire never writes 1.0 or 1e0.
	integerPattern = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)
)

// Decode parses and validates one request body as a receiver must, without the tag, the signature or
// stored state. It checks, in this order, and refuses with the first failing check's reason: size
// (too-large); a single JSON object in valid UTF-8 without repeated member names (malformed-json);
// members, types, ranges and names (schema); the address count (too-many-addresses); every entry's
// spelling (bad-address); order and overlap within the body (not-canonical); and, for a body that is
// the whole snapshot (chunk total 1), the digest (digest-mismatch). Every error is a *protocol.RefusalError.
func Decode(raw []byte) (*Body, error) {
	b, err := decode(raw)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// decode is Decode with a concrete error type, so that a nil *protocol.RefusalError never becomes a non-nil error.
func decode(raw []byte) (*Body, *protocol.RefusalError) {
	if len(raw) > protocol.MaxBodySize {
		return nil, refuse(protocol.ReasonTooLarge, "the body has %d bytes, more than %d; lower spec.salt.maxBodyBytes", len(raw), protocol.MaxBodySize)
	}
	if !utf8.Valid(raw) {
		return nil, refuse(protocol.ReasonMalformedJSON, "the body is not valid UTF-8")
	}
	if !json.Valid(raw) {
		return nil, refuse(protocol.ReasonMalformedJSON, "the body is not valid JSON")
	}
	if first := firstByte(raw); first != '{' {
		return nil, refuse(protocol.ReasonMalformedJSON, "the body is a JSON %s, not an object", jsonType(first))
	}
	if err := checkNoRepeatedMembers(raw); err != nil {
		return nil, err
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return nil, refuse(protocol.ReasonMalformedJSON, "the body cannot be parsed: %v", err)
	}
	b, entries, err := decodeMembers(members)
	if err != nil {
		return nil, err
	}
	if len(entries) > protocol.MaxAddressesPerChunk {
		return nil, refuse(protocol.ReasonTooManyAddresses, "the body holds %d addresses, more than %d", len(entries), protocol.MaxAddressesPerChunk)
	}
	b.Addresses = make([]netip.Prefix, len(entries))
	for i, s := range entries {
		p, ok := parseWireEntry(s)
		if !ok {
			return nil, refuse(protocol.ReasonBadAddress, "addresses[%d] %q is not a canonical prefix (CIDR with host bits zero, IPv4 dotted quad or RFC 5952 IPv6, no IPv4-mapped form, no zone)", i, s)
		}
		b.Addresses[i] = p
	}
	var refusal *protocol.RefusalError
	if errors.As(protocol.CheckCanonical(b.Addresses), &refusal) {
		return nil, refusal
	}
	if b.Chunk.Total == 1 {
		if got := protocol.Digest(b.Addresses); got != b.Digest {
			return nil, refuse(protocol.ReasonDigestMismatch, "the addresses hash to %s, the body says %s", got, b.Digest)
		}
	}
	return b, nil
}

// decodeMembers checks the members' presence, types and ranges, and returns the body without its
// addresses plus the address entries as strings.
func decodeMembers(members map[string]json.RawMessage) (*Body, []string, *protocol.RefusalError) {
	for name := range members {
		if !isBodyMember(name) {
			if name == "arg" {
				return nil, nil, refuse(protocol.ReasonSchema, `unknown member "arg" (salt-api rewrites it)`)
			}
			return nil, nil, refuse(protocol.ReasonSchema, "unknown member %q", name)
		}
	}
	for _, name := range bodyMembers {
		if _, ok := members[name]; !ok {
			return nil, nil, refuse(protocol.ReasonSchema, "member %q is missing", name)
		}
	}
	b := &Body{}
	var err *protocol.RefusalError
	if b.Protocol, err = stringMember(members, "protocol"); err != nil {
		return nil, nil, err
	}
	if b.Protocol != protocol.Version {
		return nil, nil, refuse(protocol.ReasonSchema, "protocol %q is not %q", b.Protocol, protocol.Version)
	}
	kind, err := stringMember(members, "kind")
	if err != nil {
		return nil, nil, err
	}
	if b.Kind = protocol.Kind(kind); b.Kind != protocol.KindSnapshot && b.Kind != protocol.KindRetirement {
		return nil, nil, refuse(protocol.ReasonSchema, "kind %q is neither %q nor %q", kind, protocol.KindSnapshot, protocol.KindRetirement)
	}
	for _, name := range []string{"cluster", "allowlist"} {
		s, err := stringMember(members, name)
		if err != nil {
			return nil, nil, err
		}
		if !protocol.IsDNSLabel(s) {
			return nil, nil, refuse(protocol.ReasonSchema, "%s %q is not a DNS label (1-63 of a-z, 0-9 and '-')", name, s)
		}
		if name == "cluster" {
			b.Cluster = s
		} else {
			b.Allowlist = s
		}
	}
	if b.Sequence, err = integerMember(members["sequence"], "sequence", 1, protocol.MaxSequence); err != nil {
		return nil, nil, err
	}
	if b.Digest, err = stringMember(members, "digest"); err != nil {
		return nil, nil, err
	}
	if !digestPattern.MatchString(b.Digest) {
		return nil, nil, refuse(protocol.ReasonSchema, `digest %q is not "sha256:" and 64 lowercase hex digits`, b.Digest)
	}
	if b.GeneratedAt, err = timeMember(members); err != nil {
		return nil, nil, err
	}
	if b.Chunk, err = chunkMember(members["chunk"]); err != nil {
		return nil, nil, err
	}
	entries, err := addressesMember(members["addresses"])
	if err != nil {
		return nil, nil, err
	}
	if b.Kind == protocol.KindRetirement && (len(entries) != 0 || b.Digest != protocol.EmptyDigest || b.Chunk.Total != 1) {
		return nil, nil, refuse(protocol.ReasonSchema, `a retirement must have addresses [], digest %s and chunk {"index":0,"total":1}`, protocol.EmptyDigest)
	}
	if b.Chunk.Total > 1 && len(entries) == 0 {
		return nil, nil, refuse(protocol.ReasonSchema, "chunk %d of %d holds no addresses; every chunk of a split snapshot holds at least one", b.Chunk.Index, b.Chunk.Total)
	}
	return b, entries, nil
}

// isBodyMember reports whether name is one of the body's members.
func isBodyMember(name string) bool {
	for _, m := range bodyMembers {
		if m == name {
			return true
		}
	}
	return false
}

// stringMember returns a member that must be a JSON string.
func stringMember(members map[string]json.RawMessage, name string) (string, *protocol.RefusalError) {
	raw := members[name]
	if firstByte(raw) != '"' {
		return "", refuse(protocol.ReasonSchema, "%s is a JSON %s, not a string", name, jsonType(firstByte(raw)))
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", refuse(protocol.ReasonSchema, "%s cannot be read as a string: %v", name, err)
	}
	return s, nil
}

// integerMember returns a JSON number written as an integer within min … max.
func integerMember(raw json.RawMessage, name string, min, max int64) (int64, *protocol.RefusalError) {
	if c := firstByte(raw); c != '-' && (c < '0' || c > '9') {
		return 0, refuse(protocol.ReasonSchema, "%s is a JSON %s, not an integer", name, jsonType(c))
	}
	text := string(bytes.TrimSpace(raw))
	if !integerPattern.MatchString(text) {
		return 0, refuse(protocol.ReasonSchema, "%s %s is not written as an integer (no fraction or exponent)", name, text)
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil || n < min || n > max {
		return 0, refuse(protocol.ReasonSchema, "%s %s is outside %d … %d", name, text, min, max)
	}
	return n, nil
}

// timeMember returns generatedAt, which must be RFC 3339 UTC with seconds precision and a real date.
func timeMember(members map[string]json.RawMessage) (time.Time, *protocol.RefusalError) {
	s, err := stringMember(members, "generatedAt")
	if err != nil {
		return time.Time{}, err
	}
	if !timePattern.MatchString(s) {
		return time.Time{}, refuse(protocol.ReasonSchema, "generatedAt %q is not RFC 3339 UTC with seconds precision, like 2026-01-02T15:04:05Z", s)
	}
	t, perr := time.Parse(protocol.TimeLayout, s)
	if perr != nil {
		return time.Time{}, refuse(protocol.ReasonSchema, "generatedAt %q is not a real time: %v", s, perr)
	}
	return t, nil
}

// chunkMember returns the chunk object, exactly {"index": i, "total": n} with 0 <= i < n <= protocol.MaxChunks.
func chunkMember(raw json.RawMessage) (Chunk, *protocol.RefusalError) {
	if c := firstByte(raw); c != '{' {
		return Chunk{}, refuse(protocol.ReasonSchema, "chunk is a JSON %s, not an object", jsonType(c))
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return Chunk{}, refuse(protocol.ReasonSchema, "chunk cannot be read: %v", err)
	}
	for name := range members {
		if name != "index" && name != "total" {
			return Chunk{}, refuse(protocol.ReasonSchema, "unknown member %q in chunk", name)
		}
	}
	for _, name := range []string{"index", "total"} {
		if _, ok := members[name]; !ok {
			return Chunk{}, refuse(protocol.ReasonSchema, "chunk.%s is missing", name)
		}
	}
	index, err := integerMember(members["index"], "chunk.index", 0, protocol.MaxChunks-1)
	if err != nil {
		return Chunk{}, err
	}
	total, err := integerMember(members["total"], "chunk.total", 1, protocol.MaxChunks)
	if err != nil {
		return Chunk{}, err
	}
	if index >= total {
		return Chunk{}, refuse(protocol.ReasonSchema, "chunk.index %d is not below chunk.total %d", index, total)
	}
	return Chunk{Index: int(index), Total: int(total)}, nil
}

// addressesMember returns the address entries, which must be an array of strings.
func addressesMember(raw json.RawMessage) ([]string, *protocol.RefusalError) {
	if c := firstByte(raw); c != '[' {
		return nil, refuse(protocol.ReasonSchema, "addresses is a JSON %s, not an array", jsonType(c))
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, refuse(protocol.ReasonSchema, "addresses cannot be read: %v", err)
	}
	entries := make([]string, len(items))
	for i, item := range items {
		if c := firstByte(item); c != '"' {
			return nil, refuse(protocol.ReasonSchema, "addresses[%d] is a JSON %s, not a string", i, jsonType(c))
		}
		if err := json.Unmarshal(item, &entries[i]); err != nil {
			return nil, refuse(protocol.ReasonSchema, "addresses[%d] cannot be read as a string: %v", i, err)
		}
	}
	return entries, nil
}

// checkNoRepeatedMembers refuses an object (at any depth) that names a member twice: parsers disagree
// on which value wins, so such a body has no single meaning. raw must already be valid JSON.
func checkNoRepeatedMembers(raw []byte) *protocol.RefusalError {
	type frame struct {
		object    bool
		expectKey bool
		keys      map[string]struct{}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var stack []*frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return refuse(protocol.ReasonMalformedJSON, "the body cannot be parsed: %v", err)
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.expectKey {
			if key, ok := tok.(string); ok {
				if _, seen := top.keys[key]; seen {
					return refuse(protocol.ReasonMalformedJSON, "member %q appears more than once in one object", key)
				}
				top.keys[key] = struct{}{}
				top.expectKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, expectKey: true, keys: map[string]struct{}{}})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				continue
			}
			top = stack[len(stack)-1]
		}
		// A complete value inside an object is followed by the next key.
		if top != nil && top.object {
			top.expectKey = true
		}
	}
}

// firstByte returns the first non-whitespace byte of a JSON text, or 0.
func firstByte(raw []byte) byte {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

// jsonType names the JSON type a value starting with c has, for error details.
func jsonType(c byte) string {
	switch {
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	case c == '"':
		return "string"
	case c == 't' || c == 'f':
		return "boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "number"
	}
	return "value"
}

// parseWireEntry parses one address entry of a body, accepting only the exact canonical spelling.
func parseWireEntry(s string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(s)
	return p, err == nil && p.String() == s && protocol.CheckCanonical([]netip.Prefix{p}) == nil
}

// refuse builds a refusal with a formatted detail.
func refuse(reason, format string, args ...any) *protocol.RefusalError {
	return &protocol.RefusalError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}
