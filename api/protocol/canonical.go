// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package protocol

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// ParseAddressOrCIDR parses a node address or a static CIDR as users and Kubernetes write them: a single
// address becomes a /32 or /128 prefix. Host bits and IPv4-mapped forms are accepted here (Canonicalize
// fixes them); zones are refused because a firewall rule cannot carry one. It and ParseAddress are the
// only parsers of address text the controller has.
func ParseAddressOrCIDR(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("parse %q as a CIDR: %w", s, err)
		}
		return p, nil
	}
	a, err := ParseAddress(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ParseAddress parses a single IP address as users and Kubernetes write it, refusing zones (see
// ParseAddressOrCIDR).
func ParseAddress(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("parse %q as an IP address: %w", s, err)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("parse %q: IPv6 zones cannot be allowlisted; use the address without %%%s", s, a.Zone())
	}
	return a, nil
}

// Canonicalize returns the canonical form of a list of prefixes: host bits masked, IPv4-mapped IPv6
// prefixes (::ffff:a.b.c.d/96+n) converted to IPv4, duplicates and prefixes covered by another entry
// dropped, sorted IPv4 before IPv6, then by network address, then by prefix length. Invalid (zero)
// prefixes are dropped. The input is not modified.
func Canonicalize(in []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(in))
	for _, p := range in {
		if !p.IsValid() {
			continue
		}
		p = p.Masked()
		// A mapped prefix only stays mapped after masking when it keeps all 96 bits of ::ffff:0:0/96.
		if a := p.Addr(); a.Is4In6() {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		out = append(out, p)
	}
	slices.SortFunc(out, comparePrefixes)
	// In sorted order a covering prefix precedes everything it covers, and kept entries never overlap,
	// so comparing with the last kept entry is enough.
	kept := out[:0]
	for _, p := range out {
		if n := len(kept); n > 0 && kept[n-1].Bits() <= p.Bits() && kept[n-1].Contains(p.Addr()) {
			continue
		}
		kept = append(kept, p)
	}
	return slices.Clip(kept)
}

// comparePrefixes orders prefixes as the canonical list does; netip.Prefix.Compare sorts by length
// before address, which is not the protocol's order.
func comparePrefixes(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// Digest returns "sha256:" and the lowercase hex SHA-256 of every entry of a canonical list followed by
// a newline.
func Digest(canonical []netip.Prefix) string {
	h := sha256.New()
	buf := make([]byte, 0, 64)
	for _, p := range canonical {
		buf = p.AppendTo(buf[:0])
		buf = append(buf, '\n')
		h.Write(buf)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// CheckCanonical returns a *RefusalError (bad-address or not-canonical) naming the first entry that keeps
// list from being canonical, or nil.
func CheckCanonical(list []netip.Prefix) error {
	if err := checkCanonical(list); err != nil {
		return err
	}
	return nil
}

// checkCanonical is CheckCanonical with a concrete error type, so that a nil *RefusalError never becomes a
// non-nil error.
func checkCanonical(list []netip.Prefix) *RefusalError {
	for i, p := range list {
		if !isCanonicalEntry(p) {
			return refuse(ReasonBadAddress, "addresses[%d] %q is not a canonical prefix", i, p.String())
		}
		if i > 0 {
			if err := checkOrder(list[i-1], p, i); err != nil {
				return err
			}
		}
	}
	return nil
}

// isCanonicalEntry reports whether p may appear in a canonical list at all.
func isCanonicalEntry(p netip.Prefix) bool {
	return p.IsValid() && p == p.Masked() && !p.Addr().Is4In6() && p.Addr().Zone() == ""
}

// checkOrder checks that entry i (cur) follows entry i-1 (prev) in a canonical list; in a sorted list
// an overlap always shows between neighbours, so this is the whole overlap check.
func checkOrder(prev, cur netip.Prefix, i int) *RefusalError {
	switch c := comparePrefixes(prev, cur); {
	case c == 0:
		return refuse(ReasonNotCanonical, "addresses[%d] %s repeats the entry before it", i, cur)
	case c > 0:
		return refuse(ReasonNotCanonical, "addresses[%d] %s sorts before the entry before it, %s", i, cur, prev)
	case prev.Contains(cur.Addr()):
		return refuse(ReasonNotCanonical, "addresses[%d] %s overlaps the entry before it, %s", i, cur, prev)
	}
	return nil
}
