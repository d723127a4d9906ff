// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package protocol_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/nodeallow/nodeallow/api/protocol"
)

// This file is the generator of test/protocol/v1/vectors.json; `go test ./api/protocol -run
// TestVectorsFileIsCurrent -update` rewrites the file from it. The cases are written by hand here; the
// generator computes only what the implementation must reproduce (canonical lists, digests, bodies,
// signatures), and vectors_test.go checks those against independent computations where one exists.

// vectorFile is the layout of vectors.json, described for other implementations in docs/protocol.md.
type vectorFile struct {
	Description     string           `json:"description"`
	Protocol        string           `json:"protocol"`
	Regenerate      string           `json:"regenerate"`
	Signatures      []signatureCase  `json:"signatures"`
	SignatureChecks []signatureCheck `json:"signatureChecks"`
	Snapshots       []snapshotCase   `json:"snapshots"`
	Invalid         []invalidCase    `json:"invalid"`
	KeyRingChecks   []keyRingCheck   `json:"keyRingChecks"`
	LimitChecks     []limitCheck     `json:"limitChecks"`
}

// keyRingCheck is a header checked against several keys of one cluster (new first, old until removed):
// match is the index of the first key that verifies it, -1 when none does.
type keyRingCheck struct {
	Name    string   `json:"name"`
	KeysHex []string `json:"keysHex"`
	Body    string   `json:"body"`
	Header  string   `json:"header"`
	Match   int      `json:"match"`
}

// familyLimits is one width limit per family, as vectors.json writes it.
type familyLimits struct {
	IPv4 int `json:"ipv4"`
	IPv6 int `json:"ipv6"`
}

// limitSettings are a receiver's width limits: the shortest prefix and the most addresses (as the
// prefix-equivalent /P: 2^(bits-P) addresses) all entries of one family may cover.
type limitSettings struct {
	MinPrefix     familyLimits `json:"minPrefix"`
	MaxSpanPrefix familyLimits `json:"maxSpanPrefix"`
}

// limitCheck is a canonical address list checked against width limits: reason is "" (accepted) or
// too-wide.
type limitCheck struct {
	Name      string        `json:"name"`
	Limits    limitSettings `json:"limits"`
	Addresses []string      `json:"addresses"`
	Reason    string        `json:"reason"`
}

// signatureCase is a key, a body and the X-Hub-Signature-256 value a sender computes.
type signatureCase struct {
	Name   string `json:"name"`
	KeyHex string `json:"keyHex"`
	Body   string `json:"body"`
	Header string `json:"header"`
}

// signatureCheck is a header a receiver must accept (valid) or refuse for a key and body.
type signatureCheck struct {
	Name   string `json:"name"`
	KeyHex string `json:"keyHex"`
	Body   string `json:"body"`
	Header string `json:"header"`
	Valid  bool   `json:"valid"`
}

// snapshotCase is messy input, its canonical list and digest, and the exact bodies for maxBodyBytes.
type snapshotCase struct {
	Name         string   `json:"name"`
	Kind         string   `json:"kind"`
	Cluster      string   `json:"cluster"`
	Allowlist    string   `json:"allowlist"`
	Sequence     int64    `json:"sequence"`
	GeneratedAt  string   `json:"generatedAt"`
	Input        []string `json:"input"`
	Canonical    []string `json:"canonical"`
	Digest       string   `json:"digest"`
	MaxBodyBytes int      `json:"maxBodyBytes"`
	BodyBytes    []int    `json:"bodyBytes"`
	Bodies       []string `json:"bodies"`
}

// invalidCase is a body a receiver must refuse, the reason, and whether schema.json alone accepts it.
type invalidCase struct {
	Name          string `json:"name"`
	Body          string `json:"body"`
	Reason        string `json:"reason"`
	SchemaAccepts bool   `json:"schemaAccepts"`
}

