// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

// Package source turns the Nodes a NodeAllowlist selects into the addresses it publishes.
package source

import (
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/nodeallow/nodeallow/api/protocol"
	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
)

// Result is what the selected Nodes and the static CIDRs contribute to a snapshot.
type Result struct {
	// Nodes counts the selected Nodes that are not being deleted.
	Nodes int
	// Addresses holds every node address (as a /32 or /128) and static CIDR, not yet canonical.
	Addresses []netip.Prefix
	// Ignored lists node addresses that are not valid IP addresses and were left out.
	Ignored []IgnoredAddress
}

// IgnoredAddress is a node status address that could not be published, and why.
type IgnoredAddress struct {
	// Node is the Node's name.
	Node string
	// Address is the address as the Node reported it.
	Address string
	// Reason says why it was left out.
	Reason string
}

// Selector returns the label selector of spec.nodeSelector; an empty selector selects every Node.
func Selector(spec *nodeallowv1alpha1.NodeAllowlistSpec) (labels.Selector, error) {
	sel, err := metav1.LabelSelectorAsSelector(&spec.NodeSelector)
	if err != nil {
		return nil, fmt.Errorf("spec.nodeSelector is not a valid label selector: %w", err)
	}
	return sel, nil
}

// Collect returns the addresses of the given Nodes, which the caller selected
// with Selector(spec), filtered by spec's address types and families, plus
// spec's static CIDRs. An error means the spec itself is unusable (a static
// CIDR that does not parse or is of a family the spec leaves out).
func Collect(spec *nodeallowv1alpha1.NodeAllowlistSpec, selected []*Node) (Result, error) {
	families := familySet(spec.Families)
	types := spec.AddressTypes
	if len(types) == 0 {
		types = []corev1.NodeAddressType{corev1.NodeInternalIP}
	}

	var res Result
	for i := range spec.StaticCIDRs {
		p, err := parseStatic(spec.StaticCIDRs[i])
		if err != nil {
			return Result{}, fmt.Errorf("spec.staticCIDRs[%d]: %w", i, err)
		}
		if !families[familyOf(p.Addr())] {
			return Result{}, fmt.Errorf("spec.staticCIDRs[%d] %q is %s, but spec.families lists only %v: add the family or remove the CIDR",
				i, spec.StaticCIDRs[i], familyOf(p.Addr()), spec.Families)
		}
		res.Addresses = append(res.Addresses, p)
	}

	for _, node := range selected {
		// A Node being deleted is leaving the cluster; its address may soon
		// belong to someone else, so it stops being allowed right away.
		if node.Deleting {
			continue
		}
		res.Nodes++
		for _, a := range node.Addresses {
			if !slices.Contains(types, a.Type) {
				continue
			}
			addr, reason := parseNodeAddress(a.Address)
			if reason != "" {
				res.Ignored = append(res.Ignored, IgnoredAddress{Node: node.Name, Address: a.Address, Reason: reason})
				continue
			}
			if !families[familyOf(addr)] {
				continue
			}
			res.Addresses = append(res.Addresses, netip.PrefixFrom(addr, addr.BitLen()))
		}
	}
	return res, nil
}

// familySet returns the families to publish; an empty list (never after API
// defaulting, but possible for objects built in code) means both.
func familySet(list []nodeallowv1alpha1.IPFamily) map[nodeallowv1alpha1.IPFamily]bool {
	if len(list) == 0 {
		return map[nodeallowv1alpha1.IPFamily]bool{nodeallowv1alpha1.IPv4: true, nodeallowv1alpha1.IPv6: true}
	}
	set := make(map[nodeallowv1alpha1.IPFamily]bool, len(list))
	for _, f := range list {
		set[f] = true
	}
	return set
}

func familyOf(a netip.Addr) nodeallowv1alpha1.IPFamily {
	if a.Is4() {
		return nodeallowv1alpha1.IPv4
	}
	return nodeallowv1alpha1.IPv6
}

// parseNodeAddress validates an address from Node status, which any agent
// with Node write access can set, so it is untrusted input. It returns the
// address or the reason it is unusable. IPv4-mapped IPv6 is unmapped because
// the wire protocol only accepts the IPv4 form.
func parseNodeAddress(s string) (netip.Addr, string) {
	addr, err := protocol.ParseAddress(s)
	if err != nil {
		return netip.Addr{}, err.Error()
	}
	addr = addr.Unmap()
	if addr.IsUnspecified() {
		return netip.Addr{}, "is the unspecified address"
	}
	return addr, ""
}

// parseStatic accepts an IP address or a CIDR; host bits are cleared later by
// canonicalisation, so 10.0.0.1/24 means 10.0.0.0/24.
func parseStatic(s string) (netip.Prefix, error) {
	p, err := protocol.ParseAddressOrCIDR(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("%q is an IPv4-mapped IPv6 address: write the IPv4 form", s)
	}
	return p, nil
}
