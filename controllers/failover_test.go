// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/nodeallow/nodeallow/test/saltapistandin"
)

// leaderElected runs the manager as one replica of a leader-elected pair, with timings short enough
// for a test (a standby notices a released Lease within a retry period).
func leaderElected(id string) func(*ctrl.Options) {
	return func(o *ctrl.Options) {
		o.LeaderElection = true
		o.LeaderElectionID = id
		o.LeaderElectionNamespace = testNamespace
		o.LeaderElectionReleaseOnCancel = true
		o.LeaseDuration = ptr.To(3 * time.Second)
		o.RenewDeadline = ptr.To(2 * time.Second)
		o.RetryPeriod = ptr.To(200 * time.Millisecond)
	}
}

var _ = Describe("Leader failover", func() {
	It("lets the standby confirm an unchanged snapshot at once when it takes over, not after debounce.min", func() {
		salt := saltapistandin.New(testSigningKey)
		DeferCleanup(salt.Close)
		pool := map[string]string{testPoolLabel: "failover"}
		createNode("failover-a", pool, "10.9.0.1")
		nal := testAllowlist("failover", "failover", salt)
		// Long enough that waiting it out would fail the timing below.
		nal.Spec.Debounce.Min = metav1.Duration{Duration: 10 * time.Second}
		nal.Spec.Debounce.Max = metav1.Duration{Duration: 20 * time.Second}
		createAllowlist(nal)

		stopLeader := startManager(leaderElected("nodeallow-failover-test"))
		// The Node is in the leader's initial list, not a change: it publishes without a debounce too.
		Eventually(summaries(salt, nal.Name), 5*time.Second).Should(Equal([]string{"snapshot 1 [10.9.0.1/32]"}))
		startManager(leaderElected("nodeallow-failover-test"))
		// Let the standby's warm-up (its Node and NodeAllowlist watches) sync.
		Consistently(summaries(salt, nal.Name), 2*time.Second).Should(HaveLen(1), "the standby published")

		handedOver := time.Now()
		stopLeader()
		Eventually(summaries(salt, nal.Name), 5*time.Second).Should(Equal([]string{
			"snapshot 1 [10.9.0.1/32]", "snapshot 1 [10.9.0.1/32]",
		}), "the new leader re-sends the recorded sequence unchanged")
		took := time.Since(handedOver)
		GinkgoWriter.Printf("new leader confirmed sequence 1 %s after the old one stopped\n", took)
		Expect(took).To(BeNumerically("<", nal.Spec.Debounce.Min.Duration/2), "the confirm waited for the debounce")
		Expect(salt.SnapshotsFor(nal.Name)[1].Digest()).To(Equal(salt.SnapshotsFor(nal.Name)[0].Digest()))
		Eventually(func() int64 { return getAllowlist(nal.Name).Status.PublishedSequence }).Should(BeEquivalentTo(1))
	})
})
