// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package plan

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/nodeallow/nodeallow/api/protocol"
)

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestComputeIsCanonicalAndOrderFree(t *testing.T) {
	a := Compute(mustPrefixes("fd00::1/128", "10.0.0.2/32", "10.0.0.1/32", "10.0.0.2/32", "10.0.0.0/24"))
	b := Compute(mustPrefixes("10.0.0.0/24", "fd00::1/128"))
	if a.Digest != b.Digest {
		t.Fatalf("digests differ for the same set: %s vs %s", a.Digest, b.Digest)
	}
	if want := mustPrefixes("10.0.0.0/24", "fd00::1/128"); !slices.Equal(a.Addresses, want) {
		t.Fatalf("Addresses = %v, want %v", a.Addresses, want)
	}
	if Compute(nil).Digest != protocol.EmptyDigest {
		t.Fatalf("empty digest = %s, want %s", Compute(nil).Digest, protocol.EmptyDigest)
	}
}

func TestDecide(t *testing.T) {
	one := Compute(mustPrefixes("10.0.0.1/32"))
	two := Compute(mustPrefixes("10.0.0.1/32", "10.0.0.2/32"))
	four := Compute(mustPrefixes("10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32", "10.0.0.4/32"))
	world := Compute(mustPrefixes("0.0.0.0/1", "128.0.0.0/1"))
	fiveSlash16 := Compute(mustPrefixes("10.0.0.0/16", "10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16", "10.4.0.0/16"))
	min1 := Guards{MinAddresses: 1}
	shrink50 := Guards{MinAddresses: 1, MaxShrinkPercent: 50}
	published4 := Recorded{Sequence: 4, Digest: four.Digest, PublishedSequence: 4, PublishedAddresses: 4}
	cases := []struct {
		name   string
		rec    Recorded
		d      Desired
		g      Guards
		resync bool
		want   Decision
		says   string
	}{
		{"first publish allocates 1", Recorded{}, one, min1, false, Decision{Action: Publish, Sequence: 1, Allocate: true, Why: Changed}, ""},
		{"published and unchanged does nothing", Recorded{Sequence: 4, Digest: one.Digest, PublishedSequence: 4}, one, min1, false, Decision{Action: Nothing}, ""},
		{"resync re-sends the same sequence", Recorded{Sequence: 4, Digest: one.Digest, PublishedSequence: 4}, one, min1, true, Decision{Action: Publish, Sequence: 4, Why: Resync}, ""},
		{"a change takes the next sequence", Recorded{Sequence: 4, Digest: one.Digest, PublishedSequence: 4}, two, min1, false, Decision{Action: Publish, Sequence: 5, Allocate: true, Why: Changed}, ""},
		{"allocated but unacknowledged is re-sent", Recorded{Sequence: 5, Digest: two.Digest, PublishedSequence: 4}, two, min1, false, Decision{Action: Publish, Sequence: 5, Why: Unfinished}, ""},
		{"allocated, unacknowledged and changed again skips it", Recorded{Sequence: 5, Digest: two.Digest, PublishedSequence: 4}, one, min1, false, Decision{Action: Publish, Sequence: 6, Allocate: true, Why: Changed}, ""},
		{"below the minimum holds", Recorded{Sequence: 4, Digest: two.Digest, PublishedSequence: 4}, one, Guards{MinAddresses: 2}, true, Decision{Action: HoldBelowMinimum}, "spec.minAddresses"},
		{"an empty snapshot holds at the default minimum", Recorded{}, Compute(nil), min1, false, Decision{Action: HoldBelowMinimum}, "spec.minAddresses"},

		{"two /1 hold under the default limits", Recorded{}, world, min1, false, Decision{Action: HoldTooWide}, "addresses[0] 0.0.0.0/1"},
		{"five /16 exceed the default span", Recorded{}, fiveSlash16, min1, false, Decision{Action: HoldTooWide}, "spec.limits"},
		{"five /16 pass a widened span", Recorded{}, fiveSlash16, Guards{MinAddresses: 1, Limits: protocol.Limits{MaxSpanPrefixIPv4: 12}}, false,
			Decision{Action: Publish, Sequence: 1, Allocate: true, Why: Changed}, ""},
		{"a published set that became too wide holds its resync too", Recorded{Sequence: 4, Digest: fiveSlash16.Digest, PublishedSequence: 4}, fiveSlash16, min1, true,
			Decision{Action: HoldTooWide}, "IPv4 entries cover 327680"},

		{"dropping half of the published set is within 50%", published4, two, shrink50, false, Decision{Action: Publish, Sequence: 5, Allocate: true, Why: Changed}, ""},
		{"dropping three quarters holds", published4, one, shrink50, false, Decision{Action: HoldShrink}, AllowShrinkAnnotation + "=4:" + one.Digest},
		{"the annotation naming the published sequence and held digest releases it", published4, one, Guards{MinAddresses: 1, MaxShrinkPercent: 50, ShrinkAcknowledged: "4:" + one.Digest}, false,
			Decision{Action: Publish, Sequence: 5, Allocate: true, Why: Changed}, ""},
		{"an annotation for another digest does not", published4, one, Guards{MinAddresses: 1, MaxShrinkPercent: 50, ShrinkAcknowledged: "4:" + two.Digest}, false,
			Decision{Action: HoldShrink}, "75% fewer than the 4 of published sequence 4"},
		{"an annotation from an earlier shrink to the same set does not", published4, one, Guards{MinAddresses: 1, MaxShrinkPercent: 50, ShrinkAcknowledged: "2:" + one.Digest}, false,
			Decision{Action: HoldShrink}, "75% fewer"},
		{"without maxShrinkPercent nothing holds a shrink", published4, one, min1, false, Decision{Action: Publish, Sequence: 5, Allocate: true, Why: Changed}, ""},
		{"the first publish has nothing to shrink from", Recorded{}, one, shrink50, false, Decision{Action: Publish, Sequence: 1, Allocate: true, Why: Changed}, ""},
		{"an unknown published count holds nothing", Recorded{Sequence: 4, Digest: four.Digest, PublishedSequence: 4}, one, shrink50, false,
			Decision{Action: Publish, Sequence: 5, Allocate: true, Why: Changed}, ""},
		{"growing is never a shrink", Recorded{Sequence: 4, Digest: one.Digest, PublishedSequence: 4, PublishedAddresses: 1}, four, Guards{MinAddresses: 1, MaxShrinkPercent: 1}, false,
			Decision{Action: Publish, Sequence: 5, Allocate: true, Why: Changed}, ""},
		{"an allocated shrink already passed the guard", Recorded{Sequence: 5, Digest: one.Digest, PublishedSequence: 4, PublishedAddresses: 4}, one, shrink50, false,
			Decision{Action: Publish, Sequence: 5, Why: Unfinished}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decide(tc.rec, tc.d, tc.g, tc.resync)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			msg := got.Message
			got.Message = ""
			if got != tc.want {
				t.Fatalf("Decide = %+v, want %+v", got, tc.want)
			}
			if (tc.says == "") != (msg == "") || !strings.Contains(msg, tc.says) {
				t.Fatalf("message %q, want one containing %q", msg, tc.says)
			}
		})
	}
}

