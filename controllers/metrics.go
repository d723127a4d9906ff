// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
	"github.com/nodeallow/nodeallow/controllers/plan"
)

// Publish results, the values of the result label of publishesTotal.
const (
	resultSuccess = "success"
	resultFailure = "failure"
	resultRefused = "refused"
	resultInvalid = "invalid"
)

// publishResult is the result label of one publish: success, refused, invalid, or failure for
// everything retried with backoff.
func publishResult(fail *plan.Failure) string {
	switch {
	case fail == nil:
		return resultSuccess
	case fail.Reason == plan.ReasonRefused, fail.Reason == plan.ReasonLoginFailed:
		return resultRefused
	case fail.Reason == plan.ReasonInvalidSpec:
		return resultInvalid
	default:
		return resultFailure
	}
}

// Node event stages, the values of the stage label of nodeEventsTotal.
const (
	stageReceived = "received"
	stagePassed   = "passed"
)

var (
	publishesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "nodeallow_publishes_total",
		Help: "Publishes to salt-api (snapshots, resyncs and retirements) by result: success, failure (retried with backoff), refused (by salt-api, permanent) or invalid (the salt-api endpoint cannot be used as configured).",
	}, []string{"result"})

	publishDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "nodeallow_publish_duration_seconds",
		Help:    "Time one publish took, all chunks and retries included.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12),
	})

	addressesGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "nodeallow_addresses",
		Help: "Addresses and CIDRs in an allowlist's current canonical snapshot.",
	}, []string{"allowlist"})

	lastSuccessTimestamp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "nodeallow_last_success_timestamp_seconds",
		Help: "Unix time of an allowlist's last publish that salt-api acknowledged.",
	}, []string{"allowlist"})

	deliveryChecksTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "nodeallow_delivery_checks_total",
		Help: "Store and delivery checks (the runner nodeallow.status through salt-api; spec.delivery.verifyStore, spec.delivery.confirm) by result: success or failure.",
	}, []string{"result"})

	subscribersGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "nodeallow_subscribers",
		Help: "Minions subscribed to an allowlist as the last delivery check found them, by state: applied (the acknowledged sequence), behind, failed (last apply failed).",
	}, []string{"allowlist", "state"})

	heldGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "nodeallow_held",
		Help: "1 while an allowlist holds its last published set instead of publishing the selection, with the reason (BelowMinimum, TooManyAddresses, TooWide, ShrinkHeld).",
	}, []string{"allowlist", "reason"})

	nodeEventsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "nodeallow_node_events_total",
		Help: "Node watch events, as received and as passed on as changes (of labels, addresses or deletion state).",
	}, []string{"stage"})

	buildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "nodeallow_build_info",
		Help: "Always 1, labelled with the controller's version (the release's, as --version prints it) and Go version.",
	}, []string{"version", "goversion"})
)

func init() {
	metrics.Registry.MustRegister(publishesTotal, publishDuration, addressesGauge, lastSuccessTimestamp, nodeEventsTotal,
		deliveryChecksTotal, subscribersGauge, heldGauge, buildInfo)
	// Both results exist from the start, so that rate() and increase() see the first failure.
	for _, result := range []string{resultSuccess, resultFailure} {
		deliveryChecksTotal.WithLabelValues(result)
	}
}

// RecordBuildInfo sets nodeallow_build_info for this process's version (main.version).
func RecordBuildInfo(version string) {
	buildInfo.WithLabelValues(version, runtime.Version()).Set(1)
}

// Subscriber states, the values of the state label of subscribersGauge.
const (
	stateApplied = "applied"
	stateBehind  = "behind"
	stateFailed  = "failed"
)

// recordStatusMetrics sets the gauges that follow an allowlist's recorded status: its hold and, with
// delivery confirmation, its subscribers.
func recordStatusMetrics(name string, st *nodeallowv1alpha1.NodeAllowlistStatus) {
	heldGauge.DeletePartialMatch(prometheus.Labels{"allowlist": name})
	if reason := plan.ReadyReason(st); plan.IsHold(reason) {
		heldGauge.WithLabelValues(name, reason).Set(1)
	}
	d := st.Delivery
	if d == nil {
		subscribersGauge.DeletePartialMatch(prometheus.Labels{"allowlist": name})
		return
	}
	subscribersGauge.WithLabelValues(name, stateApplied).Set(float64(d.Applied))
	subscribersGauge.WithLabelValues(name, stateBehind).Set(float64(d.Behind))
	subscribersGauge.WithLabelValues(name, stateFailed).Set(float64(d.Failed))
}

// forgetAllowlistMetrics drops the series of a deleted allowlist so dashboards do not show it forever.
func forgetAllowlistMetrics(name string) {
	addressesGauge.DeleteLabelValues(name)
	lastSuccessTimestamp.DeleteLabelValues(name)
	heldGauge.DeletePartialMatch(prometheus.Labels{"allowlist": name})
	subscribersGauge.DeletePartialMatch(prometheus.Labels{"allowlist": name})
}
