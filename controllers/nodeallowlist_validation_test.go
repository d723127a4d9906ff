// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodeallow/nodeallow/api/protocol"
	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
)

// validAllowlist returns an object the API server accepts; each case below breaks one thing.
func validAllowlist(name string) *nodeallowv1alpha1.NodeAllowlist {
	return &nodeallowv1alpha1.NodeAllowlist{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: nodeallowv1alpha1.NodeAllowlistSpec{
			Salt: nodeallowv1alpha1.SaltEndpoint{
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
		Expect(got.Spec.Limits).To(Equal(nodeallowv1alpha1.AddressLimits{
			IPv4: nodeallowv1alpha1.IPv4Limits{MinPrefixLength: protocol.DefaultMinPrefixIPv4, MaxSpanPrefixLength: protocol.DefaultMaxSpanPrefixIPv4},
			IPv6: nodeallowv1alpha1.IPv6Limits{MinPrefixLength: protocol.DefaultMinPrefixIPv6, MaxSpanPrefixLength: protocol.DefaultMaxSpanPrefixIPv6},
		}))
		Expect(got.Spec.MaxShrinkPercent).To(BeZero())
	})

	DescribeTable("accepts static CIDRs within the limits",
		func(name string, mutate func(*nodeallowv1alpha1.NodeAllowlist)) {
			nal := validAllowlist(name)
			mutate(nal)
			Expect(k8sClient.Create(ctx, nal)).To(Succeed())
			Expect(k8sClient.Delete(ctx, nal)).To(Succeed())
		},
		Entry("addresses and prefixes at the default minimum", "at-minimum", func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.StaticCIDRs = []string{"203.0.113.7", "10.1.0.0/16", "2001:db8:1::/48", "2001:db8::5"}
		}),
		Entry("a /8 once the limits are widened", "widened", func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.Limits.IPv4 = nodeallowv1alpha1.IPv4Limits{MinPrefixLength: 8, MaxSpanPrefixLength: 8}
			n.Spec.StaticCIDRs = []string{"10.0.0.0/8"}
		}),
		Entry("two salt-api endpoints, one with its own credentials, confirming with the shared ones", "two-endpoints", func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.Salt.URL = ""
			n.Spec.Salt.CredentialsSecretRef = &nodeallowv1alpha1.SecretReference{Name: "shared"}
			n.Spec.Salt.Endpoints = []nodeallowv1alpha1.SaltAPIEndpoint{{URL: "https://salt-1.example.com:8000"},
				{URL: "https://salt-2.example.com:8000", CredentialsSecretRef: &nodeallowv1alpha1.SecretReference{Name: "own"}}}
			n.Spec.Delivery.Confirm = true
		}),
		Entry("http endpoints with the opt-in, confirming with credentials on each", "http-endpoints", func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.Salt.URL = ""
			n.Spec.Salt.AllowInsecureHTTP = true
			n.Spec.Salt.Endpoints = []nodeallowv1alpha1.SaltAPIEndpoint{
				{URL: "http://127.0.0.1:8001", CredentialsSecretRef: &nodeallowv1alpha1.SecretReference{Name: "one"}},
				{URL: "http://127.0.0.1:8002", CredentialsSecretRef: &nodeallowv1alpha1.SecretReference{Name: "two"}}}
			n.Spec.Delivery.Confirm = true
		}),
	)

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
		Entry("the whole IPv4 space", "slash-0", func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.StaticCIDRs = []string{"0.0.0.0/0"}
		}, "wider than spec.limits allows"),
		Entry("the IPv4 space as two /1", "two-slash-1", func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.StaticCIDRs = []string{"0.0.0.0/1", "128.0.0.0/1"}
		}, "wider than spec.limits allows"),
		Entry("the IPv6 space as two /1", "two-v6-slash-1", func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.StaticCIDRs = []string{"::/1", "8000::/1"}
		}, "wider than spec.limits allows"),
		Entry("an IPv4 prefix one bit wider than the default", "v4-slash-15", func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.StaticCIDRs = []string{"10.0.0.0/15"}
		}, "wider than spec.limits allows"),
		Entry("an IPv6 prefix one bit wider than the default", "v6-slash-47", func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.StaticCIDRs = []string{"2001:db8::/47"}
		}, "wider than spec.limits allows"),
		Entry("a /16 when the minimum was raised to /24", "raised", func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.Limits.IPv4 = nodeallowv1alpha1.IPv4Limits{MinPrefixLength: 24, MaxSpanPrefixLength: 20}
			n.Spec.StaticCIDRs = []string{"10.1.0.0/16"}
		}, "wider than spec.limits allows"),
		Entry("a minimum prefix that would allow a /1", "limit-too-low", func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.Limits.IPv4 = nodeallowv1alpha1.IPv4Limits{MinPrefixLength: 1, MaxSpanPrefixLength: 8}
		}, "minPrefixLength"),
		Entry("an IPv6 span limit that would allow a /1", "v6-span-too-wide", func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.Limits.IPv6 = nodeallowv1alpha1.IPv6Limits{MinPrefixLength: 48, MaxSpanPrefixLength: 1}
		}, "maxSpanPrefixLength"),
		Entry("a span smaller than one prefix of the minimum length", "span-below-minimum", func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.Limits.IPv4 = nodeallowv1alpha1.IPv4Limits{MinPrefixLength: 16, MaxSpanPrefixLength: 20}
		}, "must not be longer than ipv4.minPrefixLength"),
		Entry("a shrink guard of 100 percent", "shrink-100", func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.MaxShrinkPercent = 100
		}, "maxShrinkPercent"),
		Entry("a body limit above what salt-api takes", "big-body", func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.Salt.MaxBodyBytes = 1 << 20
		}, "maxBodyBytes"),
		Entry("both url and endpoints", "url-and-endpoints", func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.Salt.Endpoints = []nodeallowv1alpha1.SaltAPIEndpoint{{URL: "https://salt-2.example.com:8000"}}
		}, "set exactly one of salt.url"),
		Entry("neither url nor endpoints", "no-url", func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.Salt.URL = ""
		}, "set exactly one of salt.url"),
		Entry("an http endpoint without the opt-in", "http-endpoint", func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.Salt.URL = ""
			n.Spec.Salt.Endpoints = []nodeallowv1alpha1.SaltAPIEndpoint{{URL: "https://salt-1.example.com:8000"}, {URL: "http://salt-2.example.com:8000"}}
		}, "every salt.endpoints url must use https"),
		Entry("the same endpoint twice", "endpoint-twice", func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.Salt.URL = ""
			n.Spec.Salt.Endpoints = []nodeallowv1alpha1.SaltAPIEndpoint{{URL: "https://salt-1.example.com:8000"}, {URL: "https://salt-1.example.com:8000"}}
		}, "Duplicate value"),
		Entry("an endpoint URL that is not one", "bad-endpoint", func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.Salt.URL = ""
			n.Spec.Salt.Endpoints = []nodeallowv1alpha1.SaltAPIEndpoint{{URL: "salt master"}}
		}, "salt.endpoints url must be an absolute URL"),
		Entry("confirming with credentials on only one endpoint", "confirm-one-creds", func(n *nodeallowv1alpha1.NodeAllowlist) {
			n.Spec.Salt.URL = ""
			n.Spec.Salt.Endpoints = []nodeallowv1alpha1.SaltAPIEndpoint{{URL: "https://salt-1.example.com:8000"},
				{URL: "https://salt-2.example.com:8000", CredentialsSecretRef: &nodeallowv1alpha1.SecretReference{Name: "own"}}}
			n.Spec.Delivery.Confirm = true
		}, "delivery.confirm needs salt.credentialsSecretRef"),
	)
})
