// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package protocol

import (
	"fmt"
	"math/bits"
	"net/netip"
)

// Default width limits of a snapshot (docs/protocol.md, "Width limits"); the CRD's defaults and the Salt
// side's defaults are the same numbers.
const (
	// DefaultMinPrefixIPv4 is the shortest IPv4 prefix a snapshot may hold: a /16 (65536 addresses).
	DefaultMinPrefixIPv4 = 16
	// DefaultMinPrefixIPv6 is the shortest IPv6 prefix a snapshot may hold: a /48 (one site).
	DefaultMinPrefixIPv6 = 48
	// DefaultMaxSpanPrefixIPv4 bounds all IPv4 entries together to the size of one /14 (262144
	// addresses, four /16s), so that many narrow prefixes cannot add up to the world.
	DefaultMaxSpanPrefixIPv4 = 14
	// DefaultMaxSpanPrefixIPv6 bounds all IPv6 entries together to the size of one /44 (sixteen /48s).
	DefaultMaxSpanPrefixIPv6 = 44
)

// Limits bounds how much of the address space one snapshot may open, per family. A prefix-equivalent P
// means "as many addresses as one /P": all entries of the family together may cover at most 2^(bits-P).
type Limits struct {
	// MinPrefixIPv4 is the shortest IPv4 prefix length allowed, 1 … 32.
	MinPrefixIPv4 int
	// MinPrefixIPv6 is the shortest IPv6 prefix length allowed, 1 … 128.
	MinPrefixIPv6 int
	// MaxSpanPrefixIPv4 is the prefix-equivalent of the most IPv4 addresses all entries may cover, 1 … 32.
	MaxSpanPrefixIPv4 int
	// MaxSpanPrefixIPv6 is the prefix-equivalent of the most IPv6 addresses all entries may cover, 1 … 128.
	MaxSpanPrefixIPv6 int
}

// DefaultLimits returns the protocol's default width limits.
func DefaultLimits() Limits {
	return Limits{
		MinPrefixIPv4: DefaultMinPrefixIPv4, MinPrefixIPv6: DefaultMinPrefixIPv6,
		MaxSpanPrefixIPv4: DefaultMaxSpanPrefixIPv4, MaxSpanPrefixIPv6: DefaultMaxSpanPrefixIPv6,
	}
}

// validate refuses limits that would allow the whole address space (a zero means "unset", never "any").
func (l Limits) validate() error {
	for _, f := range []struct {
		name       string
		value, max int
	}{
		{"MinPrefixIPv4", l.MinPrefixIPv4, 32}, {"MinPrefixIPv6", l.MinPrefixIPv6, 128},
		{"MaxSpanPrefixIPv4", l.MaxSpanPrefixIPv4, 32}, {"MaxSpanPrefixIPv6", l.MaxSpanPrefixIPv6, 128},
	} {
		if f.value < 1 || f.value > f.max {
			return fmt.Errorf("width limit %s is %d, must be 1 … %d", f.name, f.value, f.max)
		}
	}
	return nil
}

// span128 is an unsigned 128-bit count of addresses (one IPv6 /1 is 2^127), saturating at 2^128-1.
type span128 struct{ hi, lo uint64 }

// addPower adds 2^exp (0 ≤ exp ≤ 128) and saturates instead of wrapping.
func (s *span128) addPower(exp int) {
	var hi, lo uint64
	switch {
	case exp >= 128:
		s.hi, s.lo = ^uint64(0), ^uint64(0)
		return
	case exp >= 64:
		hi = 1 << (exp - 64)
	default:
		lo = 1 << exp
	}
	var carry uint64
	s.lo, carry = bits.Add64(s.lo, lo, 0)
	var overflow uint64
	s.hi, overflow = bits.Add64(s.hi, hi, carry)
	if overflow != 0 {
		s.hi, s.lo = ^uint64(0), ^uint64(0)
	}
}

// exceedsPower reports whether s > 2^exp (0 ≤ exp < 128).
func (s span128) exceedsPower(exp int) bool {
	if exp >= 64 {
		limit := uint64(1) << (exp - 64)
		return s.hi > limit || (s.hi == limit && s.lo > 0)
	}
	return s.hi > 0 || s.lo > uint64(1)<<exp
}

// String returns the count in decimal, for refusal details.
func (s span128) String() string {
	if s.hi == 0 {
		return fmt.Sprint(s.lo)
	}
	// 2^64·hi + lo in decimal without math/big: repeated division by 10 over both words.
	var digits []byte
	hi, lo := s.hi, s.lo
	for hi != 0 || lo != 0 {
		var rem uint64
		hi, rem = bits.Div64(0, hi, 10)
		lo, rem = bits.Div64(rem, lo, 10)
		digits = append(digits, "0123456789"[rem])
	}
	for i, j := 0, len(digits)-1; i < j; i, j = i+1, j-1 {
		digits[i], digits[j] = digits[j], digits[i]
	}
	return string(digits)
}

// CheckLimits refuses (too-wide) a canonical address list with a prefix shorter than the family's
// minimum, or whose entries of one family together cover more addresses than the family's maximum span.
// It checks the prefix lengths first, then the spans; the detail names the first entry or the family.
// The list must be canonical (non-overlapping), so the sum of the entries' sizes is the span.
func CheckLimits(list []netip.Prefix, l Limits) error {
	if err := l.validate(); err != nil {
		return err
	}
	var span [2]span128
	for i, p := range list {
		v6, minLen, bitsLen := 0, l.MinPrefixIPv4, 32
		if p.Addr().Is6() {
			v6, minLen, bitsLen = 1, l.MinPrefixIPv6, 128
		}
		if p.Bits() < minLen {
			return refuse(ReasonTooWide, "addresses[%d] %s is wider than the shortest allowed IPv%d prefix, /%d",
				i, p, 4+2*v6, minLen)
		}
		span[v6].addPower(bitsLen - p.Bits())
	}
	for v6, maxSpan := range []int{l.MaxSpanPrefixIPv4, l.MaxSpanPrefixIPv6} {
		bitsLen := []int{32, 128}[v6]
		if span[v6].exceedsPower(bitsLen - maxSpan) {
			return refuse(ReasonTooWide, "the IPv%d entries cover %s addresses together, more than one /%d (%s): "+
				"many narrow prefixes must not add up to a wide one", 4+2*v6, span[v6], maxSpan, powerOfTwo(bitsLen-maxSpan))
		}
	}
	return nil
}

// powerOfTwo spells 2^exp in decimal.
func powerOfTwo(exp int) string {
	var s span128
	s.addPower(exp)
	return s.String()
}

// OrDefaults returns l with every unset (zero) limit replaced by its default, so that an object that
// bypassed the API server's defaulting is held to the defaults rather than to nothing.
func (l Limits) OrDefaults() Limits {
	d := DefaultLimits()
	for _, f := range []struct{ v, def *int }{
		{&l.MinPrefixIPv4, &d.MinPrefixIPv4}, {&l.MinPrefixIPv6, &d.MinPrefixIPv6},
		{&l.MaxSpanPrefixIPv4, &d.MaxSpanPrefixIPv4}, {&l.MaxSpanPrefixIPv6, &d.MaxSpanPrefixIPv6},
	} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	return l
}
