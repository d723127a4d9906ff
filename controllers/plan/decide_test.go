// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package plan

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodeallow/nodeallow/api/protocol"
	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// edit changes a test allowlist.
type edit func(*nodeallowv1alpha1.NodeAllowlist)

// testAllowlist is a live allowlist at generation 2 with its finalizer, observed, nothing published.
func testAllowlist(edits ...edit) *nodeallowv1alpha1.NodeAllowlist {
	nal := &nodeallowv1alpha1.NodeAllowlist{
		ObjectMeta: metav1.ObjectMeta{Name: "workers", Generation: 2, Finalizers: []string{Finalizer}},
		Spec: nodeallowv1alpha1.NodeAllowlistSpec{
			Salt:           nodeallowv1alpha1.SaltEndpoint{URL: "https://salt.example:8000"},
			ResyncInterval: metav1.Duration{Duration: 10 * time.Minute},
		},
		Status: nodeallowv1alpha1.NodeAllowlistStatus{ObservedGeneration: 2},
	}
	for _, e := range edits {
		e(nal)
	}
	return nal
}

// publishedAs records sequence seq of d as allocated, acknowledged and Ready.
func publishedAs(seq int64, d Desired) edit {
	return func(nal *nodeallowv1alpha1.NodeAllowlist) {
		st := &nal.Status
		st.Sequence, st.Digest, st.PublishedSequence, st.PublishedAddresses = seq, d.Digest, seq, int32(len(d.Addresses))
		st.Addresses, st.Nodes = int32(len(d.Addresses)), 1
		setPublished(st, nal.Generation, t0.Add(-time.Hour))
	}
}

// allocated records sequence seq of d as allocated but not acknowledged.
func allocated(seq int64, d Desired) edit {
	return func(nal *nodeallowv1alpha1.NodeAllowlist) { nal.Status.Sequence, nal.Status.Digest = seq, d.Digest }
}

// readyFailed records a Ready condition and lastError as an earlier reconcile left them.
func readyFailed(reason, msg string) edit {
	return func(nal *nodeallowv1alpha1.NodeAllowlist) {
		setNotPublished(&nal.Status, nal.Generation, t0.Add(-time.Minute), reason, msg)
		nal.Status.LastError = msg
	}
}

func deleting(ago time.Duration) edit {
	return func(nal *nodeallowv1alpha1.NodeAllowlist) {
		nal.DeletionTimestamp = &metav1.Time{Time: t0.Add(-ago)}
	}
}

func spec(f func(*nodeallowv1alpha1.NodeAllowlistSpec)) edit {
	return func(nal *nodeallowv1alpha1.NodeAllowlist) { f(&nal.Spec) }
}

func annotated(key, value string) edit {
	return func(nal *nodeallowv1alpha1.NodeAllowlist) { nal.Annotations = map[string]string{key: value} }
}

func noFinalizer(nal *nodeallowv1alpha1.NodeAllowlist) { nal.Finalizers = nil }

func newGeneration(nal *nodeallowv1alpha1.NodeAllowlist) { nal.Generation++ }

// facts gathers a live allowlist with one node's selection.
func facts(nal *nodeallowv1alpha1.NodeAllowlist, d Desired, mem Memory) Facts {
	return Facts{Now: t0, Name: nal.Name, Cluster: "prod", Allowlist: nal, Selection: Selection{Desired: d, Nodes: 1},
		Memory: mem, RetirementTimeout: 10 * time.Minute}
}

// flying adds a Flight of sequence seq of d, sent age before t0 with a two-minute timeout; a
// non-nil delivery means it returned with that.
func flying(f Facts, seq int64, d Desired, age time.Duration, delivery *Delivery) Facts {
	kind := protocol.KindSnapshot
	if d.Digest == protocol.EmptyDigest {
		kind = protocol.KindRetirement
	}
	since := t0.Add(-age)
	fl := &Flight{
		Send: Send{Snapshot: protocol.Snapshot{Kind: kind, Cluster: f.Cluster, Allowlist: f.Allowlist.Name, Sequence: seq, GeneratedAt: since,
			Addresses: d.Addresses}, Digest: d.Digest, Nodes: 1, Why: Unfinished},
		URL: f.Allowlist.Spec.Salt.URL, Generation: 2, Since: since, Deadline: since.Add(2 * time.Minute),
	}
	if delivery != nil {
		fl.Done, fl.Delivery = true, *delivery
		fl.Delivery.Allocated = false
	}
	f.Flight = fl
	return f
}

// retried records n failed attempts of the Flight, the last with err.
func retried(f Facts, n int, err string) Facts {
	f.Flight.FailedAttempts, f.Flight.LastFailure = n, err
	return f
}

// settling marks Node changes as still settling for wait.
func settling(f Facts, wait time.Duration) Facts {
	f.DebounceWait = wait
	return f
}

