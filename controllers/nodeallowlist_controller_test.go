// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
	"github.com/nodeallow/nodeallow/controllers/plan"
	"github.com/nodeallow/nodeallow/controllers/publisher"
	"github.com/nodeallow/nodeallow/test/saltapistandin"
)

// heartbeatDuration is how long the heartbeat test rewrites Node status.
const heartbeatDuration = time.Minute

var _ = Describe("NodeAllowlist controller", func() {
	var salt *saltapistandin.Server

	BeforeEach(func() {
		salt = saltapistandin.New(testSigningKey)
		DeferCleanup(func() {
			Expect(salt.Problems()).To(BeEmpty(), "the controller sent bodies a receiver refuses")
			salt.Close()
		})
	})

	It("publishes exactly one snapshot per settled change of the selected Nodes, and a retirement on delete", func() {
		startController()
		pool := map[string]string{testPoolLabel: "lifecycle"}
		other := map[string]string{testPoolLabel: "elsewhere"}

		By("holding an empty selection below the default minimum of one address")
		nal := testAllowlist("lifecycle", "lifecycle", salt)
		createAllowlist(nal)
		Eventually(func() string { return condition(nal.Name, nodeallowv1alpha1.ConditionReady).Reason }, 10*time.Second).
			Should(Equal(plan.ReasonBelowMinimum))
		Expect(getAllowlist(nal.Name).Finalizers).To(ContainElement(plan.Finalizer))

		By("creating two selected Nodes")
		createNode("lifecycle-a", pool, "10.1.0.1")
		b := createNode("lifecycle-b", pool, "10.1.0.2", "fd00::2")
		want := []string{"snapshot 1 [10.1.0.1/32 10.1.0.2/32 fd00::2/128]"}
		Eventually(summaries(salt, nal.Name), 15*time.Second).Should(Equal(want))
		Eventually(func() string { return condition(nal.Name, nodeallowv1alpha1.ConditionReady).Reason }).Should(Equal(plan.ReasonPublished))

		By("creating a Node the selector does not match: nothing to publish")
		c := createNode("lifecycle-c", other, "10.1.0.3")

		By("relabelling a Node out of the selector")
		b.Labels = other
		Expect(k8sClient.Update(ctx, b)).To(Succeed())
		want = append(want, "snapshot 2 [10.1.0.1/32]")
		Eventually(summaries(salt, nal.Name), 15*time.Second).Should(Equal(want))

		By("relabelling a Node into the selector")
		c.Labels = pool
		Expect(k8sClient.Update(ctx, c)).To(Succeed())
		want = append(want, "snapshot 3 [10.1.0.1/32 10.1.0.3/32]")
		Eventually(summaries(salt, nal.Name), 15*time.Second).Should(Equal(want))

		By("re-addressing a Node")
		c.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.1.0.33"}}
		Expect(k8sClient.Status().Update(ctx, c)).To(Succeed())
		want = append(want, "snapshot 4 [10.1.0.1/32 10.1.0.33/32]")
		Eventually(summaries(salt, nal.Name), 15*time.Second).Should(Equal(want))

		By("deleting a Node")
		Expect(k8sClient.Delete(ctx, c)).To(Succeed())
		want = append(want, "snapshot 5 [10.1.0.1/32]")
		Eventually(summaries(salt, nal.Name), 15*time.Second).Should(Equal(want))

		By("changing only things a snapshot does not use: nothing more is published")
		b.Labels = map[string]string{testPoolLabel: "elsewhere", "unrelated": "x"}
		Expect(k8sClient.Update(ctx, b)).To(Succeed())
		Consistently(summaries(salt, nal.Name), 3*time.Second).Should(Equal(want))

		got := getAllowlist(nal.Name)
		Expect(got.Status.Sequence).To(BeEquivalentTo(5))
		Expect(got.Status.PublishedSequence).To(BeEquivalentTo(5))
		Expect(got.Status.Nodes).To(BeEquivalentTo(1))
		Expect(got.Status.Addresses).To(BeEquivalentTo(1))
		Expect(got.Status.Digest).To(Equal(salt.SnapshotsFor(nal.Name)[4].Digest()))
		Expect(got.Status.LastPublishedTime).NotTo(BeNil())
		Expect(got.Status.LastError).To(BeEmpty())
		Expect(eventNotes(nal.Name, plan.ReasonPublished)()).NotTo(BeEmpty())

		By("deleting the NodeAllowlist: a retirement under the next sequence, then it is gone")
		Expect(k8sClient.Delete(ctx, nal)).To(Succeed())
		Eventually(func() error {
			return k8sClient.Get(ctx, client.ObjectKeyFromObject(nal), &nodeallowv1alpha1.NodeAllowlist{})
		}, 15*time.Second).Should(Satisfy(apierrors.IsNotFound))
		Expect(summaries(salt, nal.Name)()).To(Equal(append(want, "retirement 6 []")))
		Expect(salt.SnapshotsFor(nal.Name)[5].Cluster).To(Equal(testClusterName))
		Eventually(eventNotes(nal.Name, plan.EventRetired)).ShouldNot(BeEmpty())
	})

	It("publishes nothing for a minute of heartbeat-only Node updates", func() {
		startController()
		pool := map[string]string{testPoolLabel: "heartbeat"}
		nal := testAllowlist("heartbeat", "heartbeat", salt)
		createAllowlist(nal)
		var nodes []*corev1.Node
		for i := range 10 {
			nodes = append(nodes, createNode(fmt.Sprintf("heartbeat-%d", i), pool, fmt.Sprintf("10.3.0.%d", i+1)))
		}
		Eventually(func() int { return len(salt.SnapshotsFor(nal.Name)) }, 15*time.Second).Should(Equal(1))
		requestsBefore := salt.Requests()
		receivedBefore := counterValue(nodeEventsTotal.WithLabelValues(stageReceived))
		passedBefore := counterValue(nodeEventsTotal.WithLabelValues(stagePassed))

		By("rewriting status conditions and an unrelated annotation of every Node, again and again")
		updates := 0
		for end := time.Now().Add(heartbeatDuration); time.Now().Before(end); {
			for _, n := range nodes {
				now := metav1.Now()
				n.Status.Conditions = []corev1.NodeCondition{{
					Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
					LastHeartbeatTime: now, LastTransitionTime: metav1.NewTime(now.Add(-time.Hour)),
				}}
				// Within one second the heartbeat time serialises the same and the
				// API server skips the write; count only writes that made an event.
				rv := n.ResourceVersion
				Expect(k8sClient.Status().Update(ctx, n)).To(Succeed())
				if n.ResourceVersion != rv {
					updates++
				}
				if n.Annotations == nil {
					n.Annotations = map[string]string{}
				}
				n.Annotations["example.com/last-heartbeat"] = now.UTC().Format(time.RFC3339Nano)
				Expect(k8sClient.Update(ctx, n)).To(Succeed())
				updates++
			}
			time.Sleep(200 * time.Millisecond)
		}
		// Give the last events time to arrive before counting.
		Eventually(func() float64 { return counterValue(nodeEventsTotal.WithLabelValues(stageReceived)) - receivedBefore }, 10*time.Second).
			Should(BeNumerically(">=", updates))
		Consistently(salt.Requests, 3*time.Second).Should(Equal(requestsBefore), "a heartbeat caused a publish")
		Expect(counterValue(nodeEventsTotal.WithLabelValues(stagePassed))-passedBefore).To(BeZero(), "the predicate passed a heartbeat")
		GinkgoWriter.Printf("%d heartbeat updates, 0 passed, 0 publishes\n", updates)
	})

	It("coalesces a burst of 500 Node creations into few publishes, the last one complete", func() {
		startController()
		pool := map[string]string{testPoolLabel: "burst"}
		nal := testAllowlist("burst", "burst", salt)
		// The burst lasts several times max, so max must cut it into a few publishes.
		nal.Spec.Debounce.Min = metav1.Duration{Duration: 500 * time.Millisecond}
		nal.Spec.Debounce.Max = metav1.Duration{Duration: time.Second}
		createAllowlist(nal)
		debounceMin, debounceMax := nal.Spec.Debounce.Min.Duration, nal.Spec.Debounce.Max.Duration

		const total = 500
		start := time.Now()
		var wg sync.WaitGroup
		names := make(chan int)
		for range 8 {
			wg.Go(func() {
				defer GinkgoRecover()
				for i := range names {
					createNode(fmt.Sprintf("burst-%03d", i), pool, fmt.Sprintf("10.2.%d.%d", i/250, i%250+1))
					// Paced so the burst outlasts debounce.max but never pauses for debounce.min.
					time.Sleep(40 * time.Millisecond)
				}
			})
		}
		for i := range total {
			names <- i
		}
		close(names)
		wg.Wait()
		burst := time.Since(start)

		Eventually(func() int {
			snaps := salt.SnapshotsFor(nal.Name)
			if len(snaps) == 0 {
				return 0
			}
			return len(snaps[len(snaps)-1].Addresses)
		}, 30*time.Second).Should(Equal(total), "the last publish is not complete")
		Consistently(func() int { return len(salt.SnapshotsFor(nal.Name)) }, 2*debounceMin).Should(Equal(len(salt.SnapshotsFor(nal.Name))))

		limit := int(math.Ceil(burst.Seconds()/debounceMin.Seconds())) + 2
		snaps := salt.SnapshotsFor(nal.Name)
		GinkgoWriter.Printf("burst of %d creations took %s: %d publishes (limit %d)\n", total, burst, len(snaps), limit)
		Expect(len(snaps)).To(BeNumerically("<=", limit))
		if burst > 3*debounceMax {
			Expect(len(snaps)).To(BeNumerically(">=", 2), "debounce.max did not cut a long burst")
		}
		for i, s := range snaps {
			Expect(s.Sequence).To(BeEquivalentTo(i+1), "sequences must grow by one per change")
		}
	})

	It("re-sends the recorded sequence after a restart, including one that was never acknowledged", func() {
		pool := map[string]string{testPoolLabel: "restart"}
		stop := startController()
		nal := testAllowlist("restart", "restart", salt)
		createAllowlist(nal)
		createNode("restart-a", pool, "10.4.0.1")
		Eventually(summaries(salt, nal.Name), 15*time.Second).Should(Equal([]string{"snapshot 1 [10.4.0.1/32]"}))
		firstDigest := salt.SnapshotsFor(nal.Name)[0].Digest()
		stop()

		By("a new manager re-sends sequence 1 unchanged")
		stop = startController()
		Eventually(summaries(salt, nal.Name), 15*time.Second).Should(Equal([]string{"snapshot 1 [10.4.0.1/32]", "snapshot 1 [10.4.0.1/32]"}))
		Expect(salt.SnapshotsFor(nal.Name)[1].Digest()).To(Equal(firstDigest))

		By("a change that salt-api fails to take is recorded as sequence 2, not acknowledged")
		salt.Fail(http.StatusServiceUnavailable, "master is restarting")
		createNode("restart-b", pool, "10.4.0.2")
		Eventually(func() string { return condition(nal.Name, nodeallowv1alpha1.ConditionPublished).Reason }, 20*time.Second).
			Should(Equal(plan.ReasonPublishFailed))
		got := getAllowlist(nal.Name)
		Expect(got.Status.Sequence).To(BeEquivalentTo(2))
		Expect(got.Status.PublishedSequence).To(BeEquivalentTo(1))
		Expect(got.Status.LastError).To(ContainSubstring("503"))
		stop()

		By("the next manager sends that same sequence 2 once salt-api is back")
		salt.Fail(0, "")
		startController()
		Eventually(summaries(salt, nal.Name), 15*time.Second).Should(Equal([]string{
			"snapshot 1 [10.4.0.1/32]", "snapshot 1 [10.4.0.1/32]", "snapshot 2 [10.4.0.1/32 10.4.0.2/32]",
		}))
		Eventually(func() int64 { return getAllowlist(nal.Name).Status.PublishedSequence }).Should(BeEquivalentTo(2))
	})

	It("holds the last published set below spec.minAddresses and says why", func() {
		startController()
		pool := map[string]string{testPoolLabel: "minimum"}
		nal := testAllowlist("minimum", "minimum", salt)
		nal.Spec.MinAddresses = 3
		createAllowlist(nal)
		createNode("minimum-a", pool, "10.5.0.1")
		createNode("minimum-b", pool, "10.5.0.2")
		c := createNode("minimum-c", pool, "10.5.0.3")
		Eventually(summaries(salt, nal.Name), 15*time.Second).Should(Equal([]string{"snapshot 1 [10.5.0.1/32 10.5.0.2/32 10.5.0.3/32]"}))

		By("losing one Node")
		Expect(k8sClient.Delete(ctx, c)).To(Succeed())
		Eventually(func() string { return condition(nal.Name, nodeallowv1alpha1.ConditionReady).Reason }, 15*time.Second).
			Should(Equal(plan.ReasonBelowMinimum))
		Expect(condition(nal.Name, nodeallowv1alpha1.ConditionReady).Message).To(ContainSubstring("spec.minAddresses 3"))
		Eventually(eventNotes(nal.Name, plan.ReasonBelowMinimum)).Should(ContainElement(ContainSubstring("2 addresses")))
		Consistently(summaries(salt, nal.Name), 3*time.Second).Should(HaveLen(1))
		Expect(getAllowlist(nal.Name).Status.PublishedSequence).To(BeEquivalentTo(1))

		By("a replacement Node lifts the hold")
		createNode("minimum-d", pool, "10.5.0.4")
		Eventually(summaries(salt, nal.Name), 15*time.Second).Should(Equal([]string{
			"snapshot 1 [10.5.0.1/32 10.5.0.2/32 10.5.0.3/32]", "snapshot 2 [10.5.0.1/32 10.5.0.2/32 10.5.0.4/32]",
		}))
		Eventually(func() string { return condition(nal.Name, nodeallowv1alpha1.ConditionReady).Reason }).Should(Equal(plan.ReasonPublished))
	})

	It("holds a shrink beyond spec.maxShrinkPercent until acknowledged or back within the bound", func() {
		startController()
		pool := map[string]string{testPoolLabel: "shrink"}
		nal := testAllowlist("shrink", "shrink", salt)
		nal.Spec.MaxShrinkPercent = 50
		createAllowlist(nal)
		createNode("shrink-a", pool, "10.7.0.1")
		var gone []*corev1.Node
		for i := 2; i <= 4; i++ {
			gone = append(gone, createNode(fmt.Sprintf("shrink-%d", i), pool, fmt.Sprintf("10.7.0.%d", i)))
		}
		want := []string{"snapshot 1 [10.7.0.1/32 10.7.0.2/32 10.7.0.3/32 10.7.0.4/32]"}
		Eventually(summaries(salt, nal.Name), 15*time.Second).Should(Equal(want))
		Eventually(func() int32 { return getAllowlist(nal.Name).Status.PublishedAddresses }).Should(BeEquivalentTo(4))

		By("losing three of four Nodes at once: held, the Ready condition and a Warning say how to acknowledge it")
		for _, n := range gone {
			Expect(k8sClient.Delete(ctx, n)).To(Succeed())
		}
		Eventually(func() string { return condition(nal.Name, nodeallowv1alpha1.ConditionReady).Reason }, 15*time.Second).
			Should(Equal(plan.ReasonShrinkHeld))
		onlyA := plan.Compute([]netip.Prefix{netip.MustParsePrefix("10.7.0.1/32")}).Digest
		ack := plan.AllowShrinkAnnotation + "=1:" + onlyA
		Expect(condition(nal.Name, nodeallowv1alpha1.ConditionReady).Message).To(And(ContainSubstring("spec.maxShrinkPercent 50"), ContainSubstring(ack)))
		Eventually(eventNotes(nal.Name, plan.ReasonShrinkHeld)).Should(ContainElement(ContainSubstring("75% fewer than the 4")))
		Consistently(summaries(salt, nal.Name), 3*time.Second).Should(Equal(want))

		By("annotating the held digest: published")
		editAllowlist(nal.Name, func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Annotations = map[string]string{plan.AllowShrinkAnnotation: "1:" + onlyA}
		})
		want = append(want, "snapshot 2 [10.7.0.1/32]")
		Eventually(summaries(salt, nal.Name), 15*time.Second).Should(Equal(want))
		Eventually(func() string { return condition(nal.Name, nodeallowv1alpha1.ConditionReady).Reason }).Should(Equal(plan.ReasonPublished))

		By("growing again, then losing three of four once more: held again, the old acknowledgement does not count")
		gone = gone[:0]
		for i := 5; i <= 7; i++ {
			gone = append(gone, createNode(fmt.Sprintf("shrink-%d", i), pool, fmt.Sprintf("10.7.0.%d", i)))
		}
		want = append(want, "snapshot 3 [10.7.0.1/32 10.7.0.5/32 10.7.0.6/32 10.7.0.7/32]")
		Eventually(summaries(salt, nal.Name), 15*time.Second).Should(Equal(want))
		for _, n := range gone {
			Expect(k8sClient.Delete(ctx, n)).To(Succeed())
		}
		Eventually(func() string { return condition(nal.Name, nodeallowv1alpha1.ConditionReady).Reason }, 15*time.Second).
			Should(Equal(plan.ReasonShrinkHeld))

		By("a Node coming back brings the next snapshot within the bound: published without an acknowledgement")
		Consistently(summaries(salt, nal.Name), 3*time.Second).Should(Equal(want))
		createNode("shrink-8", pool, "10.7.0.8")
		want = append(want, "snapshot 4 [10.7.0.1/32 10.7.0.8/32]")
		Eventually(summaries(salt, nal.Name), 15*time.Second).Should(Equal(want))
		Eventually(func() string { return condition(nal.Name, nodeallowv1alpha1.ConditionReady).Reason }).Should(Equal(plan.ReasonPublished))
	})

	It("holds a snapshot wider than spec.limits and says why", func() {
		startController()
		pool := map[string]string{testPoolLabel: "wide"}
		nal := testAllowlist("wide", "wide", salt)
		// Five /16 pass the API server's per-prefix rule and add up to more than the default span (one /14).
		nal.Spec.StaticCIDRs = []string{"10.20.0.0/16", "10.21.0.0/16", "10.22.0.0/16", "10.23.0.0/16", "10.24.0.0/16"}
		createAllowlist(nal)
		createNode("wide-a", pool, "10.8.0.1")
		Eventually(func() string { return condition(nal.Name, nodeallowv1alpha1.ConditionReady).Reason }, 15*time.Second).
			Should(Equal(plan.ReasonTooWide))
		Expect(condition(nal.Name, nodeallowv1alpha1.ConditionReady).Message).To(ContainSubstring("IPv4 entries cover 327681 addresses"))
		Eventually(eventNotes(nal.Name, plan.ReasonTooWide)).ShouldNot(BeEmpty())
		Consistently(summaries(salt, nal.Name), 3*time.Second).Should(BeEmpty())

		By("widening spec.limits releases it")
		editAllowlist(nal.Name, func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.Limits.IPv4.MaxSpanPrefixLength = 12
		})
		Eventually(summaries(salt, nal.Name), 15*time.Second).Should(HaveLen(1))
		Eventually(func() string { return condition(nal.Name, nodeallowv1alpha1.ConditionReady).Reason }).Should(Equal(plan.ReasonPublished))
	})

	It("rotates the signing key without a refusal: master takes both, Secret gets the new one, master drops the old", func() {
		startController()
		oldKey, newKey := testSigningKey, []byte("fedcba9876543210fedcba9876543210")
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: "rotate-key"},
			Data:       map[string][]byte{"signing-key": oldKey},
		}
		Expect(k8sClient.Create(ctx, secret)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, secret))).To(Succeed()) })
		pool := map[string]string{testPoolLabel: "rotate"}
		nal := testAllowlist("rotate", "rotate", salt)
		nal.Spec.Salt.SigningKeySecretRef = nodeallowv1alpha1.SecretKeySelector{Name: secret.Name}
		createAllowlist(nal)
		createNode("rotate-a", pool, "10.9.0.1")
		want := []string{"snapshot 1 [10.9.0.1/32]"}
		Eventually(summaries(salt, nal.Name), 15*time.Second).Should(Equal(want))

		By("1. the master accepts the new key and the old one")
		salt.AcceptKeys(newKey, oldKey)
		createNode("rotate-b", pool, "10.9.0.2")
		want = append(want, "snapshot 2 [10.9.0.1/32 10.9.0.2/32]")
		Eventually(summaries(salt, nal.Name), 15*time.Second).Should(Equal(want))

		By("2. the Secret holds the new key first (the old one may stay on the next line)")
		secret.Data["signing-key"] = append(append(append([]byte{}, newKey...), '\n'), append(oldKey, '\n')...)
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
		createNode("rotate-c", pool, "10.9.0.3")
		want = append(want, "snapshot 3 [10.9.0.1/32 10.9.0.2/32 10.9.0.3/32]")
		Eventually(summaries(salt, nal.Name), 15*time.Second).Should(Equal(want))

		By("3. the master drops the old key: the controller already signs with the new one")
		salt.AcceptKeys(newKey)
		createNode("rotate-d", pool, "10.9.0.4")
		want = append(want, "snapshot 4 [10.9.0.1/32 10.9.0.2/32 10.9.0.3/32 10.9.0.4/32]")
		Eventually(summaries(salt, nal.Name), 15*time.Second).Should(Equal(want))
		Expect(salt.Problems()).To(BeEmpty())
		// The acknowledgement is recorded by the reconcile the send's return triggers.
		Eventually(func() string { return condition(nal.Name, nodeallowv1alpha1.ConditionPublished).Reason }).Should(Equal(plan.ReasonPublished))
	})

	It("reports a missing Secret or key by name, retries without publishing, and recovers", func() {
		startController(func(r *NodeAllowlistReconciler) { r.RetirementTimeout = 3 * time.Second })
		pool := map[string]string{testPoolLabel: "secrets"}
		createNode("secrets-a", pool, "10.6.0.1")
		nal := testAllowlist("secrets", "secrets", salt)
		nal.Spec.Salt.SigningKeySecretRef = nodeallowv1alpha1.SecretKeySelector{Name: "secrets-key", Key: "hmac"}
		createAllowlist(nal)

		By("no Secret")
		Eventually(func() metav1.Condition { return condition(nal.Name, nodeallowv1alpha1.ConditionReady) }, 10*time.Second).
			Should(And(
				HaveField("Reason", plan.ReasonSecretNotFound),
				HaveField("Message", ContainSubstring("Secret "+testNamespace+"/secrets-key not found")),
			))
		Eventually(eventNotes(nal.Name, plan.ReasonSecretNotFound)).Should(ContainElement(ContainSubstring(testNamespace + "/secrets-key")))

		By("a Secret without the key")
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: "secrets-key"},
			Data:       map[string][]byte{"other": []byte("x")},
		}
		Expect(k8sClient.Create(ctx, secret)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, secret))).To(Succeed()) })
		Eventually(func() string { return condition(nal.Name, nodeallowv1alpha1.ConditionReady).Message }, 20*time.Second).
			Should(ContainSubstring(`Secret ` + testNamespace + `/secrets-key has no key "hmac"`))
		Eventually(eventNotes(nal.Name, plan.ReasonSecretNotFound)).Should(ContainElement(ContainSubstring(`"hmac"`)))
		Expect(salt.Requests()).To(BeZero())

		By("adding the key: the backoff retry publishes without any other trigger")
		secret.Data["hmac"] = testSigningKey
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
		Eventually(summaries(salt, nal.Name), 30*time.Second).Should(Equal([]string{"snapshot 1 [10.6.0.1/32]"}))
		Eventually(func() string { return getAllowlist(nal.Name).Status.LastError }).Should(BeEmpty())

		By("deleting the NodeAllowlist after its Secret: deletion is not blocked for good")
		Expect(k8sClient.Delete(ctx, secret)).To(Succeed())
		Expect(k8sClient.Delete(ctx, nal)).To(Succeed())
		Eventually(func() error {
			return k8sClient.Get(ctx, client.ObjectKeyFromObject(nal), &nodeallowv1alpha1.NodeAllowlist{})
		}, 30*time.Second).Should(Satisfy(apierrors.IsNotFound))
		Expect(eventNotes(nal.Name, plan.EventRetirementAbandoned)()).To(ContainElement(ContainSubstring("remove allowlist " + testClusterName + "/secrets")))
		Expect(summaries(salt, nal.Name)()).To(HaveLen(1), "no retirement can be signed without the key")
	})

	It("reports a refusal quoting salt-api and does not hammer it", func() {
		startController()
		nal := testAllowlist("refused", "refused", salt)
		createAllowlist(nal)
		// The Node comes after the allowlist, so exactly one change leads to exactly one publish.
		Eventually(func() string { return condition(nal.Name, nodeallowv1alpha1.ConditionReady).Reason }, 10*time.Second).
			Should(Equal(plan.ReasonBelowMinimum))
		salt.Fail(http.StatusBadRequest, "schema: the cluster test-cluster has no signing key on this master")
		createNode("refused-a", map[string]string{testPoolLabel: "refused"}, "10.7.0.1")
		Eventually(func() metav1.Condition { return condition(nal.Name, nodeallowv1alpha1.ConditionPublished) }, 15*time.Second).
			Should(And(HaveField("Reason", plan.ReasonRefused), HaveField("Message", ContainSubstring("has no signing key on this master"))))
		Expect(condition(nal.Name, nodeallowv1alpha1.ConditionReady).Reason).To(Equal(plan.ReasonRefused))
		Eventually(eventNotes(nal.Name, plan.ReasonRefused)).ShouldNot(BeEmpty())
		Consistently(salt.Requests, 3*time.Second).Should(Equal(1), "a refusal was retried")

		By("salt-api accepting again; the deletion still retires")
		salt.Fail(0, "")
		Expect(k8sClient.Delete(ctx, nal)).To(Succeed())
		Eventually(summaries(salt, nal.Name), 15*time.Second).Should(Equal([]string{"retirement 2 []"}))
	})

	It("says PublishStalled within 10 s while salt-api hangs, and Published again once it answers", func() {
		startController(func(r *NodeAllowlistReconciler) {
			// Long enough that the hang, not a timeout, is what the status shows.
			r.PublishTimeout = time.Minute
			r.Publisher = publisher.NewSaltAPI(publisher.Options{RetryCount: -1, Timeout: time.Minute, Logger: logf.Log.WithName("publisher")})
		})
		pool := map[string]string{testPoolLabel: "stall"}
		nal := testAllowlist("stall", "stall", salt)
		createAllowlist(nal)
		createNode("stall-a", pool, "10.10.0.1")
		Eventually(summaries(salt, nal.Name), 15*time.Second).Should(Equal([]string{"snapshot 1 [10.10.0.1/32]"}))
		Eventually(func() string { return condition(nal.Name, nodeallowv1alpha1.ConditionReady).Reason }).Should(Equal(plan.ReasonPublished))

		By("salt-api accepting connections and never answering while a Node joins")
		salt.Hang()
		createNode("stall-b", pool, "10.10.0.2")
		Eventually(func() metav1.Condition { return condition(nal.Name, nodeallowv1alpha1.ConditionReady) }, 10*time.Second, 200*time.Millisecond).
			Should(And(HaveField("Status", metav1.ConditionFalse), HaveField("Reason", plan.ReasonPublishStalled),
				HaveField("Message", And(ContainSubstring("salt-api at "+salt.URL()+" has not answered sequence 2 (2 addresses from 2 nodes)"),
					ContainSubstring("salt-api holds sequence 1 (1 addresses)")))))
		Expect(condition(nal.Name, nodeallowv1alpha1.ConditionPublished)).To(And(
			HaveField("Status", metav1.ConditionUnknown), HaveField("Reason", plan.ReasonPublishStalled)))
		got := getAllowlist(nal.Name)
		Expect(got.Status).To(And(HaveField("Sequence", BeEquivalentTo(2)), HaveField("PublishedSequence", BeEquivalentTo(1)),
			HaveField("Nodes", BeEquivalentTo(2)), HaveField("Addresses", BeEquivalentTo(2)), HaveField("PublishedAddresses", BeEquivalentTo(1)),
			HaveField("LastError", ContainSubstring("has not answered"))))
		Eventually(eventNotes(nal.Name, plan.ReasonPublishStalled)).Should(ContainElement(ContainSubstring("sequence 2")))

		By("a Node joining during the stall: one send in flight, the change waits for it")
		createNode("stall-c", pool, "10.10.0.3")
		Expect(salt.Requests()).To(Equal(2), "snapshot 1 and the hung snapshot 2")
		Consistently(salt.Requests, 3*time.Second).Should(Equal(2), "a second send went out while one was in flight")
		Expect(getAllowlist(nal.Name).Status.Sequence).To(BeEquivalentTo(2))

		By("salt-api answering again: sequence 2 lands, and the change made meanwhile goes out at once")
		salt.Answer()
		Eventually(summaries(salt, nal.Name), 10*time.Second).Should(Equal([]string{
			"snapshot 1 [10.10.0.1/32]", "snapshot 2 [10.10.0.1/32 10.10.0.2/32]", "snapshot 3 [10.10.0.1/32 10.10.0.2/32 10.10.0.3/32]"}))
		Eventually(func() metav1.Condition { return condition(nal.Name, nodeallowv1alpha1.ConditionReady) }, 10*time.Second).
			Should(And(HaveField("Status", metav1.ConditionTrue), HaveField("Reason", plan.ReasonPublished),
				HaveField("Message", Equal("the published sequence 3 holds the 3 addresses of the 3 selected nodes"))))
		Expect(condition(nal.Name, nodeallowv1alpha1.ConditionPublished).Status).To(Equal(metav1.ConditionTrue))
		Expect(getAllowlist(nal.Name).Status.LastError).To(BeEmpty())
	})

	It("names a refused login LoginFailed with the user and the eauth backend, and does not hammer /login", func() {
		startController()
		auth := saltapistandin.New(testSigningKey, saltapistandin.WithLogin(map[string]string{"nodeallow": "s3cret"}), saltapistandin.WithEauth("file"))
		DeferCleanup(auth.Close)
		creds := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: "login-creds"},
			Data:       map[string][]byte{"username": []byte("nodeallow"), "password": []byte("s3cret")},
		}
		Expect(k8sClient.Create(ctx, creds)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, creds))).To(Succeed()) })
		pool := map[string]string{testPoolLabel: "login"}
		nal := testAllowlist("login", "login", auth)
		nal.Spec.Salt.CredentialsSecretRef = &nodeallowv1alpha1.SecretReference{Name: creds.Name}
		createAllowlist(nal)
		createNode("login-a", pool, "10.11.0.1")

		By("a Secret without eauth: pam, which this master's external_auth does not list")
		Eventually(func() metav1.Condition { return condition(nal.Name, nodeallowv1alpha1.ConditionReady) }, 15*time.Second).
			Should(And(HaveField("Reason", plan.ReasonLoginFailed), HaveField("Message", And(
				ContainSubstring(`refused the login of user "nodeallow" with eauth "pam" (HTTP 401: 401 Unauthorized: Could not authenticate using provided credentials)`),
				ContainSubstring("spec.salt.credentialsSecretRef (login-creds)"), ContainSubstring("external_auth"),
				Not(ContainSubstring("<")), Not(ContainSubstring("s3cret"))))))
		Expect(condition(nal.Name, nodeallowv1alpha1.ConditionPublished).Reason).To(Equal(plan.ReasonLoginFailed))
		Eventually(eventNotes(nal.Name, plan.ReasonLoginFailed)).Should(ContainElement(ContainSubstring(`eauth "pam"`)))
		Consistently(func() int { return len(auth.Logins()) }, 3*time.Second).Should(Equal(1), "a refused login was retried at once")
		Expect(auth.Requests()).To(BeZero())

		By("the Secret names the right eauth: the next change publishes")
		creds.Data["eauth"] = []byte("file")
		Expect(k8sClient.Update(ctx, creds)).To(Succeed())
		createNode("login-b", pool, "10.11.0.2")
		Eventually(summaries(auth, nal.Name), 15*time.Second).Should(Equal([]string{"snapshot 2 [10.11.0.1/32 10.11.0.2/32]"}))
		// Ready once the master said it stored it (the default store check, a second after the acknowledgement).
		Eventually(func() string { return condition(nal.Name, nodeallowv1alpha1.ConditionReady).Reason }, 5*time.Second).Should(Equal(plan.ReasonPublished))
		Expect(auth.Problems()).To(BeEmpty())
	})

	It("emits no Warning for a new allowlist that waits for its first Nodes", func() {
		startController()
		nal := testAllowlist("newborn", "newborn", salt)
		createAllowlist(nal)
		Eventually(func() metav1.Condition { return condition(nal.Name, nodeallowv1alpha1.ConditionReady) }, 10*time.Second).
			Should(And(HaveField("Reason", plan.ReasonBelowMinimum), HaveField("Message", ContainSubstring("waiting for nodes"))))
		Consistently(warnings(nal.Name), 3*time.Second).Should(BeEmpty())
	})

	It("publishes nothing in dry run or suspended, re-sends to a new salt-api on a spec change, and skips the retirement when suspended", func() {
		startController()
		pool := map[string]string{testPoolLabel: "modes"}
		createNode("modes-a", pool, "10.8.0.1")
		nal := testAllowlist("modes", "modes", salt)
		nal.Spec.DryRun = true
		createAllowlist(nal)

		By("dry run")
		Eventually(func() metav1.Condition { return condition(nal.Name, nodeallowv1alpha1.ConditionReady) }, 10*time.Second).
			Should(And(HaveField("Reason", plan.ReasonDryRun), HaveField("Message", ContainSubstring("would publish 1 addresses"))))
		Expect(getAllowlist(nal.Name).Status.Addresses).To(BeEquivalentTo(1))

		By("suspended")
		editAllowlist(nal.Name, func(n *nodeallowv1alpha1.NodeAllowlist) { n.Spec.DryRun, n.Spec.Suspend = false, true })
		Eventually(func() string { return condition(nal.Name, nodeallowv1alpha1.ConditionReady).Reason }, 10*time.Second).
			Should(Equal(plan.ReasonSuspended))
		Consistently(salt.Requests, 2*time.Second).Should(BeZero())

		By("resumed")
		editAllowlist(nal.Name, func(n *nodeallowv1alpha1.NodeAllowlist) { n.Spec.Suspend = false })
		Eventually(summaries(salt, nal.Name), 10*time.Second).Should(Equal([]string{"snapshot 1 [10.8.0.1/32]"}))

		By("pointing the allowlist at another salt-api: it gets the same sequence at once")
		other := saltapistandin.New(testSigningKey)
		DeferCleanup(other.Close)
		editAllowlist(nal.Name, func(n *nodeallowv1alpha1.NodeAllowlist) { n.Spec.Salt.URL = other.URL() })
		Eventually(summaries(other, nal.Name), 10*time.Second).Should(Equal([]string{"snapshot 1 [10.8.0.1/32]"}))
		Expect(other.Problems()).To(BeEmpty())

		By("deleting it while suspended: no retirement, and it goes away")
		editAllowlist(nal.Name, func(n *nodeallowv1alpha1.NodeAllowlist) { n.Spec.Suspend = true })
		Eventually(func() string { return condition(nal.Name, nodeallowv1alpha1.ConditionReady).Reason }, 10*time.Second).
			Should(Equal(plan.ReasonSuspended))
		Expect(k8sClient.Delete(ctx, nal)).To(Succeed())
		Eventually(func() error {
			return k8sClient.Get(ctx, client.ObjectKeyFromObject(nal), &nodeallowv1alpha1.NodeAllowlist{})
		}, 15*time.Second).Should(Satisfy(apierrors.IsNotFound))
		Expect(eventNotes(nal.Name, plan.EventRetirementSkipped)()).To(ContainElement(ContainSubstring("spec.suspend is set")))
		Expect(summaries(other, nal.Name)()).To(HaveLen(1))
		Expect(summaries(salt, nal.Name)()).To(HaveLen(1))
	})
})
