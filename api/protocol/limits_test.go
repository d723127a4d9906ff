// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package protocol

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"strings"
	"testing"
)

func TestSpan128AgainstBigInt(t *testing.T) {
	cases := [][]int{{0}, {31, 31}, {63, 63}, {64}, {80, 80, 80}, {127, 126}, {127, 127}, {127, 127, 0}, {128}}
	max128 := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))
	for _, exps := range cases {
		var s span128
		want := new(big.Int)
		for _, e := range exps {
			s.addPower(e)
			want.Add(want, new(big.Int).Lsh(big.NewInt(1), uint(e)))
		}
		if want.Cmp(max128) > 0 {
			want = max128
		}
		if s.String() != want.String() {
			t.Errorf("sum of 2^%v = %s, want %s", exps, s, want)
		}
		for _, limit := range []int{0, 31, 32, 63, 64, 65, 80, 81, 126, 127} {
			if got, w := s.exceedsPower(limit), want.Cmp(new(big.Int).Lsh(big.NewInt(1), uint(limit))) > 0; got != w {
				t.Errorf("sum of 2^%v exceeds 2^%d = %v, want %v", exps, limit, got, w)
			}
		}
	}
}

func TestCheckLimitsNamesTheEntryOrFamily(t *testing.T) {
	err := CheckLimits([]netip.Prefix{netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("10.8.0.0/13")}, DefaultLimits())
	var r *RefusalError
	if !errors.As(err, &r) || r.Reason != ReasonTooWide || !strings.Contains(r.Detail, "addresses[1] 10.8.0.0/13") || !strings.Contains(r.Detail, "/16") {
		t.Fatalf("CheckLimits = %v, want too-wide naming addresses[1] 10.8.0.0/13 and /16", err)
	}
	var list []netip.Prefix
	for i := range 5 {
		list = append(list, netip.MustParsePrefix(fmt.Sprintf("10.%d.0.0/16", i)))
	}
	err = CheckLimits(list, DefaultLimits())
	if !errors.As(err, &r) || r.Reason != ReasonTooWide || !strings.Contains(r.Detail, "IPv4 entries cover 327680 addresses") || !strings.Contains(r.Detail, "262144") {
		t.Fatalf("CheckLimits = %v, want too-wide naming the IPv4 span 327680 and the maximum 262144", err)
	}
}

func TestCheckLimitsRefusesLimitsThatAllowEverything(t *testing.T) {
	for _, l := range []Limits{{}, {MinPrefixIPv4: 16, MinPrefixIPv6: 48, MaxSpanPrefixIPv4: 0, MaxSpanPrefixIPv6: 44},
		{MinPrefixIPv4: 33, MinPrefixIPv6: 48, MaxSpanPrefixIPv4: 14, MaxSpanPrefixIPv6: 44}} {
		err := CheckLimits(nil, l)
		var r *RefusalError
		if err == nil || errors.As(err, &r) {
			t.Errorf("CheckLimits with %+v = %v, want a configuration error (not a refusal)", l, err)
		}
	}
}
