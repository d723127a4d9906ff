// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package plan

import (
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodeallow/nodeallow/api/protocol"
	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
)

const (
	salt1 = "https://salt-1.example:8000"
	salt2 = "https://salt-2.example:8000"
)

// twoMasters makes an allowlist publish to salt1 and salt2 (salt2 with its own credentials).
func twoMasters(nal *nodeallowv1alpha1.NodeAllowlist) {
	nal.Spec.Salt.URL = ""
	nal.Spec.Salt.CredentialsSecretRef = &nodeallowv1alpha1.SecretReference{Name: "shared"}
	nal.Spec.Salt.CABundle = []byte("shared CA")
	nal.Spec.Salt.Endpoints = []nodeallowv1alpha1.SaltAPIEndpoint{
		{URL: salt1},
		{URL: salt2, CredentialsSecretRef: &nodeallowv1alpha1.SecretReference{Name: "own"}, CABundle: []byte("own CA")},
	}
}

// endpointPublished records that the endpoint url acknowledged sequence seq of d (Ready), as Merge left it.
func endpointPublished(url string, seq int64, d Desired) edit {
	return func(nal *nodeallowv1alpha1.NodeAllowlist) {
		st := nodeallowv1alpha1.NodeAllowlistStatus{PublishedSequence: seq, PublishedAddresses: int32(len(d.Addresses)), Nodes: 1}
		setPublished(&st, nal.Generation, t0.Add(-time.Hour))
		nal.Status.Endpoints = append(nal.Status.Endpoints, nodeallowv1alpha1.EndpointStatus{URL: url,
			PublishedSequence: seq, PublishedAddresses: st.PublishedAddresses, LastPublishedTime: &metav1.Time{Time: t0.Add(-time.Hour)},
			Conditions: st.Conditions})
	}
}

// endpoints gathers the per-endpoint facts of salt1 and salt2; a non-nil flight is salt1's.
func endpoints(one *Flight) []EndpointFacts {
	return []EndpointFacts{{URL: salt1, Flight: one}, {URL: salt2}}
}

// planOf returns the plan of endpoint url.
func planOf(t *testing.T, plans []EndpointPlan, url string) EndpointPlan {
	t.Helper()
	for _, p := range plans {
		if p.URL == url {
			return p
		}
	}
	t.Fatalf("no plan for %s", url)
	return EndpointPlan{}
}

func TestViewNamesOneEndpointWithItsOwnState(t *testing.T) {
	d1 := Compute(mustPrefixes("10.0.0.1/32"))
	nal := testAllowlist(twoMasters, allocated(2, d1), endpointPublished(salt1, 2, d1), endpointPublished(salt2, 1, d1))
	one, two := View(nal, salt1), View(nal, salt2)
	if one.Spec.Salt.URL != salt1 || one.Spec.Salt.CredentialsSecretRef.Name != "shared" || string(one.Spec.Salt.CABundle) != "shared CA" || len(one.Spec.Salt.Endpoints) != 0 {
		t.Errorf("salt-1's view takes the defaults: %+v", one.Spec.Salt)
	}
	if two.Spec.Salt.URL != salt2 || two.Spec.Salt.CredentialsSecretRef.Name != "own" || string(two.Spec.Salt.CABundle) != "own CA" {
		t.Errorf("salt-2's view takes its own credentials and CA: %+v", two.Spec.Salt)
	}
	if one.Status.Sequence != 2 || one.Status.PublishedSequence != 2 || two.Status.Sequence != 2 || two.Status.PublishedSequence != 1 {
		t.Errorf("views share the allocation and keep their own acknowledgement: %+v / %+v", one.Status, two.Status)
	}
	if View(testAllowlist(), "https://salt.example:8000") == nil || View(nal, salt1) == nal {
		t.Error("a single-URL allowlist is its own view; a multi-endpoint one is copied")
	}
	if len(nal.Spec.Salt.Endpoints) != 2 || nal.Status.Endpoints[1].PublishedSequence != 1 {
		t.Error("View modified the allowlist")
	}
}