// vectorsGeneratedAt is fixed so that the file is the same on every run.
var vectorsGeneratedAt = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// generateVectors builds the whole vector file.
func generateVectors() (vectorFile, error) {
	snapshots, err := snapshotCases()
	if err != nil {
		return vectorFile{}, err
	}
	return vectorFile{
		Description: "Test vectors of nodeallow wire protocol v1 (docs/protocol.md, section 'Test vectors'). " +
			"Every string is exact: bodies are the bytes on the wire, keys are hex.",
		Protocol:        protocol.Version,
		Regenerate:      "go test ./api/protocol -run TestVectorsFileIsCurrent -update",
		Signatures:      signatureCases(snapshots[0].Bodies[0]),
		SignatureChecks: signatureChecks(snapshots[0].Bodies[0]),
		Snapshots:       snapshots,
		Invalid:         invalidCases(),
		KeyRingChecks:   keyRingChecks(snapshots[0].Bodies[0]),
		LimitChecks:     limitChecks(),
	}, nil
}

// marshalVectors renders the file: indented for people, no HTML escaping so bodies read as sent.
func marshalVectors(v vectorFile) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// signatureCases covers an ASCII key, a key of non-ASCII bytes, a key longer than SHA-256's block (which
// HMAC hashes first) and two RFC 4231 cases whose MACs are published there.
func signatureCases(body string) []signatureCase {
	keys := []struct {
		name string
		key  []byte
		body string
	}{
		{"ascii-key", []byte("nodeallow-test-key"), body},
		{"non-ascii-key", []byte{0x00, 0xff, 0x80, 0xc3, 0xa9, 0x7f, 0x0a, 0xe2, 0x82, 0xac, 0x01}, body},
		{"key-longer-than-block", bytes.Repeat([]byte{0xa5, 0x5a, 0x3c}, 50), body},
		{"empty-body", []byte("nodeallow-test-key"), ""},
		{"rfc4231-case-2", []byte("Jefe"), "what do ya want for nothing?"},
		{"rfc4231-case-6", bytes.Repeat([]byte{0xaa}, 131), "Test Using Larger Than Block-Size Key - Hash Key First"},
	}
	out := make([]signatureCase, 0, len(keys))
	for _, k := range keys {
		out = append(out, signatureCase{Name: k.name, KeyHex: hex.EncodeToString(k.key), Body: k.body, Header: protocol.Sign(k.key, []byte(k.body))})
	}
	return out
}

// signatureChecks lists headers a receiver must accept or refuse.
func signatureChecks(body string) []signatureCheck {
	key := []byte("nodeallow-test-key")
	good := protocol.Sign(key, []byte(body))
	hexMAC := strings.TrimPrefix(good, "sha256=")
	keyHex := hex.EncodeToString(key)
	check := func(name, b, header string, valid bool) signatureCheck {
		return signatureCheck{Name: name, KeyHex: keyHex, Body: b, Header: header, Valid: valid}
	}
	return []signatureCheck{
		check("valid", body, good, true),
		check("other-key", body, protocol.Sign([]byte("another-cluster-key"), []byte(body)), false),
		check("body-with-trailing-newline", body+"\n", good, false),
		check("uppercase-hex", body, "sha256="+strings.ToUpper(hexMAC), false),
		check("uppercase-prefix", body, "SHA256="+hexMAC, false),
		check("sha1-prefix", body, "sha1="+hexMAC, false),
		check("no-prefix", body, hexMAC, false),
		check("truncated", body, good[:len(good)-2], false),
		check("trailing-space", body, good+" ", false),
		check("empty-header", body, "", false),
	}
}

