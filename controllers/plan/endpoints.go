// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package plan

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
)

// Several salt-api endpoints per allowlist (spec.salt.endpoints, classic multi-master): one sequence
// per allowlist, published to every endpoint on its own. Decide runs once per endpoint on a View of
// the allowlist whose spec names that endpoint alone and whose status is the shared allocation with
// that endpoint's own acknowledged state, so every rule of Decide and Settle holds per endpoint
// (retries, stalls, refusals, delivery checks); Merge folds the endpoints' Outcomes into the one
// status the controller writes. A hanging or refusing master delays nobody else: each endpoint has
// its own Flight and Memory.

// Retries of one endpoint of several: a failed publish (reason PublishFailed: the salt-api is down,
// refuses connections, times out) is retried after EndpointRetryBase, doubling per failure in a row up
// to EndpointRetryMax, on that endpoint's own clock; the work queue's backoff, shared by the whole
// allowlist, would grow while one master is down for minutes and delay it for minutes after it is back.
// Each attempt is one connection to a master that is down, or one request that waits for a hanging one
// (the publish timeout bounds it), so a master that comes back gets the current snapshot within
// EndpointRetryMax plus the publisher's own retries.
const (
	EndpointRetryBase = 500 * time.Millisecond
	EndpointRetryMax  = 5 * time.Second
)

// EndpointFacts is what one reconcile gathered about one salt-api endpoint of an allowlist: the
// per-endpoint part of Facts.
type EndpointFacts struct {
	// URL is the endpoint's salt-api base URL.
	URL string
	// Memory, Flight, Check and Checking are Facts' fields for this endpoint.
	Memory   Memory
	Flight   *Flight
	Check    *Check
	Checking bool
}

// EndpointPlan is Decide's Outcome for one endpoint, with the Facts (the endpoint's View) it was
// decided from, which Settle needs when the controller makes its Send.
type EndpointPlan struct {
	// URL is the endpoint's salt-api base URL.
	URL string
	// Facts are the allowlist's Facts with this endpoint's View, Memory, Flight, Check and Checking.
	Facts Facts
	// Out is what to do for this endpoint.
	Out Outcome
}

// Multi reports whether the allowlist publishes to several salt-api endpoints (spec.salt.endpoints).
func Multi(nal *nodeallowv1alpha1.NodeAllowlist) bool {
	return len(nal.Spec.Salt.Endpoints) > 0
}

// EndpointURLs lists the allowlist's salt-api base URLs in spec order: spec.salt.url, or each of spec.salt.endpoints.
func EndpointURLs(nal *nodeallowv1alpha1.NodeAllowlist) []string {
	if !Multi(nal) {
		return []string{nal.Spec.Salt.URL}
	}
	urls := make([]string, 0, len(nal.Spec.Salt.Endpoints))
	for _, e := range nal.Spec.Salt.Endpoints {
		urls = append(urls, e.URL)
	}
	return urls
}

// View returns the allowlist as one of its endpoints sees it: spec.salt names only that endpoint
// (its credentials and CA, or the defaults beside the list), and the status holds the shared
// allocation and selection with that endpoint's own acknowledged sequence, delivery, error and
// conditions. With spec.salt.url it is the allowlist itself. The result must not be modified.
func View(nal *nodeallowv1alpha1.NodeAllowlist, url string) *nodeallowv1alpha1.NodeAllowlist {
	if !Multi(nal) {
		return nal
	}
	v := &nodeallowv1alpha1.NodeAllowlist{TypeMeta: nal.TypeMeta, ObjectMeta: *nal.ObjectMeta.DeepCopy(), Spec: *nal.Spec.DeepCopy()}
	salt := &v.Spec.Salt
	for _, e := range salt.Endpoints {
		if e.URL != url {
			continue
		}
		salt.URL = e.URL
		if e.CredentialsSecretRef != nil {
			salt.CredentialsSecretRef = e.CredentialsSecretRef
		}
		if len(e.CABundle) > 0 {
			salt.CABundle = e.CABundle
		}
	}
	salt.Endpoints = nil
	top := &nal.Status
	v.Status = nodeallowv1alpha1.NodeAllowlistStatus{ObservedGeneration: top.ObservedGeneration, Nodes: top.Nodes,
		Addresses: top.Addresses, Sequence: top.Sequence, Digest: top.Digest}
	if e := endpointStatus(top, url); e != nil {
		e = e.DeepCopy()
		v.Status.PublishedAddresses, v.Status.PublishedSequence, v.Status.LastPublishedTime = e.PublishedAddresses, e.PublishedSequence, e.LastPublishedTime
		v.Status.Delivery, v.Status.LastError, v.Status.Conditions = e.Delivery, e.LastError, e.Conditions
	}
	return v
}