func TestDecideRefusesToOverflowTheSequence(t *testing.T) {
	_, err := Decide(Recorded{Sequence: protocol.MaxSequence, Digest: "sha256:old"}, Compute(mustPrefixes("10.0.0.1/32")), Guards{MinAddresses: 1}, false)
	if err == nil {
		t.Fatal("Decide at the maximum sequence succeeded, want an error")
	}
}

func TestDecideRefusesLimitsThatAllowEverything(t *testing.T) {
	_, err := Decide(Recorded{}, Compute(mustPrefixes("10.0.0.1/32")), Guards{MinAddresses: 1, Limits: protocol.Limits{MinPrefixIPv4: 40}}, false)
	if err == nil || !strings.Contains(err.Error(), "spec.limits") {
		t.Fatalf("Decide with MinPrefixIPv4 40 = %v, want an error naming spec.limits", err)
	}
}

func TestRetirement(t *testing.T) {
	cases := []struct {
		name             string
		rec              Recorded
		seq              int64
		allocate, needed bool
	}{
		{"never allocated: nothing to retire", Recorded{}, 0, false, false},
		{"after a snapshot: next sequence, allocated first", Recorded{Sequence: 7, Digest: "sha256:abc", PublishedSequence: 7}, 8, true, true},
		{"after an unacknowledged snapshot: still the next", Recorded{Sequence: 7, Digest: "sha256:abc", PublishedSequence: 6}, 8, true, true},
		{"retirement already allocated: re-send it", Recorded{Sequence: 8, Digest: protocol.EmptyDigest, PublishedSequence: 7}, 8, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			seq, allocate, needed := Retirement(tc.rec)
			if seq != tc.seq || allocate != tc.allocate || needed != tc.needed {
				t.Fatalf("Retirement = (%d, %v, %v), want (%d, %v, %v)", seq, allocate, needed, tc.seq, tc.allocate, tc.needed)
			}
		})
	}
}
