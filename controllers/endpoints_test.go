// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
	"github.com/nodeallow/nodeallow/controllers/plan"
	"github.com/nodeallow/nodeallow/controllers/publisher"
	"github.com/nodeallow/nodeallow/test/saltapistandin"
)

var _ = Describe("A NodeAllowlist with several salt-api endpoints", func() {
	It("publishes each sequence to every endpoint on its own: a hanging one delays nobody and gets the current sequence once it answers", func() {
		startController(func(r *NodeAllowlistReconciler) {
			// Long enough that the hang, not a timeout, is what the status shows.
			r.PublishTimeout = time.Minute
			r.Publisher = publisher.NewSaltAPI(publisher.Options{RetryCount: -1, Timeout: time.Minute, Logger: logf.Log.WithName("publisher")})
		})
		one, two := saltapistandin.New(testSigningKey), saltapistandin.New(testSigningKey)
		DeferCleanup(one.Close)
		DeferCleanup(two.Close)
		pool := map[string]string{testPoolLabel: "multi"}
		nal := testAllowlist("multi", "multi", one)
		nal.Spec.Salt.URL = ""
		nal.Spec.Salt.Endpoints = []nodeallowv1alpha1.SaltAPIEndpoint{{URL: one.URL()}, {URL: two.URL()}}
		createAllowlist(nal)
		createNode("multi-a", pool, "10.20.0.1")
		for _, salt := range []*saltapistandin.Server{one, two} {
			Eventually(summaries(salt, nal.Name), 15*time.Second).Should(Equal([]string{"snapshot 1 [10.20.0.1/32]"}))
		}
		Eventually(func() string { return getAllowlist(nal.Name).Status.Masters }, 10*time.Second).Should(Equal("2/2"))
		Eventually(func() metav1.Condition { return condition(nal.Name, nodeallowv1alpha1.ConditionReady) }).Should(And(
			HaveField("Status", metav1.ConditionTrue), HaveField("Message", "the published sequence 1 holds the 1 addresses of the 1 selected nodes")))

		By("salt-api 2 hanging while Nodes join: salt-api 1 gets every sequence, the status names the stalled one")
		two.Hang()
		createNode("multi-b", pool, "10.20.0.2")
		Eventually(summaries(one, nal.Name), 10*time.Second).Should(HaveLen(2))
		Eventually(func() metav1.Condition { return condition(nal.Name, nodeallowv1alpha1.ConditionReady) }, 10*time.Second, 200*time.Millisecond).
			Should(And(HaveField("Status", metav1.ConditionFalse), HaveField("Reason", plan.ReasonPublishStalled),
				HaveField("Message", HavePrefix("1 of 2 salt-api endpoints are not Ready; salt-api at "+two.URL()+": salt-api at "+two.URL()+" has not answered sequence 2"))))
		createNode("multi-c", pool, "10.20.0.3")
		Eventually(summaries(one, nal.Name), 10*time.Second).Should(Equal([]string{"snapshot 1 [10.20.0.1/32]",
			"snapshot 2 [10.20.0.1/32 10.20.0.2/32]", "snapshot 3 [10.20.0.1/32 10.20.0.2/32 10.20.0.3/32]"}))
		Eventually(func() nodeallowv1alpha1.NodeAllowlistStatus { return getAllowlist(nal.Name).Status }, 10*time.Second).Should(And(
			HaveField("Sequence", BeEquivalentTo(3)), HaveField("PublishedSequence", BeEquivalentTo(1)), HaveField("Masters", "1/2"),
			HaveField("Endpoints", HaveExactElements(
				And(HaveField("URL", one.URL()), HaveField("PublishedSequence", BeEquivalentTo(3)), HaveField("LastError", BeEmpty())),
				And(HaveField("URL", two.URL()), HaveField("PublishedSequence", BeEquivalentTo(1)), HaveField("LastError", ContainSubstring("has not answered"))))),
			HaveField("LastError", HavePrefix("salt-api at "+two.URL()+": "))))
		Expect(two.Requests()).To(Equal(2), "snapshot 1 and the hung snapshot 2: one send in flight per endpoint")

		By("salt-api 2 answering: the hung sequence lands and the current one follows at once")
		answered := time.Now()
		two.Answer()
		Eventually(summaries(two, nal.Name), 5*time.Second, 50*time.Millisecond).Should(HaveExactElements("snapshot 1 [10.20.0.1/32]",
			"snapshot 2 [10.20.0.1/32 10.20.0.2/32]", "snapshot 3 [10.20.0.1/32 10.20.0.2/32 10.20.0.3/32]"))
		GinkgoWriter.Printf("salt-api 2 had the current sequence %s after it answered again\n", time.Since(answered).Round(time.Millisecond))
		Eventually(func() nodeallowv1alpha1.NodeAllowlistStatus { return getAllowlist(nal.Name).Status }, 5*time.Second).Should(And(
			HaveField("PublishedSequence", BeEquivalentTo(3)), HaveField("Masters", "2/2"), HaveField("LastError", BeEmpty())))
		Eventually(func() metav1.ConditionStatus { return condition(nal.Name, nodeallowv1alpha1.ConditionReady).Status }).Should(Equal(metav1.ConditionTrue))

		By("deletion retiring at both")
		Expect(k8sClient.Delete(ctx, nal)).To(Succeed())
		for _, salt := range []*saltapistandin.Server{one, two} {
			Eventually(func() string { s := summaries(salt, nal.Name)(); return s[len(s)-1] }, 15*time.Second).Should(Equal("retirement 4 []"))
		}
		Eventually(func() error {
			return k8sClient.Get(ctx, client.ObjectKeyFromObject(nal), &nodeallowv1alpha1.NodeAllowlist{})
		}, 10*time.Second).
			Should(Satisfy(apierrors.IsNotFound), "the finalizer stayed after both salt-apis acknowledged the retirement")
	})
})