// endpointStatus returns the recorded status of the endpoint url, nil when none is recorded.
func endpointStatus(st *nodeallowv1alpha1.NodeAllowlistStatus, url string) *nodeallowv1alpha1.EndpointStatus {
	for i := range st.Endpoints {
		if st.Endpoints[i].URL == url {
			return &st.Endpoints[i]
		}
	}
	return nil
}

// DecideEndpoints runs Decide for each endpoint (eps, in spec order) on its View. Without the
// allowlist (gone, or still debouncing on the cached copy) there is nothing per endpoint: one plan
// decides for all.
func DecideEndpoints(f Facts, eps []EndpointFacts) []EndpointPlan {
	if f.Allowlist == nil || len(eps) == 0 {
		return []EndpointPlan{{Facts: f, Out: Decide(f)}}
	}
	plans := make([]EndpointPlan, 0, len(eps))
	for _, ep := range eps {
		ef := f
		ef.Allowlist = View(f.Allowlist, ep.URL)
		ef.Memory, ef.Flight, ef.Check, ef.Checking = ep.Memory, ep.Flight, ep.Check, ep.Checking
		plans = append(plans, EndpointPlan{URL: ep.URL, Facts: ef, Out: Decide(ef)})
	}
	return plans
}

// Merge folds the endpoints' Outcomes into the one Outcome the controller records: their Events,
// the earliest Requeue, every error, Release only once every endpoint released, and the status. With
// spec.salt.url the status is that endpoint's; with spec.salt.endpoints, status.endpoints holds each
// endpoint's own, and the fields beside it say what holds for all: the shared allocation, the
// lowest acknowledged sequence (the laggard's published fields), and each condition as the worst
// endpoint has it, naming that endpoint. Sends and Remember stay per endpoint (the controller makes
// and remembers them from the plans).
func Merge(f Facts, plans []EndpointPlan) Outcome {
	if len(plans) == 1 && (f.Allowlist == nil || !Multi(f.Allowlist)) {
		out := plans[0].Out
		out.Send, out.Remember = nil, Remember{}
		if f.Allowlist != nil {
			out.Status.Endpoints = nil
			out.Status.Masters = masters(out.Status.Sequence, []int64{out.Status.PublishedSequence})
		}
		return out
	}
	var out Outcome
	var errs []error
	out.Release, out.Forget = true, false
	for _, p := range plans {
		for _, e := range p.Out.Events {
			if !slices.Contains(out.Events, e) {
				out.Events = append(out.Events, e)
			}
		}
		if p.Out.Requeue > 0 && (out.Requeue == 0 || p.Out.Requeue < out.Requeue) {
			out.Requeue = p.Out.Requeue
		}
		switch {
		case p.Out.Err != nil && p.Out.Remember.Failed:
			// Retried on the endpoint's own clock (EndpointRetryBase); the error is in its status and
			// the publish's log line.
			if wait := endpointRetry(p.Facts.Memory.Failures + 1); out.Requeue == 0 || wait < out.Requeue {
				out.Requeue = wait
			}
		case p.Out.Err != nil:
			errs = append(errs, p.Out.Err)
		}
		out.Release = out.Release && p.Out.Release
		out.Forget = out.Forget || p.Out.Forget
	}
	out.Err = errors.Join(errs...)
	if out.Forget {
		return Outcome{Forget: true}
	}
	out.Status = mergeStatus(f, plans)
	return out
}

