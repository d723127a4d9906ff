// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package protocol_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/nodeallow/nodeallow/api/protocol"
	"github.com/nodeallow/nodeallow/test/receiver"
)

// update rewrites vectors.json from the generator instead of comparing with it.
var update = flag.Bool("update", false, "rewrite test/protocol/v1/vectors.json from the generator")

const (
	vectorsPath = "../../test/protocol/v1/vectors.json"
	schemaPath  = "../../test/protocol/v1/schema.json"
)

// TestVectorsFileIsCurrent fails when vectors.json differs from what the generator produces now.
func TestVectorsFileIsCurrent(t *testing.T) {
	v, err := generateVectors()
	if err != nil {
		t.Fatalf("generate vectors: %v", err)
	}
	want, err := marshalVectors(v)
	if err != nil {
		t.Fatalf("marshal vectors: %v", err)
	}
	if *update {
		if err := os.WriteFile(vectorsPath, want, 0o644); err != nil {
			t.Fatalf("write %s: %v", vectorsPath, err)
		}
		return
	}
	got, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatalf("read %s: %v", vectorsPath, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: regenerate it with `go test ./api/protocol -run TestVectorsFileIsCurrent -update` and review the diff", vectorsPath)
	}
}

// loadVectors reads vectors.json as committed, so the checks below hold for the file other
// implementations read, not just for the generator.
func loadVectors(t *testing.T) vectorFile {
	t.Helper()
	raw, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatalf("read %s: %v", vectorsPath, err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var v vectorFile
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("parse %s: %v", vectorsPath, err)
	}
	if len(v.Signatures) == 0 || len(v.SignatureChecks) == 0 || len(v.Snapshots) == 0 || len(v.Invalid) == 0 ||
		len(v.KeyRingChecks) == 0 || len(v.LimitChecks) == 0 {
		t.Fatalf("%s lacks a section", vectorsPath)
	}
	return v
}

var (
	schemaOnce     sync.Once
	compiledSchema *jsonschema.Schema
	schemaErr      error
)

// bodySchema compiles schema.json once.
func bodySchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	schemaOnce.Do(func() {
		f, err := os.Open(schemaPath)
		if err != nil {
			schemaErr = err
			return
		}
		defer f.Close()
		doc, err := jsonschema.UnmarshalJSON(f)
		if err != nil {
			schemaErr = err
			return
		}
		c := jsonschema.NewCompiler()
		if err := c.AddResource("schema.json", doc); err != nil {
			schemaErr = err
			return
		}
		compiledSchema, schemaErr = c.Compile("schema.json")
	})
	if schemaErr != nil {
		t.Fatalf("load %s: %v", schemaPath, schemaErr)
	}
	return compiledSchema
}

// schemaAccepts reports whether body parses as JSON and validates against schema.json.
func schemaAccepts(t *testing.T, body string) (bool, error) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(body))
	if err != nil {
		return false, err
	}
	err = bodySchema(t).Validate(inst)
	return err == nil, err
}

func TestSignatureVectors(t *testing.T) {
	v := loadVectors(t)
	// MACs published in RFC 4231, so the file is anchored to something outside this code base.
	published := map[string]string{
		"rfc4231-case-2": "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
		"rfc4231-case-6": "sha256=60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
	}
	for _, c := range v.Signatures {
		t.Run(c.Name, func(t *testing.T) {
			key, err := hex.DecodeString(c.KeyHex)
			if err != nil {
				t.Fatalf("keyHex: %v", err)
			}
			if got := protocol.Sign(key, []byte(c.Body)); got != c.Header {
				t.Errorf("Sign = %s, vector says %s", got, c.Header)
			}
			if !protocol.Verify(key, []byte(c.Body), c.Header) {
				t.Errorf("Verify refused the vector's header")
			}
			if want, ok := published[c.Name]; ok && c.Header != want {
				t.Errorf("header %s differs from RFC 4231's %s", c.Header, want)
			}
		})
	}
	for name := range published {
		if !slices.ContainsFunc(v.Signatures, func(c signatureCase) bool { return c.Name == name }) {
			t.Errorf("signature vector %s is missing", name)
		}
	}
	for _, c := range v.SignatureChecks {
		t.Run("check/"+c.Name, func(t *testing.T) {
			key, err := hex.DecodeString(c.KeyHex)
			if err != nil {
				t.Fatalf("keyHex: %v", err)
			}
			if got := protocol.Verify(key, []byte(c.Body), c.Header); got != c.Valid {
				t.Errorf("Verify(%q) = %v, want %v", c.Header, got, c.Valid)
			}
		})
	}
}

