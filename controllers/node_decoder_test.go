// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"bytes"
	"testing"
	"time"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"

	"github.com/nodeallow/nodeallow/controllers/source"
	"github.com/nodeallow/nodeallow/test/kubeletnode"
)

// protobufOf encodes obj as the API server does in protobuf.
func protobufOf(t testing.TB, obj runtime.Object) []byte {
	t.Helper()
	var buf bytes.Buffer
	s := protobuf.NewSerializer(clientgoscheme.Scheme, clientgoscheme.Scheme)
	if err := s.Encode(obj, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// standardDecode decodes data with client-go's own protobuf decoder.
func standardDecode(t testing.TB, data []byte) runtime.Object {
	t.Helper()
	s := protobuf.NewSerializer(clientgoscheme.Scheme, clientgoscheme.Scheme)
	obj, _, err := s.Decode(data, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

func newTrimmingDecoder() trimmingDecoder {
	return trimmingDecoder{Serializer: protobuf.NewSerializer(clientgoscheme.Scheme, clientgoscheme.Scheme), strings: newInternTable()}
}

// decodedForm is what trimmingDecoder must make of node: what source.NodeOf reads (name, labels,
// deletion timestamp, addresses) and the reflector's resourceVersion, nothing else.
func decodedForm(node *corev1.Node) *corev1.Node {
	return &corev1.Node{
		TypeMeta: node.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{Name: node.Name, ResourceVersion: node.ResourceVersion, Labels: node.Labels,
			DeletionTimestamp: node.DeletionTimestamp},
		Status: corev1.NodeStatus{Addresses: node.Status.Addresses},
	}
}

// everyFieldNode is a kubelet-like Node with every other field the API has set too: spec, taints,
// finalizers, owners, volumes, features, deletion.
func everyFieldNode() *corev1.Node {
	n := realisticNode(9)
	n.GenerateName = "pool-"
	n.Generation = 3
	n.DeletionTimestamp = ptr.To(metav1.NewTime(time.Unix(1_790_000_000, 0)))
	n.DeletionGracePeriodSeconds = ptr.To[int64](30)
	n.Finalizers = []string{"example.com/drain"}
	n.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Machine", Name: "m9", UID: "m9-uid"}}
	n.Spec.PodCIDRs = []string{"10.244.1.0/24", "fd00:244::/64"}
	n.Spec.Unschedulable = true
	n.Spec.Taints = []corev1.Taint{{Key: "node.kubernetes.io/unschedulable", Effect: corev1.TaintEffectNoSchedule}}
	n.Status.Phase = corev1.NodeRunning
	n.Status.VolumesInUse = []corev1.UniqueVolumeName{"kubernetes.io/csi/ebs^vol-1"}
	n.Status.VolumesAttached = []corev1.AttachedVolume{{Name: "kubernetes.io/csi/ebs^vol-1", DevicePath: "/dev/xvdba"}}
	n.Status.Features = &corev1.NodeFeatures{SupplementalGroupsPolicy: ptr.To(true)}
	n.Status.RuntimeHandlers = []corev1.NodeRuntimeHandler{{Name: "runc"}}
	n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "203.0.113.9"},
		corev1.NodeAddress{Type: corev1.NodeInternalDNS, Address: "ip-10-0-0-9.internal"})
	return n
}

// trimmingDecoder keeps every field the Node cache reads and drops the rest: for each Node, the
// cached form (source.NodeOf) of its trimmed decode equals that of a full decode, and the trimmed
// decode holds nothing but decodedForm.
func TestTrimmingDecoderKeepsWhatTheCacheReads(t *testing.T) {
	deleting := realisticNode(7)
	deleting.DeletionTimestamp = ptr.To(metav1.NewTime(time.Unix(1_790_000_000, 123_000_000)))
	bare := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "bare"}}
	bare.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Node"))
	dual := realisticNode(8)
	dual.Status.Addresses = append(dual.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "fd00::8"},
		corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "203.0.113.8"})
	d := newTrimmingDecoder()
	for name, node := range map[string]*corev1.Node{"kubelet-like": realisticNode(1), "deleting": deleting, "bare": bare,
		"dual-stack": dual, "every field set": everyFieldNode()} {
		t.Run(name, func(t *testing.T) {
			data := protobufOf(t, node)
			full := standardDecode(t, data).(*corev1.Node)
			for _, into := range []runtime.Object{nil, &corev1.Node{Spec: corev1.NodeSpec{PodCIDR: "stale"}}} {
				got, gvk, err := d.Decode(data, nil, into)
				if err != nil {
					t.Fatal(err)
				}
				trimmed := got.(*corev1.Node)
				if gvk.Kind != "Node" || !equality.Semantic.DeepEqual(trimmed, decodedForm(full)) {
					t.Fatalf("decoded into %T:\n got %+v\nwant %+v", into, trimmed, decodedForm(full))
				}
				if want := source.NodeOf(full); !source.NodeOf(trimmed).Equal(want) || trimmed.ResourceVersion != full.ResourceVersion {
					t.Fatalf("cached form of the trimmed decode %+v (resourceVersion %s), of the full one %+v (%s)",
						source.NodeOf(trimmed), trimmed.ResourceVersion, want, full.ResourceVersion)
				}
			}
		})
	}
}

