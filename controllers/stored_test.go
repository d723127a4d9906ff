// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"net/http"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
	"github.com/nodeallow/nodeallow/controllers/plan"
	"github.com/nodeallow/nodeallow/test/saltapistandin"
)

// withCredentials starts a stand-in with webhook auth on and gives nal the Secret to log in with, as
// docs/install.md sets it up: the store is then verified by default (spec.delivery.verifyStore).
func withCredentials(name string) (*saltapistandin.Server, *nodeallowv1alpha1.SecretReference) {
	salt := saltapistandin.New(testSigningKey, saltapistandin.WithLogin(map[string]string{"nodeallow": "s3cret"}))
	DeferCleanup(salt.Close)
	creds := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: name + "-creds"},
		Data:       map[string][]byte{"username": []byte("nodeallow"), "password": []byte("s3cret")},
	}
	Expect(k8sClient.Create(ctx, creds)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, creds))).To(Succeed()) })
	return salt, &nodeallowv1alpha1.SecretReference{Name: creds.Name}
}

var _ = Describe("Store verification (the default)", func() {
	It("sends an acknowledged sequence the master never stored again, without a resync or spec.delivery", func() {
		startController()
		salt, ref := withCredentials("lost")
		pool := map[string]string{testPoolLabel: "lost"}
		nal := testAllowlist("lost", "lost", salt)
		nal.Spec.Salt.CredentialsSecretRef = ref
		createAllowlist(nal)
		createNode("lost-a", pool, "10.12.0.1")
		Eventually(func() metav1.Condition { return condition(nal.Name, nodeallowv1alpha1.ConditionStored) }, 15*time.Second).
			Should(And(HaveField("Status", metav1.ConditionTrue), HaveField("Message", ContainSubstring("stored sequence 1 of test-cluster/lost"))))
		Expect(condition(nal.Name, nodeallowv1alpha1.ConditionReady).Reason).To(Equal(plan.ReasonPublished))

		By("salt-api acknowledging sequence 2 as it does while the master starts: the event never reaches the reactor")
		var lost atomic.Int32
		first := len(salt.Hooks())
		salt.Script(func(n int, w http.ResponseWriter, _ *http.Request) bool {
			if n != first {
				return false
			}
			lost.Add(1)
			saltapistandin.WriteJSON(w, http.StatusOK, map[string]any{"success": true})
			return true
		})
		acked := time.Now()
		createNode("lost-b", pool, "10.12.0.2")
		Eventually(lost.Load, 10*time.Second).Should(BeEquivalentTo(1))
		Eventually(func() metav1.Condition { return condition(nal.Name, nodeallowv1alpha1.ConditionStored) }, 5*time.Second).
			Should(And(HaveField("Reason", plan.ReasonNotStored), HaveField("Message", ContainSubstring("holds sequence 1"))))
		Expect(condition(nal.Name, nodeallowv1alpha1.ConditionReady).Reason).To(Equal(plan.ReasonNotStored), "Ready while the master lacks it")

		By("ResendLostAfter after the acknowledgement it is sent again, and stored")
		Eventually(summaries(salt, nal.Name), 20*time.Second).Should(Equal([]string{
			"snapshot 1 [10.12.0.1/32]", "snapshot 2 [10.12.0.1/32 10.12.0.2/32]"}))
		took := time.Since(acked)
		GinkgoWriter.Printf("lost sequence 2 stored again %s after the Node joined\n", took)
		Expect(took).To(BeNumerically(">=", plan.ResendLostAfter), "sent again before the master could have stored it")
		Eventually(func() metav1.Condition { return condition(nal.Name, nodeallowv1alpha1.ConditionReady) }, 5*time.Second).
			Should(And(HaveField("Status", metav1.ConditionTrue), HaveField("Reason", plan.ReasonPublished)))
		Expect(eventNotes(nal.Name, plan.ReasonNotStored)()).To(ContainElement(ContainSubstring("not the acknowledged sequence 2")))
	})

	It("tells a user whose salt-api user may not run the runner what to grant, steadily, and trusts salt-api with verifyStore false", func() {
		startController()
		salt, ref := withCredentials("noacl")
		salt.RefuseRunner()
		pool := map[string]string{testPoolLabel: "noacl"}
		nal := testAllowlist("noacl", "noacl", salt)
		nal.Spec.Salt.CredentialsSecretRef = ref
		createAllowlist(nal)
		createNode("noacl-a", pool, "10.13.0.1")
		Eventually(summaries(salt, nal.Name), 15*time.Second).Should(Equal([]string{"snapshot 1 [10.13.0.1/32]"}))
		grant := And(HaveField("Status", metav1.ConditionUnknown), HaveField("Reason", plan.ReasonCheckFailed), HaveField("Message", And(
			ContainSubstring(`'@runner': ['^nodeallow\\.status$']`), ContainSubstring("netapi_enable_clients"),
			ContainSubstring("spec.delivery.verifyStore to false"), Not(ContainSubstring("s3cret")))))
		Eventually(func() metav1.Condition { return condition(nal.Name, nodeallowv1alpha1.ConditionReady) }, 10*time.Second).Should(grant)

		By("a change: the same condition throughout, never a Ready True in between, one Warning")
		since := condition(nal.Name, nodeallowv1alpha1.ConditionReady).LastTransitionTime
		createNode("noacl-b", pool, "10.13.0.2")
		Eventually(summaries(salt, nal.Name), 15*time.Second).Should(HaveLen(2))
		// Publishing (Unknown) while it is in the air, then the same CheckFailed again.
		Eventually(func() metav1.Condition { return condition(nal.Name, nodeallowv1alpha1.ConditionReady) }, 5*time.Second).Should(grant)
		Consistently(func() metav1.Condition { return condition(nal.Name, nodeallowv1alpha1.ConditionReady) }, 4*time.Second).
			Should(And(grant, HaveField("LastTransitionTime", since)))
		Expect(eventNotes(nal.Name, plan.ReasonCheckFailed)()).To(HaveLen(1))

		By("spec.delivery.verifyStore false: salt-api's acknowledgement is trusted, as before")
		editAllowlist(nal.Name, func(n *nodeallowv1alpha1.NodeAllowlist) { n.Spec.Delivery.VerifyStore = ptr.To(false) })
		Eventually(func() metav1.Condition { return condition(nal.Name, nodeallowv1alpha1.ConditionReady) }, 10*time.Second).
			Should(And(HaveField("Status", metav1.ConditionTrue), HaveField("Reason", plan.ReasonPublished)))
		Expect(condition(nal.Name, nodeallowv1alpha1.ConditionStored).Type).To(BeEmpty(), "no Stored condition")
	})
})
