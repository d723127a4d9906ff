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

func TestNext(t *testing.T) {
	one := Compute(mustPrefixes("10.0.0.1/32"))
	two := Compute(mustPrefixes("10.0.0.1/32", "10.0.0.2/32"))
	four := Compute(mustPrefixes("10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32", "10.0.0.4/32"))
	world := Compute(mustPrefixes("0.0.0.0/1", "128.0.0.0/1"))
	fiveSlash16 := Compute(mustPrefixes("10.0.0.0/16", "10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16", "10.4.0.0/16"))
	min1 := guards{minAddresses: 1}
	shrink50 := guards{minAddresses: 1, maxShrinkPercent: 50}
	published4 := recorded{sequence: 4, digest: four.Digest, publishedSequence: 4, publishedAddresses: 4}
	cases := []struct {
		name   string
		rec    recorded
		d      Desired
		g      guards
		resync bool
		want   step
		says   string
	}{
		{"first publish allocates 1", recorded{}, one, min1, false, step{send: true, sequence: 1, allocate: true, why: Changed}, ""},
		{"published and unchanged does nothing", recorded{sequence: 4, digest: one.Digest, publishedSequence: 4}, one, min1, false, step{}, ""},
		{"resync re-sends the same sequence", recorded{sequence: 4, digest: one.Digest, publishedSequence: 4}, one, min1, true, step{send: true, sequence: 4, why: Resync}, ""},
		{"a change takes the next sequence", recorded{sequence: 4, digest: one.Digest, publishedSequence: 4}, two, min1, false, step{send: true, sequence: 5, allocate: true, why: Changed}, ""},
		{"allocated but unacknowledged is re-sent", recorded{sequence: 5, digest: two.Digest, publishedSequence: 4}, two, min1, false, step{send: true, sequence: 5, why: Unfinished}, ""},
		{"allocated, unacknowledged and changed again skips it", recorded{sequence: 5, digest: two.Digest, publishedSequence: 4}, one, min1, false, step{send: true, sequence: 6, allocate: true, why: Changed}, ""},
		{"below the minimum holds", recorded{sequence: 4, digest: two.Digest, publishedSequence: 4}, one, guards{minAddresses: 2}, true, step{hold: ReasonBelowMinimum}, "spec.minAddresses"},
		{"an empty snapshot holds at the default minimum", recorded{}, Compute(nil), min1, false, step{hold: ReasonBelowMinimum}, "spec.minAddresses"},

		{"two /1 hold under the default limits", recorded{}, world, min1, false, step{hold: ReasonTooWide}, "addresses[0] 0.0.0.0/1"},
		{"five /16 exceed the default span", recorded{}, fiveSlash16, min1, false, step{hold: ReasonTooWide}, "spec.limits"},
		{"five /16 pass a widened span", recorded{}, fiveSlash16, guards{minAddresses: 1, limits: protocol.Limits{MaxSpanPrefixIPv4: 12}}, false,
			step{send: true, sequence: 1, allocate: true, why: Changed}, ""},
		{"a published set that became too wide holds its resync too", recorded{sequence: 4, digest: fiveSlash16.Digest, publishedSequence: 4}, fiveSlash16, min1, true,
			step{hold: ReasonTooWide}, "IPv4 entries cover 327680"},

		{"dropping half of the published set is within 50%", published4, two, shrink50, false, step{send: true, sequence: 5, allocate: true, why: Changed}, ""},
		{"dropping three quarters holds", published4, one, shrink50, false, step{hold: ReasonShrinkHeld}, AllowShrinkAnnotation + "=4:" + one.Digest},
		{"the annotation naming the published sequence and held digest releases it", published4, one, guards{minAddresses: 1, maxShrinkPercent: 50, shrinkAcknowledged: "4:" + one.Digest}, false,
			step{send: true, sequence: 5, allocate: true, why: Changed}, ""},
		{"an annotation for another digest does not", published4, one, guards{minAddresses: 1, maxShrinkPercent: 50, shrinkAcknowledged: "4:" + two.Digest}, false,
			step{hold: ReasonShrinkHeld}, "75% fewer than the 4 of published sequence 4"},
		{"an annotation from an earlier shrink to the same set does not", published4, one, guards{minAddresses: 1, maxShrinkPercent: 50, shrinkAcknowledged: "2:" + one.Digest}, false,
			step{hold: ReasonShrinkHeld}, "75% fewer"},
		{"without maxShrinkPercent nothing holds a shrink", published4, one, min1, false, step{send: true, sequence: 5, allocate: true, why: Changed}, ""},
		{"the first publish has nothing to shrink from", recorded{}, one, shrink50, false, step{send: true, sequence: 1, allocate: true, why: Changed}, ""},
		{"an unknown published count holds nothing", recorded{sequence: 4, digest: four.Digest, publishedSequence: 4}, one, shrink50, false,
			step{send: true, sequence: 5, allocate: true, why: Changed}, ""},
		{"growing is never a shrink", recorded{sequence: 4, digest: one.Digest, publishedSequence: 4, publishedAddresses: 1}, four, guards{minAddresses: 1, maxShrinkPercent: 1}, false,
			step{send: true, sequence: 5, allocate: true, why: Changed}, ""},
		{"an allocated shrink already passed the guard", recorded{sequence: 5, digest: one.Digest, publishedSequence: 4, publishedAddresses: 4}, one, shrink50, false,
			step{send: true, sequence: 5, why: Unfinished}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := next(tc.rec, tc.d, tc.g, tc.resync)
			if err != nil {
				t.Fatalf("next: %v", err)
			}
			msg := got.message
			got.message = ""
			if got != tc.want {
				t.Fatalf("next = %+v, want %+v", got, tc.want)
			}
			if (tc.says == "") != (msg == "") || !strings.Contains(msg, tc.says) {
				t.Fatalf("message %q, want one containing %q", msg, tc.says)
			}
		})
	}
}

