// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"flag"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

func TestLeaderElectionTimings(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // part of the error; "" for none
	}{
		{nil, ""},
		{[]string{"--leader-elect-lease-duration=4s", "--leader-elect-renew-deadline=3s", "--leader-elect-retry-period=1s"}, ""},
		{[]string{"--leader-elect-lease-duration=60s", "--leader-elect-renew-deadline=40s", "--leader-elect-retry-period=5s"}, ""},
		{[]string{"--leader-elect-renew-deadline=15s"}, "renew-deadline=15s must be less than --leader-elect-lease-duration=15s"},
		{[]string{"--leader-elect-lease-duration=10s"}, "less than --leader-elect-lease-duration=10s"},
		{[]string{"--leader-elect-retry-period=9s"}, "retry-period=9s must be less than --leader-elect-renew-deadline=10s / 1.2"},
		{[]string{"--leader-elect-lease-duration=4s", "--leader-elect-renew-deadline=3s", "--leader-elect-retry-period=2500ms"}, "retry-period=2.5s"},
		{[]string{"--leader-elect-lease-duration=4500ms", "--leader-elect-renew-deadline=3s", "--leader-elect-retry-period=1s"}, "whole number of seconds"},
		{[]string{"--leader-elect-lease-duration=0s"}, "whole number of seconds, at least 1s"},
		{[]string{"--leader-elect-retry-period=0s"}, "retry-period=0s must be positive"},
	} {
		fs := flag.NewFlagSet("manager", flag.ContinueOnError)
		var got leaderElectionTimings
		got.bind(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		err := got.validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v, want no error", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}

// TestLeaderElectionTimingsMatchClientGo keeps validate in step with client-go's own checks, which
// would otherwise stop the manager only after it started.
func TestLeaderElectionTimingsMatchClientGo(t *testing.T) {
	if retryJitter != leaderelection.JitterFactor {
		t.Fatalf("retryJitter = %g, client-go's JitterFactor = %g", retryJitter, leaderelection.JitterFactor)
	}
	for _, lease := range []time.Duration{time.Second, 4 * time.Second, 15 * time.Second} {
		for _, renew := range []time.Duration{500 * time.Millisecond, 3 * time.Second, 10 * time.Second, 15 * time.Second} {
			for _, retry := range []time.Duration{100 * time.Millisecond, time.Second, 2 * time.Second, 2500 * time.Millisecond, 9 * time.Second} {
				ours := leaderElectionTimings{LeaseDuration: lease, RenewDeadline: renew, RetryPeriod: retry}.validate()
				_, theirs := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
					Lock:          &resourcelock.LeaseLock{LockConfig: resourcelock.ResourceLockConfig{Identity: "test"}},
					LeaseDuration: lease, RenewDeadline: renew, RetryPeriod: retry,
					Callbacks: leaderelection.LeaderCallbacks{OnStartedLeading: func(context.Context) {}, OnStoppedLeading: func() {}},
				})
				if ours == nil && theirs != nil {
					t.Errorf("lease %s, renew %s, retry %s: validate accepts what client-go refuses: %v", lease, renew, retry, theirs)
				}
				if ours != nil && theirs == nil && lease%time.Second == 0 {
					t.Errorf("lease %s, renew %s, retry %s: validate refuses what client-go accepts: %v", lease, renew, retry, ours)
				}
			}
		}
	}
}