// want is what a case expects of the Outcome; zero fields expect zero values.
type want struct {
	ready, published string // condition reasons; "" expects the condition unchanged from the input
	says             string // a substring of the Ready message (or, without ready, of the first Event's note)
	events           []string
	send             string // "kind sequence allocate why"
	requeue          time.Duration
	err              bool
	release, forget  bool
	remember         Remember
	status           func(*nodeallowv1alpha1.NodeAllowlistStatus) error
}

func TestDecideAndSettle(t *testing.T) {
	one := Compute([]netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")})
	two := Compute([]netip.Prefix{netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("10.0.0.2/32")})
	four := Compute([]netip.Prefix{netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("10.0.0.2/32"),
		netip.MustParsePrefix("10.0.0.3/32"), netip.MustParsePrefix("10.0.0.4/32")})
	world := Compute([]netip.Prefix{netip.MustParsePrefix("0.0.0.0/1"), netip.MustParsePrefix("128.0.0.0/1")})
	tooMany := Desired{Addresses: make([]netip.Prefix, protocol.MaxAddresses+1), Digest: "sha256:many"}
	recent := Memory{Delivered: t0.Add(-time.Minute)}
	ok := &Delivery{Allocated: true, Chunks: 1}
	resent := &Delivery{Chunks: 1}
	failed := func(reason string, err error) *Delivery {
		return &Delivery{Allocated: !strings.HasPrefix(reason, "Secret"), Failure: &Failure{Reason: reason, Err: err}}
	}
	refused := &Delivery{Allocated: true, Failure: &Failure{Reason: ReasonRefused, Err: errors.New("salt-api refused it"),
		StatusCode: 400, Answer: "schema: no signing key for cluster prod"}}
	loginFailed := &Delivery{Allocated: true, Failure: &Failure{Reason: ReasonLoginFailed,
		Err: errors.New(`salt-api at https://salt.example:8000 refused the login of user "nodeallow" with eauth "pam" (HTTP 401: Could not authenticate using provided credentials)`)}}
	secretMsg := "Secret nodeallow-system/key not found: create it"
	secretGone := failed(ReasonSecretNotFound, errors.New(secretMsg))

	cases := []struct {
		name     string
		facts    Facts
		delivery *Delivery // when set, the Outcome is Settle(facts, Decide(facts), *delivery)
		want     want
	}{
		// Gathering stopped early.
		{name: "gone: forget it", facts: Facts{Now: t0, Name: "workers", Gone: true}, want: want{forget: true}},
		{name: "settling on the cached copy: wait", facts: Facts{Now: t0, Name: "workers", DebounceWait: 3 * time.Second},
			want: want{requeue: 3 * time.Second}},
		{name: "settling on the object read from the API server: wait",
			facts: Facts{Now: t0, Name: "workers", Allowlist: testAllowlist(newGeneration), DebounceWait: time.Second},
			want:  want{requeue: time.Second}},

		// A live allowlist that is not published.
		{name: "an unusable spec is held with a Warning", facts: Facts{Now: t0, Allowlist: testAllowlist(newGeneration), Selection: Selection{Invalid: "spec.nodeSelector is not a valid label selector"}},
			want: want{ready: ReasonInvalidSpec, says: "spec.nodeSelector", events: []string{"Warning InvalidSpec Compute"}, remember: Remember{Reset: true},
				status: func(st *nodeallowv1alpha1.NodeAllowlistStatus) error {
					return expect(st.ObservedGeneration == 3 && st.LastError != "", "observedGeneration %d, lastError %q", st.ObservedGeneration, st.LastError)
				}}},
		{name: "the same unusable spec again: no second Warning",
			facts: Facts{Now: t0, Allowlist: testAllowlist(readyFailed(ReasonInvalidSpec, "bad selector")), Selection: Selection{Invalid: "bad selector"}},
			want:  want{ready: ReasonInvalidSpec, says: "bad selector"}},
		{name: "suspended", facts: facts(testAllowlist(spec(func(s *nodeallowv1alpha1.NodeAllowlistSpec) { s.Suspend = true })), one, Memory{}),
			want: want{ready: ReasonSuspended, published: ReasonSuspended, says: "spec.suspend"}},
		{name: "dry run says what it would publish", facts: facts(testAllowlist(spec(func(s *nodeallowv1alpha1.NodeAllowlistSpec) { s.DryRun = true })), two, Memory{}),
			want: want{ready: ReasonDryRun, published: ReasonDryRun, says: "would publish 2 addresses from 1 nodes",
				status: func(st *nodeallowv1alpha1.NodeAllowlistStatus) error {
					return expect(st.Addresses == 2 && st.Nodes == 1, "addresses %d, nodes %d", st.Addresses, st.Nodes)
				}}},
		{name: "below spec.minAddresses is held", facts: facts(testAllowlist(publishedAs(1, two), spec(func(s *nodeallowv1alpha1.NodeAllowlistSpec) { s.MinAddresses = 2 })), one, recent),
			want: want{ready: ReasonBelowMinimum, says: "fewer than spec.minAddresses 2", events: []string{"Warning BelowMinimum Compute"}}},
		{name: "a new allowlist without Nodes waits at the default minimum: the condition says it, no Event", facts: facts(testAllowlist(), Compute(nil), Memory{}),
			want: want{ready: ReasonBelowMinimum, says: "waiting for nodes: the selected nodes give 0 addresses"}},
		{name: "a published allowlist that loses all Nodes is held with a Warning", facts: facts(testAllowlist(publishedAs(3, one)), Compute(nil), recent),
			want: want{ready: ReasonBelowMinimum, says: "holding the last published set", events: []string{"Warning BelowMinimum Compute"}}},
		{name: "more than protocol v1 carries is held", facts: facts(testAllowlist(), tooMany, Memory{}),
			want: want{ready: ReasonTooManyAddresses, says: "more than protocol v1's 500000", events: []string{"Warning TooManyAddresses Compute"}}},
		{name: "wider than spec.limits is held", facts: facts(testAllowlist(), world, Memory{}),
			want: want{ready: ReasonTooWide, says: "spec.limits", events: []string{"Warning TooWide Compute"}}},
		{name: "a shrink beyond spec.maxShrinkPercent is held with its acknowledgement",
			facts: facts(testAllowlist(publishedAs(4, four), spec(func(s *nodeallowv1alpha1.NodeAllowlistSpec) { s.MaxShrinkPercent = 50 })), one, recent),
			want:  want{ready: ReasonShrinkHeld, says: AllowShrinkAnnotation + "=4:" + one.Digest, events: []string{"Warning ShrinkHeld Compute"}}},
		{name: "the acknowledged shrink is published",
			facts: facts(testAllowlist(publishedAs(4, four), spec(func(s *nodeallowv1alpha1.NodeAllowlistSpec) { s.MaxShrinkPercent = 50 }),
				annotated(AllowShrinkAnnotation, "4:"+one.Digest)), one, recent),
			want: want{send: "snapshot 5 true changed", ready: ReasonPublishing, published: ReasonPublishing, requeue: StallAfter}},
		{name: "at the maximum sequence: an error, nothing recorded",
			facts: facts(testAllowlist(allocated(protocol.MaxSequence, two)), one, Memory{}),
			want:  want{err: true}},

		// A live allowlist that salt-api has or gets.
		{name: "salt-api has it and the resync is not due: Ready, look again at the resync",
			facts: facts(testAllowlist(publishedAs(3, one), readyFailed(ReasonBelowMinimum, "was held")), one, recent),
			want:  want{ready: ReasonPublished, published: ReasonPublished, says: "sequence 3 holds the 1 addresses", requeue: 9 * time.Minute}},
		{name: "the first publish allocates sequence 1", facts: facts(testAllowlist(), one, Memory{}),
			want: want{send: "snapshot 1 true changed", ready: ReasonPublishing, published: ReasonPublishing, says: "sequence 1 (1 addresses from 1 nodes) sent to salt-api at https://salt.example:8000", requeue: StallAfter}},
		{name: "a fresh process re-sends the acknowledged sequence", facts: facts(testAllowlist(publishedAs(3, one)), one, Memory{}),
			want: want{send: "snapshot 3 false resync", requeue: StallAfter}},
		{name: "the resync interval passed: re-sent", facts: facts(testAllowlist(publishedAs(3, one)), one, Memory{Delivered: t0.Add(-10 * time.Minute)}),
			want: want{send: "snapshot 3 false resync", requeue: StallAfter}},
		{name: "an allocated, unacknowledged sequence is re-sent", facts: facts(testAllowlist(publishedAs(3, one), allocated(4, two)), two, recent),
			want: want{send: "snapshot 4 false unfinished", ready: ReasonPublishing, published: ReasonPublishing, says: "salt-api holds sequence 3 (1 addresses)", requeue: StallAfter}},
		{name: "refused a minute ago and unchanged: not hammered",
			facts: facts(testAllowlist(publishedAs(3, one), allocated(4, two)), two, Memory{Refused: 4, RefusedAt: t0.Add(-time.Minute)}),
			want:  want{requeue: 9 * time.Minute}},
		{name: "refused, then changed: the next sequence goes out",
			facts: facts(testAllowlist(publishedAs(3, one), allocated(4, two)), one, Memory{Refused: 4, RefusedAt: t0.Add(-time.Minute)}),
			want:  want{send: "snapshot 5 true changed", ready: ReasonPublishing, published: ReasonPublishing, requeue: StallAfter}},
		{name: "refused, then the spec changed: re-sent at once",
			facts: facts(testAllowlist(publishedAs(3, one), allocated(4, two), newGeneration), two, Memory{Refused: 4, RefusedAt: t0.Add(-time.Minute)}),
			want:  want{send: "snapshot 4 false unfinished", ready: ReasonPublishing, published: ReasonPublishing, requeue: StallAfter, remember: Remember{Reset: true}}},
		{name: "the spec changed after a delivery: re-sent at once", facts: facts(testAllowlist(publishedAs(3, one), newGeneration), one, recent),
			want: want{send: "snapshot 3 false resync", requeue: StallAfter, remember: Remember{Reset: true}}},

		// What became of the send.
		{name: "acknowledged: Published with an Event", facts: facts(testAllowlist(), two, Memory{}), delivery: ok,
			want: want{ready: ReasonPublished, published: ReasonPublished, says: "sequence 1 holds the 2 addresses", events: []string{"Normal Published Publish"},
				requeue: 10 * time.Minute, remember: Remember{Delivered: true},
				status: func(st *nodeallowv1alpha1.NodeAllowlistStatus) error {
					return expect(st.Sequence == 1 && st.PublishedSequence == 1 && st.PublishedAddresses == 2 && st.Digest == two.Digest &&
						st.LastPublishedTime != nil && st.LastPublishedTime.Time.Equal(t0) && st.LastError == "", "status %+v", st)
				}}},
		{name: "a resync acknowledged: no Event", facts: facts(testAllowlist(publishedAs(3, one)), one, Memory{}), delivery: resent,
			want: want{ready: ReasonPublished, published: ReasonPublished, says: "sequence 3", requeue: 10 * time.Minute, remember: Remember{Delivered: true}}},
		{name: "refused: quoted, not retried before the resync", facts: facts(testAllowlist(), one, Memory{}), delivery: refused,
			want: want{ready: ReasonRefused, published: ReasonRefused, says: `HTTP 400: "schema: no signing key for cluster prod"`, events: []string{"Warning Refused Publish"},
				requeue: 10 * time.Minute, remember: Remember{Refused: 1},
				status: func(st *nodeallowv1alpha1.NodeAllowlistStatus) error {
					return expect(st.Sequence == 1 && st.PublishedSequence == 0, "sequence %d, published %d", st.Sequence, st.PublishedSequence)
				}}},
		{name: "the same refusal again: a Warning each time",
			facts: facts(testAllowlist(readyFailed(ReasonRefused, `salt-api at https://salt.example:8000 refused sequence 1 with HTTP 400: `+
				`"schema: no signing key for cluster prod"; fix the cause, it is retried at the next node change or in 10m0s`)), one, Memory{}),
			delivery: refused,
			want: want{ready: ReasonRefused, published: ReasonRefused, says: "HTTP 400", events: []string{"Warning Refused Publish"},
				requeue: 10 * time.Minute, remember: Remember{Refused: 1}}},
		{name: "cannot be sent as configured: like a refusal", facts: facts(testAllowlist(), one, Memory{}),
			delivery: failed(ReasonInvalidSpec, errors.New("salt.url uses plain http")),
			want: want{ready: ReasonInvalidSpec, published: ReasonInvalidSpec, says: "cannot be published as configured: salt.url uses plain http",
				events: []string{"Warning InvalidSpec Publish"}, requeue: 10 * time.Minute, remember: Remember{Refused: 1}}},
		{name: "salt-api unreachable: retried with backoff", facts: facts(testAllowlist(), one, Memory{}),
			delivery: failed(ReasonPublishFailed, errors.New("reach salt-api: connection refused")),
			want:     want{ready: ReasonPublishFailed, published: ReasonPublishFailed, says: "retrying with backoff", events: []string{"Warning PublishFailed Publish"}, err: true, remember: Remember{Failed: true}}},
		{name: "a missing Secret: nothing allocated, retried with backoff", facts: facts(testAllowlist(), one, Memory{}), delivery: secretGone,
			want: want{ready: ReasonSecretNotFound, published: ReasonSecretNotFound, says: secretMsg, events: []string{"Warning SecretNotFound ReadSecret"}, err: true,
				status: func(st *nodeallowv1alpha1.NodeAllowlistStatus) error {
					return expect(st.Sequence == 0 && st.Digest == "", "allocated %d %s without a key", st.Sequence, st.Digest)
				}}},
		{name: "the same missing Secret again: no second Warning",
			facts:    facts(testAllowlist(readyFailed(ReasonSecretNotFound, secretMsg)), one, Memory{}),
			delivery: secretGone, want: want{ready: ReasonSecretNotFound, published: ReasonSecretNotFound, says: secretMsg, err: true}},
		{name: "an unreadable Secret", facts: facts(testAllowlist(), one, Memory{}), delivery: failed(ReasonSecretUnreadable, errors.New("forbidden")),
			want: want{ready: ReasonSecretUnreadable, published: ReasonSecretUnreadable, says: "forbidden", events: []string{"Warning SecretUnreadable ReadSecret"}, err: true}},

		// A send in flight (its goroutine has not returned) and what became of it.
		{name: "sent two seconds ago: wait for the answer until the stall bound",
			facts: flying(facts(testAllowlist(publishedAs(3, one), allocated(4, two)), two, recent), 4, two, 2*time.Second, nil),
			want:  want{requeue: 3 * time.Second}},
		{name: "retried failures past the stall bound: PublishStalled quotes the last one, not a hang",
			facts: retried(flying(facts(testAllowlist(publishedAs(3, one), allocated(4, two)), two, recent), 4, two, 6*time.Second, nil), 3,
				"dial tcp 127.0.0.1:8000: connect: connection refused"),
			want: want{ready: ReasonPublishStalled, published: ReasonPublishStalled, events: []string{"Warning PublishStalled Publish"},
				says:    "has not taken sequence 4 (2 addresses from 1 nodes) sent at 2026-01-02T03:03:59Z: 3 attempts failed in 6s, the last with dial tcp 127.0.0.1:8000: connect: connection refused; salt-api holds sequence 3",
				requeue: 2*time.Minute - 6*time.Second + StallAfter}},
		{name: "no answer after the stall bound: PublishStalled names sequence, URL and time, with a Warning",
			facts: flying(facts(testAllowlist(publishedAs(3, one), allocated(4, two)), two, recent), 4, two, 6*time.Second, nil),
			want: want{ready: ReasonPublishStalled, published: ReasonPublishStalled, events: []string{"Warning PublishStalled Publish"},
				says:    "salt-api at https://salt.example:8000 has not answered sequence 4 (2 addresses from 1 nodes) sent at 2026-01-02T03:03:59Z: no answer after 6s (connections are accepted, nothing comes back); salt-api holds sequence 3 (1 addresses)",
				requeue: 2*time.Minute - 6*time.Second + StallAfter,
				status: func(st *nodeallowv1alpha1.NodeAllowlistStatus) error {
					return expect(strings.Contains(st.LastError, "has not answered") && conditionStatus(st, nodeallowv1alpha1.ConditionPublished) == metav1.ConditionUnknown &&
						conditionStatus(st, nodeallowv1alpha1.ConditionReady) == metav1.ConditionFalse, "status %+v", st)
				}}},
		{name: "still stalled: no second Warning",
			facts: flying(facts(testAllowlist(publishedAs(3, one), allocated(4, two), readyFailed(ReasonPublishStalled, "stalled")), two, recent), 4, two, 20*time.Second, nil),
			want:  want{ready: ReasonPublishStalled, published: ReasonPublishStalled, says: "no answer after 20s", requeue: 2*time.Minute - 20*time.Second + StallAfter}},
		{name: "a stalled resync says so too",
			facts: flying(facts(testAllowlist(publishedAs(3, one)), one, Memory{}), 3, one, 6*time.Second, nil),
			want:  want{ready: ReasonPublishStalled, published: ReasonPublishStalled, says: "has not answered sequence 3", events: []string{"Warning PublishStalled Publish"}, requeue: 2*time.Minute - 6*time.Second + StallAfter}},
		{name: "landed and the selection is the same: Ready with counts of the published sequence",
			facts: flying(facts(testAllowlist(publishedAs(3, one), allocated(4, two)), two, recent), 4, two, 7*time.Second, ok),
			want: want{ready: ReasonPublished, published: ReasonPublished, says: "sequence 4 holds the 2 addresses of the 1 selected nodes",
				events: []string{"Normal Published Publish"}, requeue: 10 * time.Minute, remember: Remember{Delivered: true, Landed: true},
				status: func(st *nodeallowv1alpha1.NodeAllowlistStatus) error {
					return expect(st.PublishedSequence == 4 && st.PublishedAddresses == 2 && st.Addresses == 2 && st.LastError == "", "status %+v", st)
				}}},
		{name: "landed while the selection moved on: recorded, and the next sequence goes out",
			facts: flying(facts(testAllowlist(publishedAs(3, one), allocated(4, two)), four, recent), 4, two, time.Second, ok),
			want: want{ready: ReasonPublishing, published: ReasonPublishing, says: "sequence 5 (4 addresses from 1 nodes) sent", send: "snapshot 5 true changed",
				events: []string{"Normal Published Publish"}, requeue: StallAfter, remember: Remember{Delivered: true, Landed: true},
				status: func(st *nodeallowv1alpha1.NodeAllowlistStatus) error {
					return expect(st.PublishedSequence == 4 && st.PublishedAddresses == 2 && st.Addresses == 4, "status %+v", st)
				}}},
		{name: "landed under an older spec: recorded, re-sent to the current salt-api",
			facts: flying(facts(testAllowlist(publishedAs(3, one), allocated(4, two), newGeneration), two, recent), 4, two, time.Second, ok),
			want: want{ready: ReasonPublished, published: ReasonPublished, send: "snapshot 4 false resync", events: []string{"Normal Published Publish"},
				requeue: StallAfter, remember: Remember{Reset: true, Landed: true}}},
		{name: "landed failing: retried with backoff",
			facts: flying(facts(testAllowlist(publishedAs(3, one), allocated(4, two)), two, recent), 4, two, time.Minute, failed(ReasonPublishFailed, errors.New("context deadline exceeded"))),
			want: want{ready: ReasonPublishFailed, published: ReasonPublishFailed, says: "context deadline exceeded", events: []string{"Warning PublishFailed Publish"},
				err: true, remember: Remember{Landed: true, Failed: true}}},
		{name: "landed refused: not re-sent before the resync",
			facts: flying(facts(testAllowlist(publishedAs(3, one), allocated(4, two)), two, recent), 4, two, time.Second, refused),
			want: want{ready: ReasonRefused, published: ReasonRefused, says: "HTTP 400", events: []string{"Warning Refused Publish"},
				requeue: 10 * time.Minute, remember: Remember{Refused: 4, Landed: true}}},
		{name: "landed with a failed login: LoginFailed names the user, the eauth and what to check, not retried before the resync",
			facts: flying(facts(testAllowlist(publishedAs(3, one), allocated(4, two), spec(func(s *nodeallowv1alpha1.NodeAllowlistSpec) {
				s.Salt.CredentialsSecretRef = &nodeallowv1alpha1.SecretReference{Name: "salt-creds"}
			})), two, recent), 4, two, time.Second, loginFailed),
			want: want{ready: ReasonLoginFailed, published: ReasonLoginFailed, events: []string{"Warning LoginFailed Publish"},
				says:    `user "nodeallow" with eauth "pam"`,
				requeue: 10 * time.Minute, remember: Remember{Refused: 4, Landed: true},
				status: func(st *nodeallowv1alpha1.NodeAllowlistStatus) error {
					return expect(strings.Contains(st.LastError, "spec.salt.credentialsSecretRef (salt-creds)") && strings.Contains(st.LastError, "external_auth"), "lastError %q", st.LastError)
				}}},
		{name: "a failed login on the first send", facts: facts(testAllowlist(), one, Memory{}), delivery: loginFailed,
			want: want{ready: ReasonLoginFailed, published: ReasonLoginFailed, says: "eauth", events: []string{"Warning LoginFailed Publish"},
				requeue: 10 * time.Minute, remember: Remember{Refused: 1}}},
		{name: "landed while Node changes settle: recorded, Ready waits for the next snapshot",
			facts: settling(flying(facts(testAllowlist(publishedAs(3, one), allocated(4, two)), two, recent), 4, two, time.Second, ok), 2*time.Second),
			want: want{ready: ReasonPublishing, published: ReasonPublished, says: "salt-api acknowledged sequence 4 (2 addresses); node changes are settling",
				events: []string{"Normal Published Publish"}, requeue: 2 * time.Second, remember: Remember{Delivered: true, Landed: true}}},

		// A deleted allowlist.
		{name: "deleted while a snapshot is in flight: wait for it",
			facts: flying(facts(testAllowlist(publishedAs(3, one), allocated(4, two), deleting(0)), Desired{}, Memory{}), 4, two, time.Second, nil),
			want:  want{requeue: 4 * time.Second}},
		{name: "deleted, the snapshot in flight landed: recorded, the retirement takes the next sequence",
			facts: flying(facts(testAllowlist(publishedAs(3, one), allocated(4, two), deleting(0)), Desired{}, Memory{}), 4, two, time.Second, ok),
			want: want{ready: ReasonPublishing, published: ReasonPublishing, send: "retirement 5 true deleted", events: []string{"Normal Published Publish"},
				requeue: StallAfter, remember: Remember{Landed: true},
				status: func(st *nodeallowv1alpha1.NodeAllowlistStatus) error {
					return expect(st.PublishedSequence == 4, "published %d", st.PublishedSequence)
				}}},
		{name: "deleted, the retirement in flight landed: released",
			facts: flying(facts(testAllowlist(publishedAs(3, one), allocated(4, Compute(nil)), deleting(0)), Desired{}, Memory{}), 4, Compute(nil), time.Second, ok),
			want:  want{release: true, says: "acknowledged retirement sequence 4", events: []string{"Normal Retired Retire"}, remember: Remember{Landed: true}}},

		{name: "deleted without the finalizer: forget it", facts: facts(testAllowlist(deleting(0), noFinalizer), Desired{}, Memory{}), want: want{forget: true}},
		{name: "deleted before anything was allocated: released", facts: facts(testAllowlist(deleting(0)), Desired{}, Memory{}), want: want{release: true}},
		{name: "deleted while suspended: released without a retirement",
			facts: facts(testAllowlist(publishedAs(3, one), deleting(0), spec(func(s *nodeallowv1alpha1.NodeAllowlistSpec) { s.Suspend = true })), Desired{}, Memory{}),
			want:  want{release: true, says: "spec.suspend is set: the Salt master keeps allowlist prod/workers as of sequence 3", events: []string{"Normal RetirementSkipped Retire"}}},
		{name: "deleted in dry run: released without a retirement",
			facts: facts(testAllowlist(publishedAs(3, one), deleting(0), spec(func(s *nodeallowv1alpha1.NodeAllowlistSpec) { s.DryRun = true })), Desired{}, Memory{}),
			want:  want{release: true, says: "spec.dryRun is set", events: []string{"Normal RetirementSkipped Retire"}}},
		{name: "deleted with skip-retirement: released without a retirement",
			facts: facts(testAllowlist(publishedAs(3, one), deleting(0), annotated(AnnotationSkipRetirement, "true")), Desired{}, Memory{}),
			want:  want{release: true, says: AnnotationSkipRetirement, events: []string{"Normal RetirementSkipped Retire"}}},
		{name: "deleted: the retirement takes the next sequence", facts: facts(testAllowlist(publishedAs(3, one), deleting(0)), Desired{}, Memory{}),
			want: want{send: "retirement 4 true deleted", ready: ReasonPublishing, published: ReasonPublishing, says: "retirement sequence 4 sent", requeue: StallAfter}},
		{name: "deleted, retirement allocated earlier: re-sent", facts: facts(testAllowlist(publishedAs(3, one), allocated(4, Compute(nil)), deleting(0)), Desired{}, Memory{}),
			want: want{send: "retirement 4 false deleted", ready: ReasonPublishing, published: ReasonPublishing, requeue: StallAfter}},
		{name: "retirement acknowledged: released", facts: facts(testAllowlist(publishedAs(3, one), deleting(0)), Desired{}, Memory{}), delivery: ok,
			want: want{release: true, says: "Salt removes allowlist prod/workers", events: []string{"Normal Retired Retire"}}},
		{name: "retirement refused: released at once", facts: facts(testAllowlist(publishedAs(3, one), deleting(0)), Desired{}, Memory{}), delivery: refused,
			want: want{release: true, says: "a refusal does not change on retry: remove allowlist prod/workers", events: []string{"Warning RetirementAbandoned Retire"},
				remember: Remember{Refused: 4}}},
		{name: "retirement not delivered: retried until the timeout", facts: facts(testAllowlist(publishedAs(3, one), deleting(time.Minute)), Desired{}, Memory{}),
			delivery: failed(ReasonPublishFailed, errors.New("connection refused")),
			want: want{ready: ReasonPublishFailed, published: ReasonPublishFailed, says: "retrying until 2026-01-02T03:13:05Z", events: []string{"Warning PublishFailed Retire"}, err: true,
				remember: Remember{Failed: true}, status: func(st *nodeallowv1alpha1.NodeAllowlistStatus) error {
					return expect(st.Sequence == 4 && st.Digest == protocol.EmptyDigest, "retirement allocation %d %s not kept", st.Sequence, st.Digest)
				}}},
		{name: "retirement without its Secret: retried until the timeout", facts: facts(testAllowlist(publishedAs(3, one), deleting(time.Minute)), Desired{}, Memory{}),
			delivery: secretGone,
			want:     want{ready: ReasonSecretNotFound, published: ReasonSecretNotFound, says: secretMsg, events: []string{"Warning SecretNotFound Retire"}, err: true}},
		{name: "retirement not delivered within the timeout: released", facts: facts(testAllowlist(publishedAs(3, one), deleting(10*time.Minute)), Desired{}, Memory{}),
			delivery: failed(ReasonPublishFailed, errors.New("connection refused")),
			want:     want{release: true, says: "no retirement delivered within 10m0s of deletion (last error: connection refused)", events: []string{"Warning RetirementAbandoned Retire"}}},
	}

	seen := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.facts.Allowlist.DeepCopy()
			out := Decide(tc.facts)
			if tc.delivery != nil {
				if out.Send == nil {
					t.Fatalf("Decide sent nothing to settle: %+v", out)
				}
				out = Settle(tc.facts, out, *tc.delivery)
			}
			if tc.facts.Allowlist != nil && !equalAllowlists(in, tc.facts.Allowlist) {
				t.Fatal("Decide or Settle modified the gathered allowlist")
			}
			check(t, tc.facts, out, tc.want)
			for _, e := range out.Events {
				seen[e.Reason] = true
			}
			seen[ReadyReason(&out.Status)] = true
		})
	}
	for _, reason := range []string{ReasonPublished, ReasonPublishing, ReasonPublishStalled, ReasonLoginFailed, ReasonPublishFailed, ReasonRefused, ReasonSecretNotFound, ReasonSecretUnreadable,
		ReasonBelowMinimum, ReasonTooManyAddresses, ReasonTooWide, ReasonShrinkHeld, ReasonInvalidSpec, ReasonDryRun, ReasonSuspended,
		EventRetired, EventRetirementSkipped, EventRetirementAbandoned} {
		if !seen[reason] {
			t.Errorf("no case of the table ends in reason %s", reason)
		}
	}
}