func TestSnapshotVectors(t *testing.T) {
	v := loadVectors(t)
	for _, c := range v.Snapshots {
		t.Run(c.Name, func(t *testing.T) {
			s, err := snapshotOf(c)
			if err != nil {
				t.Fatal(err)
			}
			if at, err := time.Parse(time.RFC3339, c.GeneratedAt); err != nil || !at.Equal(s.GeneratedAt) {
				t.Fatalf("generatedAt %q is not the generator's fixed time (%v)", c.GeneratedAt, err)
			}
			if got := prefixStrings(s.Addresses); !slices.Equal(got, c.Canonical) {
				t.Errorf("Canonicalize = %q\nvector says    %q", got, c.Canonical)
			}
			if got := s.Digest(); got != c.Digest {
				t.Errorf("Digest = %s, vector says %s", got, c.Digest)
			}
			// The digest's definition, computed without the package.
			h := sha256.New()
			for _, e := range c.Canonical {
				h.Write([]byte(e + "\n"))
			}
			if want := "sha256:" + hex.EncodeToString(h.Sum(nil)); c.Digest != want {
				t.Errorf("vector digest %s is not SHA-256 of the canonical lines (%s)", c.Digest, want)
			}

			bodies, err := protocol.Encode(s, c.MaxBodyBytes)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if len(bodies) != len(c.Bodies) {
				t.Fatalf("Encode made %d bodies, vector has %d", len(bodies), len(c.Bodies))
			}
			decoded := make([]*receiver.Body, len(bodies))
			for i, b := range bodies {
				if string(b) != c.Bodies[i] {
					t.Errorf("body %d:\n got %s\nwant %s", i, b, c.Bodies[i])
				}
				if len(b) > c.MaxBodyBytes || len(b) != c.BodyBytes[i] {
					t.Errorf("body %d has %d bytes; vector says %d, limit %d", i, len(b), c.BodyBytes[i], c.MaxBodyBytes)
				}
				d, err := receiver.Decode([]byte(c.Bodies[i]))
				if err != nil {
					t.Fatalf("Decode(body %d): %v", i, err)
				}
				decoded[i] = d
				if again := marshalNoEscape(t, d); again != c.Bodies[i] {
					t.Errorf("encoding/json renders the decoded body %d differently:\n got %s\nwant %s", i, again, c.Bodies[i])
				}
				if ok, err := schemaAccepts(t, c.Bodies[i]); !ok {
					t.Errorf("schema.json refuses body %d: %v", i, err)
				}
			}
			// Chunks may arrive in any order and twice.
			shuffled := append(slices.Clone(decoded), decoded[0])
			slices.Reverse(shuffled)
			got, err := receiver.Assemble(shuffled)
			if err != nil {
				t.Fatalf("Assemble: %v", err)
			}
			if !slices.Equal(got.Addresses, s.Addresses) || got.Sequence != s.Sequence || got.Kind != s.Kind || !got.GeneratedAt.Equal(s.GeneratedAt) {
				t.Errorf("Assemble = %+v, want %+v", got, s)
			}
		})
	}
}

// marshalNoEscape renders v with encoding/json, without HTML escaping or a trailing newline.
func marshalNoEscape(t *testing.T, v any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func TestInvalidVectors(t *testing.T) {
	v := loadVectors(t)
	seen := map[string]bool{}
	for _, c := range v.Invalid {
		seen[c.Reason] = true
		t.Run(c.Name, func(t *testing.T) {
			_, err := receiver.Decode([]byte(c.Body))
			var refusal *protocol.RefusalError
			if !errors.As(err, &refusal) {
				t.Fatalf("Decode = %v, want a refusal with reason %s", err, c.Reason)
			}
			if refusal.Reason != c.Reason {
				t.Errorf("Decode refused with %q (%s), want %q", refusal.Reason, refusal.Detail, c.Reason)
			}
			ok, serr := schemaAccepts(t, c.Body)
			if ok != c.SchemaAccepts {
				t.Errorf("schema.json accepts = %v (%v), vector says %v", ok, serr, c.SchemaAccepts)
			}
		})
	}
	for _, reason := range []string{protocol.ReasonMalformedJSON, protocol.ReasonSchema, protocol.ReasonBadAddress, protocol.ReasonNotCanonical, protocol.ReasonDigestMismatch} {
		if !seen[reason] {
			t.Errorf("no invalid vector has reason %s", reason)
		}
	}
}

// loadVectorsForFuzz returns every body in the vector file, valid or not, as fuzzing seeds.
func loadVectorsForFuzz(raw []byte) []string {
	var v vectorFile
	if json.Unmarshal(raw, &v) != nil {
		return nil
	}
	var out []string
	for _, s := range v.Snapshots {
		out = append(out, s.Bodies...)
	}
	for _, c := range v.Invalid {
		out = append(out, c.Body)
	}
	return out
}

func TestKeyRingVectors(t *testing.T) {
	for _, c := range loadVectors(t).KeyRingChecks {
		t.Run(c.Name, func(t *testing.T) {
			keys := make([][]byte, 0, len(c.KeysHex))
			for _, k := range c.KeysHex {
				key, err := hex.DecodeString(k)
				if err != nil {
					t.Fatalf("keysHex %q: %v", k, err)
				}
				keys = append(keys, key)
			}
			if got := protocol.VerifyAny(keys, []byte(c.Body), c.Header); got != c.Match {
				t.Errorf("VerifyAny = %d, vector says %d", got, c.Match)
			}
		})
	}
}

func TestLimitVectors(t *testing.T) {
	for _, c := range loadVectors(t).LimitChecks {
		t.Run(c.Name, func(t *testing.T) {
			list := make([]netip.Prefix, 0, len(c.Addresses))
			for _, a := range c.Addresses {
				list = append(list, netip.MustParsePrefix(a))
			}
			if !slices.Equal(prefixStrings(protocol.Canonicalize(list)), c.Addresses) {
				t.Fatalf("the vector's addresses are not canonical: %v", c.Addresses)
			}
			l := protocol.Limits{MinPrefixIPv4: c.Limits.MinPrefix.IPv4, MinPrefixIPv6: c.Limits.MinPrefix.IPv6,
				MaxSpanPrefixIPv4: c.Limits.MaxSpanPrefix.IPv4, MaxSpanPrefixIPv6: c.Limits.MaxSpanPrefix.IPv6}
			err := protocol.CheckLimits(list, l)
			got := ""
			if err != nil {
				var refusal *protocol.RefusalError
				if !errors.As(err, &refusal) {
					t.Fatalf("CheckLimits: %v, want a *RefusalError", err)
				}
				got = refusal.Reason
			}
			if got != c.Reason {
				t.Errorf("CheckLimits = %q (%v), vector says %q", got, err, c.Reason)
			}
		})
	}
}
