// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package source

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
)

func node(name string, addrs ...corev1.NodeAddress) *Node {
	return NodeOf(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Addresses: addrs}})
}

func internal(a string) corev1.NodeAddress {
	return corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: a}
}
func external(a string) corev1.NodeAddress {
	return corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: a}
}
func hostname(a string) corev1.NodeAddress {
	return corev1.NodeAddress{Type: corev1.NodeHostName, Address: a}
}

func prefixes(t *testing.T, ss ...string) []netip.Prefix {
	t.Helper()
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestCollect(t *testing.T) {
	deleting := node("going", internal("10.0.0.9"))
	deleting.Deleting = true

	cases := []struct {
		name        string
		spec        nodeallowv1alpha1.NodeAllowlistSpec
		nodes       []*Node
		wantNodes   int
		want        []string
		wantIgnored []string
	}{
		{
			name:      "defaults publish InternalIP of both families",
			nodes:     []*Node{node("a", internal("10.0.0.1"), external("203.0.113.1"), hostname("a")), node("b", internal("fd00::2"))},
			wantNodes: 2,
			want:      []string{"10.0.0.1/32", "fd00::2/128"},
		},
		{
			name:      "ExternalIP only",
			spec:      nodeallowv1alpha1.NodeAllowlistSpec{AddressTypes: []corev1.NodeAddressType{corev1.NodeExternalIP}},
			nodes:     []*Node{node("a", internal("10.0.0.1"), external("203.0.113.1"))},
			wantNodes: 1,
			want:      []string{"203.0.113.1/32"},
		},
		{
			name: "both address types, IPv6 only",
			spec: nodeallowv1alpha1.NodeAllowlistSpec{
				AddressTypes: []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP},
				Families:     []nodeallowv1alpha1.IPFamily{nodeallowv1alpha1.IPv6},
			},
			nodes:     []*Node{node("a", internal("10.0.0.1"), internal("fd00::1"), external("2001:db8::1"))},
			wantNodes: 1,
			want:      []string{"fd00::1/128", "2001:db8::1/128"},
		},
		{
			name:      "static CIDRs come first and nodes without addresses still count",
			spec:      nodeallowv1alpha1.NodeAllowlistSpec{StaticCIDRs: []string{"198.51.100.7", "192.0.2.0/24", "2001:db8::/64"}},
			nodes:     []*Node{node("a")},
			wantNodes: 1,
			want:      []string{"198.51.100.7/32", "192.0.2.0/24", "2001:db8::/64"},
		},
		{
			name:      "a node being deleted is left out",
			nodes:     []*Node{node("a", internal("10.0.0.1")), deleting},
			wantNodes: 1,
			want:      []string{"10.0.0.1/32"},
		},
		{
			name: "untrusted garbage is ignored and reported, IPv4-mapped is unmapped",
			nodes: []*Node{node("a", internal("10.0.0.1; drop"), internal("fe80::1%eth0"), internal("0.0.0.0"),
				internal("::ffff:10.0.0.5"), internal(""))},
			wantNodes:   1,
			want:        []string{"10.0.0.5/32"},
			wantIgnored: []string{"a/10.0.0.1; drop", "a/fe80::1%eth0", "a/0.0.0.0", "a/"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Collect(&tc.spec, tc.nodes)
			if err != nil {
				t.Fatalf("Collect: %v", err)
			}
			if got.Nodes != tc.wantNodes {
				t.Errorf("Nodes = %d, want %d", got.Nodes, tc.wantNodes)
			}
			if want := prefixes(t, tc.want...); !slices.Equal(got.Addresses, want) {
				t.Errorf("Addresses = %v, want %v", got.Addresses, want)
			}
			var ignored []string
			for _, ig := range got.Ignored {
				ignored = append(ignored, ig.Node+"/"+ig.Address)
			}
			if !slices.Equal(ignored, tc.wantIgnored) {
				t.Errorf("Ignored = %q, want %q", ignored, tc.wantIgnored)
			}
		})
	}
}

func TestCollectRefusesUnusableStaticCIDRs(t *testing.T) {
	cases := []struct {
		name     string
		spec     nodeallowv1alpha1.NodeAllowlistSpec
		wantText string
	}{
		{"not a CIDR", nodeallowv1alpha1.NodeAllowlistSpec{StaticCIDRs: []string{"10.0.0.0/33"}}, `staticCIDRs[0]: parse "10.0.0.0/33" as a CIDR`},
		{"family left out", nodeallowv1alpha1.NodeAllowlistSpec{
			Families: []nodeallowv1alpha1.IPFamily{nodeallowv1alpha1.IPv4}, StaticCIDRs: []string{"10.1.0.0/16", "2001:db8::/32"},
		}, `staticCIDRs[1] "2001:db8::/32" is IPv6`},
		{"IPv4-mapped", nodeallowv1alpha1.NodeAllowlistSpec{StaticCIDRs: []string{"::ffff:10.0.0.1"}}, "IPv4-mapped"},
		{"zone", nodeallowv1alpha1.NodeAllowlistSpec{StaticCIDRs: []string{"fe80::1%eth0"}}, "zone"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Collect(&tc.spec, nil)
			if err == nil || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("Collect error = %v, want one containing %q", err, tc.wantText)
			}
		})
	}
}

func TestSelector(t *testing.T) {
	cases := []struct {
		name     string
		selector metav1.LabelSelector
		labels   map[string]string
		want     bool
	}{
		{"empty selects every node", metav1.LabelSelector{}, map[string]string{"x": "y"}, true},
		{"match labels", metav1.LabelSelector{MatchLabels: map[string]string{"pool": "workers"}}, map[string]string{"pool": "workers"}, true},
		{"match labels miss", metav1.LabelSelector{MatchLabels: map[string]string{"pool": "workers"}}, map[string]string{"pool": "infra"}, false},
		{"expression NotIn", metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "pool", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"infra"}},
		}}, map[string]string{"pool": "workers"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sel, err := Selector(&nodeallowv1alpha1.NodeAllowlistSpec{NodeSelector: tc.selector})
			if err != nil {
				t.Fatalf("Selector: %v", err)
			}
			if got := sel.Matches(labels.Set(tc.labels)); got != tc.want {
				t.Errorf("Matches = %v, want %v", got, tc.want)
			}
		})
	}

	_, err := Selector(&nodeallowv1alpha1.NodeAllowlistSpec{NodeSelector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "pool", Operator: "Sometimes"},
	}}})
	if err == nil || !strings.Contains(err.Error(), "spec.nodeSelector") {
		t.Fatalf("invalid selector error = %v, want one naming spec.nodeSelector", err)
	}
}