func TestNextRefusesToOverflowTheSequence(t *testing.T) {
	_, err := next(recorded{sequence: protocol.MaxSequence, digest: "sha256:old"}, Compute(mustPrefixes("10.0.0.1/32")), guards{minAddresses: 1}, false)
	if err == nil {
		t.Fatal("next at the maximum sequence succeeded, want an error")
	}
}

func TestNextRefusesLimitsThatAllowEverything(t *testing.T) {
	_, err := next(recorded{}, Compute(mustPrefixes("10.0.0.1/32")), guards{minAddresses: 1, limits: protocol.Limits{MinPrefixIPv4: 40}}, false)
	if err == nil || !strings.Contains(err.Error(), "spec.limits") {
		t.Fatalf("next with MinPrefixIPv4 40 = %v, want an error naming spec.limits", err)
	}
}

func TestRetirement(t *testing.T) {
	cases := []struct {
		name             string
		rec              recorded
		seq              int64
		allocate, needed bool
	}{
		{"never allocated: nothing to retire", recorded{}, 0, false, false},
		{"after a snapshot: next sequence, allocated first", recorded{sequence: 7, digest: "sha256:abc", publishedSequence: 7}, 8, true, true},
		{"after an unacknowledged snapshot: still the next", recorded{sequence: 7, digest: "sha256:abc", publishedSequence: 6}, 8, true, true},
		{"retirement already allocated: re-send it", recorded{sequence: 8, digest: protocol.EmptyDigest, publishedSequence: 7}, 8, false, true},
		{"retirement already acknowledged (one of several endpoints): nothing to send", recorded{sequence: 8, digest: protocol.EmptyDigest, publishedSequence: 8}, 8, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			seq, allocate, needed := retirement(tc.rec)
			if seq != tc.seq || allocate != tc.allocate || needed != tc.needed {
				t.Fatalf("retirement = (%d, %v, %v), want (%d, %v, %v)", seq, allocate, needed, tc.seq, tc.allocate, tc.needed)
			}
		})
	}
}