// snapshotCases builds the snapshot vectors; it fails if a case does not have the shape its name
// promises, so that a change in the encoder cannot silently turn a boundary case into an ordinary one.
func snapshotCases() ([]snapshotCase, error) {
	var out []snapshotCase

	mixed := snapshotCase{
		Name: "mixed-one-chunk", Kind: "snapshot", Cluster: "prod-eu1", Allowlist: "workers", Sequence: 42,
		Input: []string{
			"10.0.1.5", "10.0.1.5", // a duplicate
			"10.0.1.0/24", "10.0.1.9", // a static CIDR that covers two node addresses
			"192.168.7.7/16",                                       // host bits set
			"10.0.2.10", "::ffff:10.0.2.11", "::ffff:10.0.3.9/120", // IPv4-mapped address and prefix
			"2001:DB8:0:0:0:0:0:1", "2001:db8::1", // the same IPv6 address in two spellings
			"2001:db8:1::/48", "2001:db8:1:2::7", // an IPv6 prefix covering an address
			"fd00::a/64",                             // IPv6 host bits set
			"10.0.0.10", "10.0.0.9", "9.255.255.255", // numeric order differs from text order
			"172.16.0.1",
		},
		MaxBodyBytes: 4096,
	}
	if err := fillSnapshotCase(&mixed, 1); err != nil {
		return nil, err
	}
	out = append(out, mixed)

	// Ten addresses of equal length; maxBodyBytes is the exact size of a body holding four, so the first
	// two chunks end exactly at the limit.
	var ten []string
	for i := 109; i >= 100; i-- {
		ten = append(ten, fmt.Sprintf("10.20.30.%d", i))
	}
	limit, err := bodySize(ten[6:], "prod-eu1", "big-pool", 7)
	if err != nil {
		return nil, err
	}
	atLimit := snapshotCase{Name: "three-chunks-at-limit", Kind: "snapshot", Cluster: "prod-eu1", Allowlist: "big-pool", Sequence: 7, Input: ten, MaxBodyBytes: limit}
	if err := fillSnapshotCase(&atLimit, 3); err != nil {
		return nil, err
	}
	if atLimit.BodyBytes[0] != limit || atLimit.BodyBytes[1] != limit {
		return nil, fmt.Errorf("three-chunks-at-limit: chunks have %v bytes, want the first two at exactly %d", atLimit.BodyBytes, limit)
	}
	out = append(out, atLimit)

	belowLimit := snapshotCase{Name: "four-chunks-one-byte-below", Kind: "snapshot", Cluster: "prod-eu1", Allowlist: "big-pool", Sequence: 7, Input: ten, MaxBodyBytes: limit - 1}
	if err := fillSnapshotCase(&belowLimit, 4); err != nil {
		return nil, err
	}
	out = append(out, belowLimit)

	// Twenty-five IPv6 addresses, two per chunk: thirteen chunks, so indexes and the total take two digits.
	var v6 []string
	for i := range 25 {
		v6 = append(v6, fmt.Sprintf("2001:db8:ab::%x", 0x1000+i))
	}
	pair, err := bodySize(v6[:2], "lab", "ipv6-nodes", protocol.MaxSequence)
	if err != nil {
		return nil, err
	}
	many := snapshotCase{Name: "thirteen-chunks-max-sequence", Kind: "snapshot", Cluster: "lab", Allowlist: "ipv6-nodes", Sequence: protocol.MaxSequence, Input: v6, MaxBodyBytes: pair + 2}
	if err := fillSnapshotCase(&many, 13); err != nil {
		return nil, err
	}
	out = append(out, many)

	retirement := snapshotCase{Name: "retirement", Kind: "retirement", Cluster: "prod-eu1", Allowlist: "workers", Sequence: 43, Input: []string{}, MaxBodyBytes: protocol.DefaultMaxBodyBytes}
	if err := fillSnapshotCase(&retirement, 1); err != nil {
		return nil, err
	}
	out = append(out, retirement)
	return out, nil
}

// bodySize returns the length of the single body carrying the given addresses.
func bodySize(input []string, cluster, allowlist string, sequence int64) (int, error) {
	c := snapshotCase{Kind: "snapshot", Cluster: cluster, Allowlist: allowlist, Sequence: sequence, Input: input, MaxBodyBytes: protocol.MaxBodySize}
	if err := fillSnapshotCase(&c, 1); err != nil {
		return 0, err
	}
	return c.BodyBytes[0], nil
}

// fillSnapshotCase computes the canonical list, digest and bodies of a case and checks the chunk count.
func fillSnapshotCase(c *snapshotCase, wantChunks int) error {
	s, err := snapshotOf(*c)
	if err != nil {
		return err
	}
	bodies, err := protocol.Encode(s, c.MaxBodyBytes)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	if len(bodies) != wantChunks {
		return fmt.Errorf("%s: %d chunks, the case wants %d", c.Name, len(bodies), wantChunks)
	}
	c.GeneratedAt = vectorsGeneratedAt.Format(time.RFC3339)
	c.Canonical = prefixStrings(s.Addresses)
	c.Digest = s.Digest()
	c.BodyBytes, c.Bodies = nil, nil
	for _, b := range bodies {
		c.BodyBytes = append(c.BodyBytes, len(b))
		c.Bodies = append(c.Bodies, string(b))
	}
	return nil
}

