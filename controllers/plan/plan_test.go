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
	cases := []struct {
		name   string
		rec    Recorded
		d      Desired
		min    int
		resync bool
		want   Decision
	}{
		{"first publish allocates 1", Recorded{}, one, 1, false, Decision{Action: Publish, Sequence: 1, Allocate: true, Why: Changed}},
		{"published and unchanged does nothing", Recorded{Sequence: 4, Digest: one.Digest, PublishedSequence: 4}, one, 1, false, Decision{Action: Nothing}},
		{"resync re-sends the same sequence", Recorded{Sequence: 4, Digest: one.Digest, PublishedSequence: 4}, one, 1, true, Decision{Action: Publish, Sequence: 4, Why: Resync}},
		{"a change takes the next sequence", Recorded{Sequence: 4, Digest: one.Digest, PublishedSequence: 4}, two, 1, false, Decision{Action: Publish, Sequence: 5, Allocate: true, Why: Changed}},
		{"allocated but unacknowledged is re-sent", Recorded{Sequence: 5, Digest: two.Digest, PublishedSequence: 4}, two, 1, false, Decision{Action: Publish, Sequence: 5, Why: Unfinished}},
		{"allocated, unacknowledged and changed again skips it", Recorded{Sequence: 5, Digest: two.Digest, PublishedSequence: 4}, one, 1, false, Decision{Action: Publish, Sequence: 6, Allocate: true, Why: Changed}},
		{"below the minimum holds", Recorded{Sequence: 4, Digest: two.Digest, PublishedSequence: 4}, one, 2, true, Decision{Action: HoldBelowMinimum}},
		{"an empty snapshot holds at the default minimum", Recorded{}, Compute(nil), 1, false, Decision{Action: HoldBelowMinimum}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decide(tc.rec, tc.d, tc.min, tc.resync)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			msg := got.Message
			got.Message = ""
			if got != tc.want {
				t.Fatalf("Decide = %+v, want %+v", got, tc.want)
			}
			if got.Action == HoldBelowMinimum && !strings.Contains(msg, "spec.minAddresses") {
				t.Fatalf("hold message %q does not name spec.minAddresses", msg)
			}
		})
	}
}

func TestDecideRefusesToOverflowTheSequence(t *testing.T) {
	_, err := Decide(Recorded{Sequence: protocol.MaxSequence, Digest: "sha256:old"}, Compute(mustPrefixes("10.0.0.1/32")), 1, false)
	if err == nil {
		t.Fatal("Decide at the maximum sequence succeeded, want an error")
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