// check compares an Outcome with what a case wants.
func check(t *testing.T, f Facts, out Outcome, w want) {
	t.Helper()
	var before nodeallowv1alpha1.NodeAllowlistStatus
	if f.Allowlist != nil {
		before = f.Allowlist.Status
	}
	for _, c := range []struct{ condType, want string }{{nodeallowv1alpha1.ConditionReady, w.ready}, {nodeallowv1alpha1.ConditionPublished, w.published}} {
		got, was := conditionReason(&out.Status, c.condType), conditionReason(&before, c.condType)
		if c.want == "" && got != was && !out.Release {
			t.Errorf("%s changed from %q to %q, want it unchanged", c.condType, was, got)
		}
		if c.want != "" && got != c.want {
			t.Errorf("%s reason %q, want %q", c.condType, got, c.want)
		}
	}
	var events []string
	for _, e := range out.Events {
		events = append(events, e.Type+" "+e.Reason+" "+e.Action)
	}
	if !slices.Equal(events, w.events) {
		t.Errorf("events %q, want %q", events, w.events)
	}
	if w.says != "" {
		text := readyMessage(&out.Status)
		if w.ready == "" && len(out.Events) > 0 {
			text = out.Events[0].Note
		}
		if !strings.Contains(text, w.says) {
			t.Errorf("message %q, want one containing %q", text, w.says)
		}
	}
	send := ""
	if s := out.Send; s != nil {
		send = fmt.Sprintf("%s %d %v %s", s.Snapshot.Kind, s.Snapshot.Sequence, s.Allocate, s.Why)
		if s.Snapshot.Cluster != "prod" || s.Snapshot.Allowlist != f.Allowlist.Name || !s.Snapshot.GeneratedAt.Equal(t0) ||
			s.Digest != protocol.Digest(s.Snapshot.Addresses) {
			t.Errorf("send %+v does not carry the gathered cluster, name, time and digest", s)
		}
	}
	if send != w.send {
		t.Errorf("send %q, want %q", send, w.send)
	}
	if out.Requeue != w.requeue {
		t.Errorf("requeue %s, want %s", out.Requeue, w.requeue)
	}
	if (out.Err != nil) != w.err {
		t.Errorf("err %v, want an error: %v", out.Err, w.err)
	}
	if out.Release != w.release || out.Forget != w.forget {
		t.Errorf("release/forget %v/%v, want %v/%v", out.Release, out.Forget, w.release, w.forget)
	}
	if out.Remember != w.remember {
		t.Errorf("remember %+v, want %+v", out.Remember, w.remember)
	}
	if w.status != nil {
		if err := w.status(&out.Status); err != nil {
			t.Error(err)
		}
	}
	if w.err && w.ready == "" && !equalStatus(out.Status, before) {
		t.Errorf("an error outcome changed the status: %+v", out.Status)
	}
}