// snapshotOf parses a case's input and canonicalizes it into the snapshot to encode.
func snapshotOf(c snapshotCase) (protocol.Snapshot, error) {
	prefixes := make([]netip.Prefix, 0, len(c.Input))
	for _, s := range c.Input {
		p, err := protocol.ParseAddressOrCIDR(s)
		if err != nil {
			return protocol.Snapshot{}, fmt.Errorf("%s: %w", c.Name, err)
		}
		prefixes = append(prefixes, p)
	}
	return protocol.Snapshot{
		Kind: protocol.Kind(c.Kind), Cluster: c.Cluster, Allowlist: c.Allowlist, Sequence: c.Sequence,
		GeneratedAt: vectorsGeneratedAt, Addresses: protocol.Canonicalize(prefixes),
	}, nil
}

// prefixStrings returns the wire spelling of each prefix.
func prefixStrings(list []netip.Prefix) []string {
	out := make([]string, len(list))
	for i, p := range list {
		out[i] = p.String()
	}
	return out
}

// member is one top-level member of a hand-built body, its value as raw JSON.
type member struct {
	name  string
	value string
}

// bodyOf renders members compactly in the given order.
func bodyOf(members []member) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + m.name + `":` + m.value)
	}
	b.WriteByte('}')
	return b.String()
}

// validMembers is a small valid single-chunk snapshot carrying the given entries verbatim, with the
// digest computed over them as they are, so that each invalid case has exactly one flaw.
func validMembers(entries ...string) []member {
	quoted := make([]string, len(entries))
	h := sha256.New()
	for i, e := range entries {
		q, _ := json.Marshal(e)
		quoted[i] = string(q)
		h.Write([]byte(e + "\n"))
	}
	return []member{
		{"protocol", `"nodeallow/v1"`},
		{"kind", `"snapshot"`},
		{"cluster", `"prod"`},
		{"allowlist", `"workers"`},
		{"sequence", `5`},
		{"digest", `"sha256:` + hex.EncodeToString(h.Sum(nil)) + `"`},
		{"generatedAt", `"2026-03-01T12:00:00Z"`},
		{"chunk", `{"index":0,"total":1}`},
		{"addresses", "[" + strings.Join(quoted, ",") + "]"},
	}
}

// baseEntries are the addresses of the base body that most invalid cases start from.
var baseEntries = []string{"10.0.0.1/32", "10.0.0.2/32", "2001:db8::1/128"}

// withMember returns members with one value replaced.
func withMember(members []member, name, value string) []member {
	out := make([]member, 0, len(members))
	for _, m := range members {
		if m.name == name {
			m.value = value
		}
		out = append(out, m)
	}
	return out
}

// withoutMember returns members without one.
func withoutMember(members []member, name string) []member {
	out := make([]member, 0, len(members))
	for _, m := range members {
		if m.name != name {
			out = append(out, m)
		}
	}
	return out
}

// renamedMember returns members with one member's name changed.
func renamedMember(members []member, from, to string) []member {
	out := make([]member, 0, len(members))
	for _, m := range members {
		if m.name == from {
			m.name = to
		}
		out = append(out, m)
	}
	return out
}

// retirementMembers is a valid retirement.
func retirementMembers() []member {
	return withMember(withMember(validMembers(), "kind", `"retirement"`), "digest", `"`+protocol.EmptyDigest+`"`)
}