func TestTrimmingDecoderNodeList(t *testing.T) {
	list := &corev1.NodeList{
		ListMeta: metav1.ListMeta{ResourceVersion: "42", Continue: "next-page", RemainingItemCount: ptr.To[int64](3)},
		Items:    []corev1.Node{*realisticNode(1), *realisticNode(2)},
	}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NodeList"))
	data := protobufOf(t, list)
	want := standardDecode(t, data).(*corev1.NodeList)
	for i := range want.Items {
		want.Items[i] = *decodedForm(&want.Items[i])
	}
	got, _, err := newTrimmingDecoder().Decode(data, nil, &corev1.NodeList{})
	if err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

// A watch-list ends with a bookmark whose annotation the reflector reads; it must survive.
func TestTrimmingDecoderKeepsTheInitialEventsEndAnnotation(t *testing.T) {
	bookmark := &corev1.Node{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "99",
		Annotations: map[string]string{metav1.InitialEventsAnnotationKey: "true", "other": "dropped"}}}
	bookmark.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Node"))
	got, _, err := newTrimmingDecoder().Decode(protobufOf(t, bookmark), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a := got.(*corev1.Node).Annotations; len(a) != 1 || a[metav1.InitialEventsAnnotationKey] != "true" {
		t.Fatalf("annotations = %v, want only %s=true", a, metav1.InitialEventsAnnotationKey)
	}
}

func TestTrimmingDecoderPassesOtherKindsOn(t *testing.T) {
	status := &metav1.Status{Status: metav1.StatusFailure, Code: 410, Reason: metav1.StatusReasonExpired, Message: "too old"}
	status.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Status"))
	got, _, err := newTrimmingDecoder().Decode(protobufOf(t, status), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := got.(*metav1.Status); !ok || s.Code != 410 || s.Message != "too old" {
		t.Fatalf("decoded %#v, want the Status", got)
	}
}

func TestTrimmingDecoderRefusesTruncatedNodes(t *testing.T) {
	data := protobufOf(t, realisticNode(1))
	d := newTrimmingDecoder()
	for _, cut := range []int{len(data) - 1, len(data) / 2, 40} {
		if _, _, err := d.Decode(data[:cut], nil, nil); err == nil {
			t.Fatalf("a Node cut to %d of %d bytes decoded without an error", cut, len(data))
		}
	}
}

func TestInternTableStaysBounded(t *testing.T) {
	table := newInternTable()
	for i := range 3 * maxInterned {
		table.get([]byte(kubeletnode.Name(i)))
	}
	if n := len(table.strings); n > maxInterned {
		t.Fatalf("intern table holds %d strings, more than %d", n, maxInterned)
	}
	a, b := table.get([]byte("topology.kubernetes.io/zone")), table.get([]byte("topology.kubernetes.io/zone"))
	if unsafe.StringData(a) != unsafe.StringData(b) {
		t.Fatal("the same label key was stored twice")
	}
}

// A watch frame decodes to the same event as with the standard raw decoder, its object left in the frame.
func TestWatchEventDecoderMatchesTheStandardOne(t *testing.T) {
	raw := protobuf.NewRawSerializer(clientgoscheme.Scheme, clientgoscheme.Scheme)
	var frame bytes.Buffer
	in := &metav1.WatchEvent{Type: "MODIFIED", Object: runtime.RawExtension{Raw: protobufOf(t, realisticNode(3))}}
	if err := raw.Encode(in, &frame); err != nil {
		t.Fatal(err)
	}
	var want, got metav1.WatchEvent
	if _, _, err := raw.Decode(frame.Bytes(), nil, &want); err != nil {
		t.Fatal(err)
	}
	if _, _, err := (watchEventDecoder{Serializer: raw}).Decode(frame.Bytes(), nil, &got); err != nil {
		t.Fatal(err)
	}
	if got.Type != want.Type || !bytes.Equal(got.Object.Raw, want.Object.Raw) {
		t.Fatalf("got event %s with %d object bytes, want %s with %d", got.Type, len(got.Object.Raw), want.Type, len(want.Object.Raw))
	}
	if _, _, err := (watchEventDecoder{Serializer: raw}).Decode(frame.Bytes()[:frame.Len()-5], nil, &got); err == nil {
		t.Fatal("a truncated frame decoded without an error")
	}
}
