// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/nodeallow/nodeallow/api/protocol"
	"github.com/nodeallow/nodeallow/controllers/plan"
)

// TestCRDDefaultsAreTheGoDefaults pins the CRD's defaults, which kubebuilder markers can only spell as
// literals, to the one Go constant each: the controller falls back to the constant for objects that
// bypassed defaulting, and must mean the same.
func TestCRDDefaultsAreTheGoDefaults(t *testing.T) {
	raw, err := os.ReadFile("../config/crd/bases/nodeallow.io_nodeallowlists.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	specSchema := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	defaultOf := func(path ...string) any {
		s := specSchema
		for _, p := range path {
			next, ok := s.Properties[p]
			if !ok {
				t.Fatalf("the CRD has no spec.%v", path)
			}
			s = next
		}
		if s.Default == nil {
			t.Fatalf("spec.%v has no default in the CRD", path)
		}
		var v any
		if err := json.Unmarshal(s.Default.Raw, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	duration := func(v any) time.Duration {
		d, err := time.ParseDuration(v.(string))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	cases := []struct {
		path      []string
		got, want any
	}{
		{[]string{"salt", "hookPath"}, defaultOf("salt", "hookPath"), protocol.DefaultHookPath},
		{[]string{"salt", "maxBodyBytes"}, defaultOf("salt", "maxBodyBytes"), float64(protocol.DefaultMaxBodyBytes)},
		{[]string{"salt", "signingKeySecretRef", "key"}, defaultOf("salt", "signingKeySecretRef", "key"), defaultSigningKeyKey},
		{[]string{"resyncInterval"}, duration(defaultOf("resyncInterval")), plan.DefaultResyncInterval},
		{[]string{"delivery", "verifyStore"}, defaultOf("delivery", "verifyStore"), plan.DefaultVerifyStore},
		{[]string{"delivery", "interval"}, duration(defaultOf("delivery", "interval")), plan.DefaultDeliveryInterval},
		{[]string{"delivery", "applyTimeout"}, duration(defaultOf("delivery", "applyTimeout")), plan.DefaultApplyTimeout},
		{[]string{"limits", "ipv4", "minPrefixLength"}, defaultOf("limits", "ipv4", "minPrefixLength"), float64(protocol.DefaultMinPrefixIPv4)},
		{[]string{"limits", "ipv4", "maxSpanPrefixLength"}, defaultOf("limits", "ipv4", "maxSpanPrefixLength"), float64(protocol.DefaultMaxSpanPrefixIPv4)},
		{[]string{"limits", "ipv6", "minPrefixLength"}, defaultOf("limits", "ipv6", "minPrefixLength"), float64(protocol.DefaultMinPrefixIPv6)},
		{[]string{"limits", "ipv6", "maxSpanPrefixLength"}, defaultOf("limits", "ipv6", "maxSpanPrefixLength"), float64(protocol.DefaultMaxSpanPrefixIPv6)},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("spec.%v defaults to %v in the CRD, the Go constant is %v", c.path, c.got, c.want)
		}
	}
}