// invalidCases lists bodies to refuse, for every refusal reason a body alone decides except too-large
// and too-many-addresses, which need more than a mebibyte (the Go tests build those).
func invalidCases() []invalidCase {
	base := validMembers(baseEntries...)
	baseBody := bodyOf(base)
	c := func(name, body, reason string, schemaAccepts bool) invalidCase {
		return invalidCase{Name: name, Body: body, Reason: reason, SchemaAccepts: schemaAccepts}
	}
	schema := func(name string, members []member) invalidCase {
		return c(name, bodyOf(members), protocol.ReasonSchema, false)
	}
	badAddress := func(name, entry string, schemaAccepts bool) invalidCase {
		return c(name, bodyOf(validMembers("10.0.0.1/32", entry)), protocol.ReasonBadAddress, schemaAccepts)
	}
	notCanonical := func(name string, entries ...string) invalidCase {
		return c(name, bodyOf(validMembers(entries...)), protocol.ReasonNotCanonical, true)
	}
	otherDigest := validMembers("10.0.0.3/32")[5].value
	return []invalidCase{
		c("truncated-json", baseBody[:len(baseBody)/2], protocol.ReasonMalformedJSON, false),
		c("empty-body", "", protocol.ReasonMalformedJSON, false),
		c("json-array", `[`+baseBody+`]`, protocol.ReasonMalformedJSON, false),
		c("json-string", `"nodeallow/v1"`, protocol.ReasonMalformedJSON, false),
		c("trailing-data", baseBody+`{}`, protocol.ReasonMalformedJSON, false),
		c("repeated-member", bodyOf(append(withoutMember(base, "addresses"), member{"sequence", "6"}, base[8])), protocol.ReasonMalformedJSON, true),
		c("repeated-member-in-chunk", bodyOf(withMember(base, "chunk", `{"index":0,"total":1,"total":1}`)), protocol.ReasonMalformedJSON, true),

		schema("missing-digest", withoutMember(base, "digest")),
		schema("unknown-member", append(base, member{"comment", `"hello"`})),
		schema("top-level-arg", append(base, member{"arg", `["nodeallow.ingest"]`})),
		schema("member-name-in-other-case", renamedMember(base, "protocol", "Protocol")),
		schema("protocol-v2", withMember(base, "protocol", `"nodeallow/v2"`)),
		schema("kind-unknown", withMember(base, "kind", `"delete"`)),
		schema("cluster-shell-injection", withMember(base, "cluster", `"x; flush ruleset"`)),
		schema("allowlist-uppercase", withMember(base, "allowlist", `"Workers"`)),
		schema("allowlist-path-traversal", withMember(base, "allowlist", `"../workers"`)),
		schema("cluster-64-chars", withMember(base, "cluster", `"`+strings.Repeat("a", 64)+`"`)),
		schema("cluster-empty", withMember(base, "cluster", `""`)),
		schema("cluster-leading-hyphen", withMember(base, "cluster", `"-prod"`)),
		schema("cluster-trailing-newline", withMember(base, "cluster", `"prod\n"`)),
		schema("sequence-zero", withMember(base, "sequence", `0`)),
		schema("sequence-negative", withMember(base, "sequence", `-5`)),
		schema("sequence-above-2^53-1", withMember(base, "sequence", `9007199254740992`)),
		schema("sequence-string", withMember(base, "sequence", `"5"`)),
		schema("sequence-boolean", withMember(base, "sequence", `true`)),
		schema("sequence-null", withMember(base, "sequence", `null`)),
		c("sequence-with-fraction", bodyOf(withMember(base, "sequence", `5.0`)), protocol.ReasonSchema, true),
		c("sequence-with-exponent", bodyOf(withMember(base, "sequence", `5e0`)), protocol.ReasonSchema, true),
		schema("digest-uppercase-hex", withMember(base, "digest", base[5].value[:8]+strings.ToUpper(base[5].value[8:]))),
		schema("digest-other-algorithm", withMember(base, "digest", `"md5:`+strings.Repeat("0", 32)+`"`)),
		schema("digest-short", withMember(base, "digest", base[5].value[:20]+`"`)),
		schema("generatedAt-fraction", withMember(base, "generatedAt", `"2026-03-01T12:00:00.5Z"`)),
		schema("generatedAt-offset", withMember(base, "generatedAt", `"2026-03-01T12:00:00+00:00"`)),
		schema("generatedAt-lowercase-z", withMember(base, "generatedAt", `"2026-03-01t12:00:00z"`)),
		schema("generatedAt-number", withMember(base, "generatedAt", `1772366400`)),
		c("generatedAt-february-30", bodyOf(withMember(base, "generatedAt", `"2026-02-30T12:00:00Z"`)), protocol.ReasonSchema, true),
		schema("too-many-chunks", withMember(base, "chunk", `{"index":0,"total":1001}`)),
		c("chunk-index-not-below-total", bodyOf(withMember(base, "chunk", `{"index":1,"total":1}`)), protocol.ReasonSchema, true),
		schema("chunk-total-zero", withMember(base, "chunk", `{"index":0,"total":0}`)),
		schema("chunk-unknown-member", withMember(base, "chunk", `{"index":0,"total":1,"of":1}`)),
		schema("chunk-missing-total", withMember(base, "chunk", `{"index":0}`)),
		schema("chunk-array", withMember(base, "chunk", `[0,1]`)),
		schema("addresses-not-array", withMember(base, "addresses", `"10.0.0.1/32"`)),
		schema("address-number", withMember(base, "addresses", `[167772161]`)),
		schema("address-null", withMember(base, "addresses", `["10.0.0.1/32",null]`)),
		schema("retirement-with-addresses", withMember(retirementMembers(), "addresses", `["10.0.0.1/32"]`)),
		schema("retirement-with-other-digest", withMember(retirementMembers(), "digest", otherDigest)),
		schema("retirement-split", withMember(retirementMembers(), "chunk", `{"index":0,"total":2}`)),
		schema("split-chunk-without-addresses", withMember(validMembers(), "chunk", `{"index":1,"total":2}`)),

		badAddress("host-bits-set", "10.1.2.3/16", true),
		badAddress("ipv4-without-length", "10.0.0.2", false),
		badAddress("ipv4-leading-zero", "10.0.0.02/32", false),
		badAddress("ipv4-length-above-32", "10.0.0.2/33", false),
		badAddress("length-with-leading-zero", "10.0.0.2/032", false),
		badAddress("ipv4-mapped-ipv6-dotted", "::ffff:10.0.0.2/128", false),
		badAddress("ipv4-mapped-ipv6-hex", "::ffff:a00:2/128", true),
		badAddress("ipv6-zone", "fe80::1%eth0/128", false),
		badAddress("ipv6-uppercase", "2001:DB8::1/128", false),
		badAddress("ipv6-uncompressed", "2001:db8:0:0:0:0:0:1/128", true),
		badAddress("ipv6-leading-zeros", "2001:0db8::1/128", false),
		badAddress("ipv6-compresses-one-group", "2001:db8:1:1:1:1:1::/128", true),
		badAddress("ipv6-host-bits-set", "2001:db8::1/64", true),
		badAddress("empty-string", "", false),
		badAddress("leading-space", " 10.0.0.2/32", false),
		badAddress("hostname", "db.example.com", false),

		notCanonical("unsorted", "10.0.0.2/32", "10.0.0.1/32"),
		notCanonical("text-order-not-numeric-order", "10.0.0.10/32", "10.0.0.9/32"),
		notCanonical("duplicate", "10.0.0.1/32", "10.0.0.1/32"),
		notCanonical("overlapping", "10.0.0.0/8", "10.1.0.0/16"),
		notCanonical("same-network-longer-prefix-first", "10.0.0.0/24", "10.0.0.0/16"),
		notCanonical("ipv6-before-ipv4", "2001:db8::1/128", "10.0.0.1/32"),

		c("digest-mismatch", bodyOf(withMember(base, "digest", otherDigest)), protocol.ReasonDigestMismatch, true),
	}
}

