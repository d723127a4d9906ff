package controllers

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
)

// validAllowlist returns an object the API server accepts; each case below breaks one thing.
func validAllowlist(name string) *nodeallowv1alpha1.NodeAllowlist {
	return &nodeallowv1alpha1.NodeAllowlist{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: nodeallowv1alpha1.NodeAllowlistSpec{
			Salt: nodeallowv1alpha1.SaltTarget{
				URL:                 "https://salt.example.com:8000",
				SigningKeySecretRef: nodeallowv1alpha1.SecretKeySelector{Name: "nodeallow-signing"},
			},
		},
	}
}

var _ = Describe("NodeAllowlist validation by the API server", func() {
	It("accepts a minimal object and fills in the defaults", func() {
		nal := validAllowlist("defaults")
		Expect(k8sClient.Create(ctx, nal)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, nal))).To(Succeed()) })

		got := &nodeallowv1alpha1.NodeAllowlist{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(nal), got)).To(Succeed())
		Expect(got.Spec.AddressTypes).To(HaveExactElements(BeEquivalentTo("InternalIP")))
		Expect(got.Spec.Families).To(HaveExactElements(nodeallowv1alpha1.IPv4, nodeallowv1alpha1.IPv6))
		Expect(got.Spec.Salt.HookPath).To(Equal("nodeallow"))
		Expect(got.Spec.Salt.SigningKeySecretRef.Key).To(Equal("signing-key"))
		Expect(got.Spec.Salt.MaxBodyBytes).To(BeEquivalentTo(262144))
		Expect(got.Spec.Debounce.Min.Duration.String()).To(Equal("2s"))
		Expect(got.Spec.Debounce.Max.Duration.String()).To(Equal("30s"))
		Expect(got.Spec.ResyncInterval.Duration.String()).To(Equal("10m0s"))
		Expect(got.Spec.MinAddresses).To(BeEquivalentTo(1))
	})

	DescribeTable("refuses an invalid object",
		func(name string, mutate func(*nodeallowv1alpha1.NodeAllowlist), wantInMessage string) {
			nal := validAllowlist(name)
			mutate(nal)
			err := k8sClient.Create(ctx, nal)
			if err == nil {
				_ = k8sClient.Delete(ctx, nal)
			}
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want Invalid, got %v", err)
			Expect(err.Error()).To(ContainSubstring(wantInMessage))
		},
		Entry("plain http without the opt-in", "http-url", func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.Salt.URL = "http://salt.example.com:8000"
		}, "must use https"),
		Entry("a URL that is not one", "bad-url", func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.Salt.URL = "salt master"
		}, "absolute URL"),
		Entry("debounce min above max", "min-over-max", func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.Debounce.Min = metav1.Duration{Duration: 40e9}
			n.Spec.Debounce.Max = metav1.Duration{Duration: 30e9}
		}, "debounce.min must not be longer than debounce.max"),
		Entry("a resync faster than 30s", "fast-resync", func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.ResyncInterval = metav1.Duration{Duration: 1e9}
		}, "resyncInterval must be between 30s and 24h"),
		Entry("a static CIDR that is not one", "bad-cidr", func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.StaticCIDRs = []string{"10.0.0.0/33"}
		}, "must be an IP address or a CIDR"),
		Entry("an unknown address type", "bad-type", func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.AddressTypes = []corev1.NodeAddressType{"Hostname"}
		}, "addressTypes"),
		Entry("a name that is not a DNS label", "has.dots", func(n *nodeallowv1alpha1.NodeAllowlist) {}, "must be a DNS label"),
		Entry("a hook path built to break out of the tag", "bad-hook", func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.Salt.HookPath = "x; flush ruleset"
		}, "hookPath"),
		Entry("a body limit above what salt-api takes", "big-body", func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.Salt.MaxBodyBytes = 1 << 20
		}, "maxBodyBytes"),
	)
})
