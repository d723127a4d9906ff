// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"flag"
	"fmt"
	"time"
)

// The leader election defaults are controller-runtime's, which are also kube-controller-manager's and
// kube-scheduler's, so operators know them. They were kept on purpose (docs/install.md, "Leader
// election and failover"):
//
//   - A replica that crashes is replaced one lease duration (plus up to two retry periods) after its
//     last renewal: ~17 s. A rollout or a drain does not wait for that: the leader releases the Lease
//     when it stops (LeaderElectionReleaseOnCancel), and the standby's caches are warm (EnableWarmup
//     in controllers.NodeAllowlistReconciler.SetupWithManager), so the new leader publishes at once.
//     Firewalls keep the last published set meanwhile; a crash delays Node changes by less than the
//     debounce.max of 30 s that they may wait anyway.
//   - The renew deadline is how long an API server outage the leader rides out before it exits.
//     Nothing can be observed or recorded during the outage, and the standby (or the restarted Pod)
//     takes over once the API server answers again, so an exit costs a restart, not an update. A
//     longer deadline needs a longer lease, i.e. slower crash failover, for no publish gained.
//   - A shorter lease renews more often (one Lease write per retry period, for the life of the
//     cluster) and turns short API server or etcd hiccups into leader changes.
//
// Clusters that want faster crash failover (e.g. 6s/4s/1s) or run a single API server that restarts
// for longer than 10 s (e.g. 60s/40s/5s) set the flags (chart values leaderElection.leaseDuration,
// .renewDeadline, .retryPeriod).
const (
	// defaultLeaseDuration is how long a standby waits after the last renewal it saw before it takes over.
	defaultLeaseDuration = 15 * time.Second
	// defaultRenewDeadline is how long the leader keeps trying to renew before it gives up leading.
	defaultRenewDeadline = 10 * time.Second
	// defaultRetryPeriod is how often the leader renews and a standby tries to acquire.
	defaultRetryPeriod = 2 * time.Second
)

// retryJitter is client-go's leaderelection.JitterFactor: a standby's attempts come every retry
// period to 1.2 retry periods, and the renew deadline must exceed the longest of them.
const retryJitter = 1.2

// leaderElectionTimings are the --leader-elect-* durations.
type leaderElectionTimings struct {
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// bind defines the three flags on fs, each with its default.
func (t *leaderElectionTimings) bind(fs *flag.FlagSet) {
	fs.DurationVar(&t.LeaseDuration, "leader-elect-lease-duration", defaultLeaseDuration,
		"With --leader-elect: how long a standby replica waits after the leader's last renewal before it "+
			"takes over (whole seconds: the Lease stores seconds). A crashed leader is replaced after about "+
			"this plus one or two retry periods.")
	fs.DurationVar(&t.RenewDeadline, "leader-elect-renew-deadline", defaultRenewDeadline,
		"With --leader-elect: how long the leader retries renewing its Lease (e.g. while the API server is "+
			"down) before it stops leading and exits. Less than --leader-elect-lease-duration.")
	fs.DurationVar(&t.RetryPeriod, "leader-elect-retry-period", defaultRetryPeriod,
		"With --leader-elect: how often the leader renews its Lease and a standby tries to acquire it. "+
			"Less than --leader-elect-renew-deadline / 1.2 (client-go jitters it by up to 20%).")
}

// validate checks what client-go's leader elector would refuse only once the manager started, and
// what it would silently round: the Lease records its duration in whole seconds.
func (t leaderElectionTimings) validate() error {
	switch {
	case t.RetryPeriod <= 0:
		return fmt.Errorf("--leader-elect-retry-period=%s must be positive", t.RetryPeriod)
	case t.LeaseDuration < time.Second || t.LeaseDuration%time.Second != 0:
		return fmt.Errorf("--leader-elect-lease-duration=%s must be a whole number of seconds, at least 1s: "+
			"the Lease records it in seconds", t.LeaseDuration)
	case t.RenewDeadline >= t.LeaseDuration:
		return fmt.Errorf("--leader-elect-renew-deadline=%s must be less than --leader-elect-lease-duration=%s, "+
			"so the leader gives up before a standby may take over", t.RenewDeadline, t.LeaseDuration)
	case time.Duration(retryJitter*float64(t.RetryPeriod)) >= t.RenewDeadline:
		return fmt.Errorf("--leader-elect-retry-period=%s must be less than --leader-elect-renew-deadline=%s / %g, "+
			"so the leader gets at least one renewal attempt (jittered by up to 20%%) within the deadline",
			t.RetryPeriod, t.RenewDeadline, retryJitter)
	}
	return nil
}