// mergeStatus is Merge's status for spec.salt.endpoints.
func mergeStatus(f Facts, plans []EndpointPlan) nodeallowv1alpha1.NodeAllowlistStatus {
	nal := f.Allowlist
	rec := &nal.Status
	st := nodeallowv1alpha1.NodeAllowlistStatus{ObservedGeneration: rec.ObservedGeneration, Nodes: rec.Nodes,
		Addresses: rec.Addresses, Sequence: rec.Sequence, Digest: rec.Digest, Conditions: slices.Clone(rec.Conditions)}
	published := make([]int64, 0, len(plans))
	var laggard, worstApplied *nodeallowv1alpha1.NodeAllowlistStatus
	var errs []string
	for i := range plans {
		s := &plans[i].Out.Status
		// Shared fields: every endpoint decided from the same record and selection, so the ones that
		// moved agree (an endpoint that only waited for its send kept the record).
		st.ObservedGeneration = max(st.ObservedGeneration, s.ObservedGeneration)
		if s.Nodes != rec.Nodes || s.Addresses != rec.Addresses {
			st.Nodes, st.Addresses = s.Nodes, s.Addresses
		}
		if s.Sequence > st.Sequence {
			st.Sequence, st.Digest = s.Sequence, s.Digest
		}
		if laggard == nil || s.PublishedSequence < laggard.PublishedSequence {
			laggard = s
		}
		if s.Delivery != nil && (worstApplied == nil || rank(s, nodeallowv1alpha1.ConditionApplied) < rank(worstApplied, nodeallowv1alpha1.ConditionApplied)) {
			worstApplied = s
		}
		published = append(published, s.PublishedSequence)
		if s.LastError != "" {
			errs = append(errs, fmt.Sprintf("salt-api at %s: %s", plans[i].URL, s.LastError))
		}
		st.Endpoints = append(st.Endpoints, nodeallowv1alpha1.EndpointStatus{URL: plans[i].URL,
			PublishedAddresses: s.PublishedAddresses, PublishedSequence: s.PublishedSequence, LastPublishedTime: s.LastPublishedTime,
			Delivery: s.Delivery, LastError: s.LastError, Conditions: s.Conditions})
	}
	st.PublishedSequence, st.PublishedAddresses, st.LastPublishedTime = laggard.PublishedSequence, laggard.PublishedAddresses, laggard.LastPublishedTime
	if worstApplied != nil {
		st.Delivery = worstApplied.Delivery
	}
	st.LastError = truncate(strings.Join(errs, "; "), maxLastError)
	st.Masters = masters(st.Sequence, published)
	for _, t := range []string{nodeallowv1alpha1.ConditionReady, nodeallowv1alpha1.ConditionPublished,
		nodeallowv1alpha1.ConditionStored, nodeallowv1alpha1.ConditionApplied} {
		mergeCondition(&st, plans, t, nal.Generation, f.Now)
	}
	return st
}

// mergeCondition sets condition type t of st to the worst endpoint's (False, then Unknown, then True; among
// equals one with a lastError, then the first in spec order), saying how many endpoints are not True and
// naming the worst: a failing endpoint is named before one that is only waiting (e.g. for its store check).
// Endpoints that agree word for word need no prefix. No endpoint with the condition removes it.
func mergeCondition(st *nodeallowv1alpha1.NodeAllowlistStatus, plans []EndpointPlan, t string, generation int64, now time.Time) {
	var worst *metav1.Condition
	var worstURL string
	same, notTrue, n, worstRank := true, 0, 0, 0
	for i := range plans {
		c := meta.FindStatusCondition(plans[i].Out.Status.Conditions, t)
		if c == nil {
			continue
		}
		n++
		if c.Status != metav1.ConditionTrue {
			notTrue++
		}
		if worst != nil && (c.Status != worst.Status || c.Reason != worst.Reason || c.Message != worst.Message) {
			same = false
		}
		// Twice the status rank, plus one without an error: an erring endpoint is worse among equals.
		r := 2 * statusRank(c.Status)
		if plans[i].Out.Status.LastError == "" {
			r++
		}
		if worst == nil || r < worstRank {
			worst, worstURL, worstRank = c, plans[i].URL, r
		}
	}
	if worst == nil {
		meta.RemoveStatusCondition(&st.Conditions, t)
		return
	}
	msg := worst.Message
	switch {
	case same && n == len(plans):
	case worst.Status == metav1.ConditionTrue:
		msg = fmt.Sprintf("all %d salt-api endpoints: %s", len(plans), msg)
	default:
		msg = fmt.Sprintf("%d of %d salt-api endpoints are not %s; salt-api at %s: %s", notTrue, len(plans), t, worstURL, msg)
	}
	setCondition(st, generation, now, t, worst.Status, worst.Reason, msg)
}

// rank orders a status by its condition t, worst first (a missing condition ranks as Unknown).
func rank(st *nodeallowv1alpha1.NodeAllowlistStatus, t string) int {
	if c := meta.FindStatusCondition(st.Conditions, t); c != nil {
		return statusRank(c.Status)
	}
	return statusRank(metav1.ConditionUnknown)
}

// statusRank orders condition statuses, worst first.
func statusRank(s metav1.ConditionStatus) int {
	switch s {
	case metav1.ConditionFalse:
		return 0
	case metav1.ConditionTrue:
		return 2
	default:
		return 1
	}
}

// endpointRetry is the wait before retrying an endpoint after its failures-th failed publish in a row.
func endpointRetry(failures int) time.Duration {
	return min(EndpointRetryBase<<min(max(failures-1, 0), 8), EndpointRetryMax)
}

// masters is status.masters: how many endpoints acknowledged the allocated sequence, of how many.
func masters(sequence int64, published []int64) string {
	current := 0
	for _, p := range published {
		if sequence > 0 && p >= sequence {
			current++
		}
	}
	return fmt.Sprintf("%d/%d", current, len(published))
}