func TestDecideEndpoints(t *testing.T) {
	d1 := Compute(mustPrefixes("10.0.0.1/32"))
	d2 := Compute(mustPrefixes("10.0.0.1/32", "10.0.0.2/32"))
	stuck := errors.New("connection refused")

	t.Run("a new selection goes to every endpoint under one sequence", func(t *testing.T) {
		nal := testAllowlist(twoMasters, allocated(1, d1), endpointPublished(salt1, 1, d1), endpointPublished(salt2, 1, d1))
		nal.Status.PublishedSequence, nal.Status.Nodes, nal.Status.Addresses = 1, 1, 1
		f := facts(nal, d2, Memory{})
		plans := DecideEndpoints(f, endpoints(nil))
		for _, url := range []string{salt1, salt2} {
			s := planOf(t, plans, url).Out.Send
			if s == nil || s.Snapshot.Sequence != 2 || !s.Allocate || s.Why != Changed {
				t.Fatalf("%s: send %+v, want sequence 2 allocated", url, s)
			}
		}
		launched := []EndpointPlan{plans[0], plans[1]}
		for i := range launched {
			launched[i].Out = Launched(launched[i].Out)
		}
		out := Merge(f, launched)
		if out.Status.Sequence != 2 || out.Status.Digest != d2.Digest || out.Status.PublishedSequence != 1 || out.Status.Masters != "0/2" {
			t.Errorf("merged allocation: %+v", out.Status)
		}
		if got := conditionReason(&out.Status, nodeallowv1alpha1.ConditionReady); got != ReasonPublishing {
			t.Errorf("Ready reason %q, want Publishing", got)
		}
	})

	t.Run("a stalled endpoint delays nobody: the other gets the next sequence, status names the stalled one", func(t *testing.T) {
		// salt-1 hangs on sequence 2; salt-2 acknowledged it; the selection moved on to d1 again.
		nal := testAllowlist(twoMasters, allocated(2, d2), endpointPublished(salt1, 1, d1), endpointPublished(salt2, 2, d2))
		nal.Status.PublishedSequence, nal.Status.Nodes, nal.Status.Addresses = 1, 1, 2
		f := facts(nal, d1, Memory{})
		fl := flying(Facts{Cluster: "prod", Allowlist: View(nal, salt1)}, 2, d2, 20*time.Second, nil).Flight
		plans := DecideEndpoints(f, endpoints(fl))
		if s := planOf(t, plans, salt1).Out.Send; s != nil {
			t.Fatalf("salt-1 sent %+v while its send is in the air", s)
		}
		s := planOf(t, plans, salt2).Out.Send
		if s == nil || s.Snapshot.Sequence != 3 || !s.Allocate {
			t.Fatalf("salt-2: send %+v, want sequence 3 allocated", s)
		}
		out := Merge(f, []EndpointPlan{planOf(t, plans, salt1), {URL: salt2, Facts: planOf(t, plans, salt2).Facts, Out: Launched(planOf(t, plans, salt2).Out)}})
		ready := conditionMessage(&out.Status, nodeallowv1alpha1.ConditionReady)
		if conditionReason(&out.Status, nodeallowv1alpha1.ConditionReady) != ReasonPublishStalled ||
			!strings.HasPrefix(ready, "2 of 2 salt-api endpoints are not Ready; salt-api at "+salt1+": salt-api at "+salt1+" has not answered sequence 2") {
			t.Errorf("Ready %q", ready)
		}
		if out.Status.Sequence != 3 || out.Status.PublishedSequence != 1 || out.Status.Endpoints[1].PublishedSequence != 2 {
			t.Errorf("merged status %+v", out.Status)
		}
		if !strings.HasPrefix(out.Status.LastError, "salt-api at "+salt1+": ") {
			t.Errorf("lastError %q names the endpoint", out.Status.LastError)
		}
	})

	t.Run("one endpoint acknowledges, the other fails: the laggard's sequence, 1/2 masters, the failure retried", func(t *testing.T) {
		nal := testAllowlist(twoMasters, trusting, allocated(2, d2), endpointPublished(salt1, 1, d1), endpointPublished(salt2, 1, d1))
		nal.Status.PublishedSequence, nal.Status.Nodes, nal.Status.Addresses = 1, 1, 2
		f := facts(nal, d2, Memory{})
		ok := flying(Facts{Cluster: "prod", Allowlist: View(nal, salt1)}, 2, d2, time.Second, &Delivery{Chunks: 1}).Flight
		failed := flying(Facts{Cluster: "prod", Allowlist: View(nal, salt2)}, 2, d2, time.Second,
			&Delivery{Failure: &Failure{Reason: ReasonPublishFailed, Err: stuck}}).Flight
		plans := DecideEndpoints(f, []EndpointFacts{{URL: salt1, Flight: ok}, {URL: salt2, Flight: failed}})
		out := Merge(f, plans)
		st := out.Status
		if st.PublishedSequence != 1 || st.Endpoints[0].PublishedSequence != 2 || st.Endpoints[1].PublishedSequence != 1 || st.Masters != "1/2" {
			t.Errorf("merged status %+v", st)
		}
		if out.Err != nil || out.Requeue != EndpointRetryBase {
			t.Errorf("err %v requeue %s: want salt-2 retried on its own clock after %s, not the work queue's backoff", out.Err, out.Requeue, EndpointRetryBase)
		}
		if !strings.Contains(out.Status.Endpoints[1].LastError, "connection refused") {
			t.Errorf("salt-2's lastError %q", out.Status.Endpoints[1].LastError)
		}
		plans[1].Facts.Memory.Failures = 7
		if got := Merge(f, plans).Requeue; got != EndpointRetryMax {
			t.Errorf("after 8 failures in a row salt-2 is retried after %s, want the cap %s", got, EndpointRetryMax)
		}
		if got := conditionMessage(&st, nodeallowv1alpha1.ConditionPublished); !strings.HasPrefix(got, "1 of 2 salt-api endpoints are not Published; salt-api at "+salt2+": ") {
			t.Errorf("Published %q", got)
		}
		if !planOf(t, plans, salt1).Out.Remember.Delivered || planOf(t, plans, salt2).Out.Remember.Delivered {
			t.Error("each endpoint remembers its own delivery")
		}
	})

	t.Run("both acknowledged: the endpoints' words, 2/2 masters", func(t *testing.T) {
		nal := testAllowlist(twoMasters, trusting, allocated(2, d2), endpointPublished(salt1, 2, d2), endpointPublished(salt2, 2, d2))
		nal.Status.PublishedSequence, nal.Status.Nodes, nal.Status.Addresses = 2, 1, 2
		f := facts(nal, d2, Memory{})
		f0 := []EndpointFacts{{URL: salt1, Memory: Memory{Delivered: t0.Add(-time.Minute)}}, {URL: salt2, Memory: Memory{Delivered: t0.Add(-2 * time.Minute)}}}
		out := Merge(f, DecideEndpoints(f, f0))
		if out.Status.Masters != "2/2" || out.Requeue != 8*time.Minute || out.Err != nil {
			t.Errorf("masters %q requeue %s err %v", out.Status.Masters, out.Requeue, out.Err)
		}
		if got := conditionMessage(&out.Status, nodeallowv1alpha1.ConditionReady); got != "the published sequence 2 holds the 2 addresses of the 1 selected nodes" {
			t.Errorf("Ready %q", got)
		}
	})

	t.Run("deletion waits for every endpoint's retirement and does not re-send an acknowledged one", func(t *testing.T) {
		nal := testAllowlist(twoMasters, deleting(time.Second), allocated(3, Desired{Digest: protocol.EmptyDigest}),
			endpointPublished(salt1, 2, d2), endpointPublished(salt2, 2, d2))
		f := facts(nal, d2, Memory{})
		retired := flying(Facts{Cluster: "prod", Allowlist: View(nal, salt1)}, 3, Desired{Digest: protocol.EmptyDigest}, time.Second, &Delivery{Chunks: 1}).Flight
		failed := flying(Facts{Cluster: "prod", Allowlist: View(nal, salt2)}, 3, Desired{Digest: protocol.EmptyDigest}, time.Second,
			&Delivery{Failure: &Failure{Reason: ReasonPublishFailed, Err: stuck}}).Flight
		out := Merge(f, DecideEndpoints(f, []EndpointFacts{{URL: salt1, Flight: retired}, {URL: salt2, Flight: failed}}))
		if out.Release || out.Requeue != EndpointRetryBase || out.Status.Endpoints[0].PublishedSequence != 3 {
			t.Fatalf("release %v err %v status %+v: want salt-1's retirement recorded, salt-2 retried", out.Release, out.Err, out.Status)
		}
		nal.Status = out.Status
		plans := DecideEndpoints(f, endpoints(nil))
		if p := planOf(t, plans, salt1).Out; !p.Release || p.Send != nil {
			t.Errorf("salt-1 re-sent its acknowledged retirement: %+v", p.Send)
		}
		if s := planOf(t, plans, salt2).Out.Send; s == nil || s.Snapshot.Kind != protocol.KindRetirement || s.Snapshot.Sequence != 3 || s.Allocate {
			t.Errorf("salt-2: send %+v, want retirement 3 again", s)
		}
		if Merge(f, plans).Release {
			t.Error("released before salt-2 has the retirement")
		}
	})

	t.Run("a retirement one endpoint refused is abandoned there once, not re-sent while another retries", func(t *testing.T) {
		nal := testAllowlist(twoMasters, deleting(time.Second), allocated(3, Desired{Digest: protocol.EmptyDigest}),
			endpointPublished(salt1, 2, d2), endpointPublished(salt2, 2, d2))
		f := facts(nal, d2, Memory{})
		refused := flying(Facts{Cluster: "prod", Allowlist: View(nal, salt1)}, 3, Desired{Digest: protocol.EmptyDigest}, time.Second,
			&Delivery{Failure: &Failure{Reason: ReasonRefused, StatusCode: 403, Answer: "forbidden", Err: errors.New("HTTP 403")}}).Flight
		failed := flying(Facts{Cluster: "prod", Allowlist: View(nal, salt2)}, 3, Desired{Digest: protocol.EmptyDigest}, time.Second,
			&Delivery{Failure: &Failure{Reason: ReasonPublishFailed, Err: stuck}}).Flight
		plans := DecideEndpoints(f, []EndpointFacts{{URL: salt1, Flight: refused}, {URL: salt2, Flight: failed}})
		first := planOf(t, plans, salt1).Out
		if !first.Release || first.Remember.Refused != 3 || len(first.Events) != 1 || first.Events[0].Reason != EventRetirementAbandoned {
			t.Fatalf("salt-1: release %v remember %+v events %+v: want the refusal abandoned and remembered", first.Release, first.Remember, first.Events)
		}
		if Merge(f, plans).Release {
			t.Fatal("released before salt-2 has the retirement")
		}
		again := DecideEndpoints(f, []EndpointFacts{{URL: salt1, Memory: Memory{Refused: 3, RefusedAt: t0}}, {URL: salt2}})
		if p := planOf(t, again, salt1).Out; !p.Release || p.Send != nil || len(p.Events) != 0 {
			t.Errorf("salt-1 after its refusal: release %v send %+v events %+v, want released quietly", p.Release, p.Send, p.Events)
		}
		if s := planOf(t, again, salt2).Out.Send; s == nil || s.Snapshot.Sequence != 3 {
			t.Errorf("salt-2: send %+v, want retirement 3 again", s)
		}
	})
}