func conditionReason(st *nodeallowv1alpha1.NodeAllowlistStatus, condType string) string {
	for _, c := range st.Conditions {
		if c.Type == condType {
			return c.Reason
		}
	}
	return ""
}

func conditionStatus(st *nodeallowv1alpha1.NodeAllowlistStatus, condType string) metav1.ConditionStatus {
	for _, c := range st.Conditions {
		if c.Type == condType {
			return c.Status
		}
	}
	return ""
}

func readyMessage(st *nodeallowv1alpha1.NodeAllowlistStatus) string {
	return conditionMessage(st, nodeallowv1alpha1.ConditionReady)
}

func expect(ok bool, format string, args ...any) error {
	if ok {
		return nil
	}
	return fmt.Errorf(format, args...)
}

func equalAllowlists(a, b *nodeallowv1alpha1.NodeAllowlist) bool {
	return reflect.DeepEqual(a, b)
}

func equalStatus(a, b nodeallowv1alpha1.NodeAllowlistStatus) bool {
	return fmt.Sprintf("%+v", a) == fmt.Sprintf("%+v", b)
}

// TestConditionsCarryGenerationAndTime checks what every condition Decide sets carries.
func TestConditionsCarryGenerationAndTime(t *testing.T) {
	nal := testAllowlist(newGeneration)
	out := Decide(facts(nal, Compute(nil), Memory{}))
	for _, c := range out.Status.Conditions {
		if c.ObservedGeneration != 3 || !c.LastTransitionTime.Time.Equal(t0) {
			t.Errorf("condition %s: observedGeneration %d, lastTransitionTime %s; want 3, %s", c.Type, c.ObservedGeneration, c.LastTransitionTime, t0)
		}
	}
	if len(out.Events) != 0 {
		t.Fatalf("events %+v for an allowlist waiting for its first Nodes, want none", out.Events)
	}
	long := strings.Repeat("x", 5000)
	out = Decide(Facts{Now: t0, Allowlist: nal, Selection: Selection{Invalid: long}})
	if n := len(readyMessage(&out.Status)); n > maxConditionMessage {
		t.Errorf("condition message of %d bytes, limit %d", n, maxConditionMessage)
	}
	if len(out.Events) != 1 || out.Events[0].Type != corev1.EventTypeWarning {
		t.Fatalf("events %+v, want one Warning", out.Events)
	}
	if n := len(out.Events[0].Note); n > maxEventNote {
		t.Errorf("event note of %d bytes, limit %d", n, maxEventNote)
	}
	if n := len(out.Status.LastError); n > maxLastError {
		t.Errorf("lastError of %d bytes, limit %d", n, maxLastError)
	}
}