// keyRingChecks covers a rotation: the new key first, the old one second, each signing in turn.
func keyRingChecks(body string) []keyRingCheck {
	newKey, oldKey, otherKey := []byte("nodeallow-new-key"), []byte("nodeallow-old-key"), []byte("another-cluster-key")
	ring := []string{hex.EncodeToString(newKey), hex.EncodeToString(oldKey)}
	check := func(name string, keys []string, header string, match int) keyRingCheck {
		return keyRingCheck{Name: name, KeysHex: keys, Body: body, Header: header, Match: match}
	}
	return []keyRingCheck{
		check("signed-with-new-key", ring, protocol.Sign(newKey, []byte(body)), 0),
		check("signed-with-old-key", ring, protocol.Sign(oldKey, []byte(body)), 1),
		check("signed-with-other-key", ring, protocol.Sign(otherKey, []byte(body)), -1),
		check("old-key-removed", ring[:1], protocol.Sign(oldKey, []byte(body)), -1),
		check("same-key-twice-first-wins", []string{ring[1], ring[1]}, protocol.Sign(oldKey, []byte(body)), 0),
		check("empty-key-never-matches", []string{"", ring[0]}, protocol.Sign(nil, []byte(body)), -1),
		check("no-keys", []string{}, protocol.Sign(newKey, []byte(body)), -1),
	}
}

