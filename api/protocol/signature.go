// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package protocol

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// signaturePrefix starts every signature header value (GitHub's webhook format).
const signaturePrefix = "sha256="

// Sign returns the X-Hub-Signature-256 value for body: "sha256=" and the lowercase hex HMAC-SHA256 of
// the exact body bytes under key.
func Sign(key, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	return signaturePrefix + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether header is exactly Sign(key, body), comparing the MACs in constant time. An
// empty key never verifies, so a receiver without a configured key cannot accept anything.
func Verify(key, body []byte, header string) bool {
	if len(key) == 0 || !strings.HasPrefix(header, signaturePrefix) {
		return false
	}
	hexMAC := header[len(signaturePrefix):]
	// Only lowercase hex is the wire form; hex.DecodeString would also accept uppercase.
	if len(hexMAC) != 2*sha256.Size || strings.ToLower(hexMAC) != hexMAC {
		return false
	}
	got, err := hex.DecodeString(hexMAC)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// VerifyAny reports the index of the first key under which header is Sign(key, body), or -1. It checks
// every key, also after a match, so that the time taken does not say which key matched: a receiver
// holds a cluster's new key and its old one during a rotation (docs/security.md).
func VerifyAny(keys [][]byte, body []byte, header string) int {
	match := -1
	for i, key := range keys {
		if Verify(key, body, header) && match < 0 {
			match = i
		}
	}
	return match
}