func TestMergeOneURL(t *testing.T) {
	d1 := Compute(mustPrefixes("10.0.0.1/32"))
	nal := testAllowlist(publishedAs(1, d1))
	f := facts(nal, d1, Memory{Delivered: t0.Add(-time.Minute)})
	plans := DecideEndpoints(f, []EndpointFacts{{URL: nal.Spec.Salt.URL, Memory: f.Memory}})
	out := Merge(f, plans)
	want := Decide(f)
	want.Status.Masters = "1/1"
	if !equalStatus(out.Status, want.Status) || out.Requeue != want.Requeue || len(out.Status.Endpoints) != 0 {
		t.Errorf("one URL: merged %+v, want Decide's %+v with masters 1/1", out.Status, want.Status)
	}
}

func TestMergeConditionNamesTheErringEndpointAmongEquals(t *testing.T) {
	unknown := func(reason, msg string) nodeallowv1alpha1.NodeAllowlistStatus {
		return nodeallowv1alpha1.NodeAllowlistStatus{Conditions: []metav1.Condition{{Type: nodeallowv1alpha1.ConditionReady,
			Status: metav1.ConditionUnknown, Reason: reason, Message: msg}}}
	}
	storing := unknown(ReasonStoring, "salt-api acknowledged sequence 4; asking the Salt master")
	retrying := unknown(ReasonPublishing, "retrying")
	retrying.LastError = "connection refused"
	failed := retrying
	failed.Conditions = []metav1.Condition{{Type: nodeallowv1alpha1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: ReasonPublishFailed, Message: "down"}}
	for _, tc := range []struct {
		name       string
		one, two   nodeallowv1alpha1.NodeAllowlistStatus
		want       string
		wantStatus metav1.ConditionStatus
	}{
		{"both Unknown: the one with an error, though second in spec order", storing, retrying, salt2, metav1.ConditionUnknown},
		{"both Unknown, both without errors: the first in spec order", storing, unknown(ReasonStoring, "s"), salt1, metav1.ConditionUnknown},
		{"False beats an erring Unknown", retrying, failed, salt2, metav1.ConditionFalse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var st nodeallowv1alpha1.NodeAllowlistStatus
			mergeCondition(&st, []EndpointPlan{{URL: salt1, Out: Outcome{Status: tc.one}}, {URL: salt2, Out: Outcome{Status: tc.two}}},
				nodeallowv1alpha1.ConditionReady, 1, t0)
			c := st.Conditions[0]
			if c.Status != tc.wantStatus || !strings.HasPrefix(c.Message, "2 of 2 salt-api endpoints are not Ready; salt-api at "+tc.want+": ") {
				t.Errorf("Ready %s %q, want %s naming %s", c.Status, c.Message, tc.wantStatus, tc.want)
			}
		})
	}
}