// limitChecks covers the width limits at and beyond their bounds, with the default limits and others.
func limitChecks() []limitCheck {
	def := limitSettings{
		MinPrefix:     familyLimits{protocol.DefaultMinPrefixIPv4, protocol.DefaultMinPrefixIPv6},
		MaxSpanPrefix: familyLimits{protocol.DefaultMaxSpanPrefixIPv4, protocol.DefaultMaxSpanPrefixIPv6},
	}
	wide := limitSettings{MinPrefix: familyLimits{8, 32}, MaxSpanPrefix: familyLimits{8, 32}}
	strict := limitSettings{MinPrefix: familyLimits{32, 128}, MaxSpanPrefix: familyLimits{28, 124}}
	var v6At48 []string
	for i := 1; i <= 17; i++ {
		v6At48 = append(v6At48, fmt.Sprintf("2001:db8:%x::/48", i))
	}
	c := func(name string, l limitSettings, reason string, addresses ...string) limitCheck {
		return limitCheck{Name: name, Limits: l, Addresses: append([]string{}, addresses...), Reason: reason}
	}
	tooWide := protocol.ReasonTooWide
	return []limitCheck{
		c("host-routes", def, "", "10.0.0.1/32", "10.0.0.2/32", "2001:db8::1/128"),
		c("empty-list", def, ""),
		c("ipv4-at-minimum-prefix", def, "", "10.1.0.0/16"),
		c("ipv4-below-minimum-prefix", def, tooWide, "10.0.0.0/15"),
		c("ipv4-slash-0", def, tooWide, "0.0.0.0/0"),
		c("ipv4-two-slash-1-are-the-world", def, tooWide, "0.0.0.0/1", "128.0.0.0/1"),
		c("ipv6-at-minimum-prefix", def, "", "2001:db8:1::/48"),
		c("ipv6-below-minimum-prefix", def, tooWide, "2001:db8::/47"),
		c("ipv6-two-slash-1-are-the-world", def, tooWide, "::/1", "8000::/1"),
		c("ipv4-span-at-maximum", def, "", "10.0.0.0/16", "10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"),
		c("ipv4-span-one-address-over", def, tooWide, "10.0.0.0/16", "10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16", "10.4.0.1/32"),
		c("ipv6-span-at-maximum", def, "", v6At48[:16]...),
		c("ipv6-span-over", def, tooWide, v6At48...),
		c("families-are-counted-apart", def, "", "10.0.0.0/16", "10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16", "2001:db8:1::/48", "2001:db8:2::/48"),
		c("wider-limits-allow-a-slash-8", wide, "", "10.0.0.0/8", "2001:db8::/32"),
		c("wider-limits-still-refuse-two-slash-8", wide, tooWide, "10.0.0.0/8", "11.0.0.0/8"),
		c("host-routes-only-refuse-a-slash-31", strict, tooWide, "10.0.0.0/31"),
		c("host-routes-only-span-of-16-addresses", strict, "", "10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32", "10.0.0.4/32",
			"10.0.0.5/32", "10.0.0.6/32", "10.0.0.7/32", "10.0.0.8/32", "10.0.0.9/32", "10.0.0.10/32", "10.0.0.11/32",
			"10.0.0.12/32", "10.0.0.13/32", "10.0.0.14/32", "10.0.0.15/32", "10.0.0.16/32"),
		c("host-routes-only-span-of-17-addresses", strict, tooWide, "10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32", "10.0.0.4/32",
			"10.0.0.5/32", "10.0.0.6/32", "10.0.0.7/32", "10.0.0.8/32", "10.0.0.9/32", "10.0.0.10/32", "10.0.0.11/32",
			"10.0.0.12/32", "10.0.0.13/32", "10.0.0.14/32", "10.0.0.15/32", "10.0.0.16/32", "10.0.0.17/32"),
	}
}
