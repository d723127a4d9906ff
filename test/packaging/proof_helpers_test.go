// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package packaging

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodeallow/nodeallow/api/protocol"
	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
	"github.com/nodeallow/nodeallow/test/saltapistandin"
)

// poll calls check every 100ms until it returns nil or timeout passes, and
// then returns check's last error.
func poll(timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// createNode creates a Node with labels and InternalIP addresses (and an
// ExternalIP that allowlists selecting InternalIP must leave out).
func createNode(t *testing.T, name string, labels map[string]string, addrs ...string) {
	t.Helper()
	ctx := context.Background()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := adminClient.Create(ctx, node); err != nil {
		t.Fatalf("creating Node %s: %v", name, err)
	}
	for _, a := range addrs {
		node.Status.Addresses = append(node.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: a})
	}
	node.Status.Addresses = append(node.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "198.51.100.7"})
	if err := adminClient.Status().Update(ctx, node); err != nil {
		t.Fatalf("setting the addresses of Node %s: %v", name, err)
	}
}

// createAllowlist creates a NodeAllowlist that selects the proof Nodes'
// InternalIPs and publishes to salt with a short debounce.
func createAllowlist(t *testing.T, name string, salt *saltapistandin.Server, edits ...func(*nodeallowv1alpha1.NodeAllowlistSpec)) {
	t.Helper()
	nal := &nodeallowv1alpha1.NodeAllowlist{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: nodeallowv1alpha1.NodeAllowlistSpec{
			NodeSelector: metav1.LabelSelector{MatchLabels: map[string]string{proofNodeLabel: "true"}},
			Salt: nodeallowv1alpha1.SaltEndpoint{
				URL:                 salt.URL(),
				AllowInsecureHTTP:   true,
				SigningKeySecretRef: nodeallowv1alpha1.SecretKeySelector{Name: proofSecret, Key: "signing-key"},
			},
			Debounce: nodeallowv1alpha1.Debounce{Min: metav1.Duration{Duration: 100 * time.Millisecond}, Max: metav1.Duration{Duration: time.Second}},
		},
	}
	for _, edit := range edits {
		edit(&nal.Spec)
	}
	if err := adminClient.Create(context.Background(), nal); err != nil {
		t.Fatalf("creating NodeAllowlist %s: %v", name, err)
	}
}

// forceDelete removes a NodeAllowlist whose controller is gone: finalizer first.
func forceDelete(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	var nal nodeallowv1alpha1.NodeAllowlist
	if err := adminClient.Get(ctx, client.ObjectKey{Name: name}, &nal); apierrors.IsNotFound(err) {
		return
	} else if err != nil {
		t.Fatalf("reading NodeAllowlist %s: %v", name, err)
	}
	if len(nal.Finalizers) > 0 {
		nal.Finalizers = nil
		if err := adminClient.Update(ctx, &nal); err != nil && !apierrors.IsNotFound(err) {
			t.Fatalf("removing the finalizers of NodeAllowlist %s: %v", name, err)
		}
	}
	deleteObject(t, &nal)
	if err := waitGone(&nal, stepTimeout); err != nil {
		t.Fatal(err)
	}
}

// waitForSnapshot waits until salt-api received a snapshot (or retirement) of
// name with exactly the given addresses, and returns it.
func waitForSnapshot(salt *saltapistandin.Server, name string, kind protocol.Kind, timeout time.Duration, addrs ...string) (protocol.Snapshot, error) {
	want := slices.Clone(addrs)
	slices.Sort(want)
	var found protocol.Snapshot
	err := poll(timeout, func() error {
		snaps := salt.Snapshots()
		for i := len(snaps) - 1; i >= 0; i-- {
			s := snaps[i]
			if s.Allowlist == name && s.Kind == kind && slices.Equal(prefixStrings(s.Addresses), want) {
				if s.Cluster != proofCluster {
					return fmt.Errorf("the %s of %s names cluster %q, want %q (the chart's clusterName)", kind, name, s.Cluster, proofCluster)
				}
				found = s
				return nil
			}
		}
		var got []string
		for _, s := range snaps {
			got = append(got, fmt.Sprintf("%s %s #%d %v", s.Kind, s.Allowlist, s.Sequence, prefixStrings(s.Addresses)))
		}
		return fmt.Errorf("salt-api got no %s of %s with %v within %s; it got %v (refused: %v)", kind, name, want, timeout, got, salt.Problems())
	})
	return found, err
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.String())
	}
	slices.Sort(out)
	return out
}

// waitForPublished waits until status says sequence was published and Ready is True.
func waitForPublished(name string, sequence int64, timeout time.Duration) (*nodeallowv1alpha1.NodeAllowlist, error) {
	var nal nodeallowv1alpha1.NodeAllowlist
	err := poll(timeout, func() error {
		if err := adminClient.Get(context.Background(), client.ObjectKey{Name: name}, &nal); err != nil {
			return fmt.Errorf("reading NodeAllowlist %s: %w", name, err)
		}
		if nal.Status.PublishedSequence >= sequence && meta.IsStatusConditionTrue(nal.Status.Conditions, nodeallowv1alpha1.ConditionReady) {
			return nil
		}
		return fmt.Errorf("NodeAllowlist %s status did not report sequence %d published and Ready within %s: %+v", name, sequence, timeout, nal.Status)
	})
	return &nal, err
}

// waitForAllowlist waits until done says NodeAllowlist name's state is reached.
func waitForAllowlist(name string, timeout time.Duration, done func(*nodeallowv1alpha1.NodeAllowlist) bool) error {
	return poll(timeout, func() error {
		var nal nodeallowv1alpha1.NodeAllowlist
		if err := adminClient.Get(context.Background(), client.ObjectKey{Name: name}, &nal); err != nil {
			return fmt.Errorf("reading NodeAllowlist %s: %w", name, err)
		}
		if done(&nal) {
			return nil
		}
		return fmt.Errorf("NodeAllowlist %s did not get there within %s: %+v", name, timeout, nal.Status)
	})
}

// waitForCondition waits until condition condType of name has reason.
func waitForCondition(name, condType, reason string, timeout time.Duration) (metav1.Condition, error) {
	var found metav1.Condition
	err := poll(timeout, func() error {
		var nal nodeallowv1alpha1.NodeAllowlist
		if err := adminClient.Get(context.Background(), client.ObjectKey{Name: name}, &nal); err != nil {
			return fmt.Errorf("reading NodeAllowlist %s: %w", name, err)
		}
		if c := meta.FindStatusCondition(nal.Status.Conditions, condType); c != nil && c.Reason == reason {
			found = *c
			return nil
		}
		return fmt.Errorf("NodeAllowlist %s has no %s condition with reason %s after %s: %+v", name, condType, reason, timeout, nal.Status.Conditions)
	})
	return found, err
}

// waitForEvent waits for an events.k8s.io Event about NodeAllowlist name with reason.
func waitForEvent(name, reason string, timeout time.Duration) error {
	return poll(timeout, func() error {
		var events eventsv1.EventList
		if err := adminClient.List(context.Background(), &events, client.InNamespace(eventsNamespace)); err != nil {
			return fmt.Errorf("listing Events in %s: %w", eventsNamespace, err)
		}
		for _, e := range events.Items {
			if e.Regarding.Kind == "NodeAllowlist" && e.Regarding.Name == name && e.Reason == reason {
				return nil
			}
		}
		return fmt.Errorf("no %s Event about NodeAllowlist %s in namespace %s within %s", reason, name, eventsNamespace, timeout)
	})
}

func deleteObject(t *testing.T, obj client.Object) {
	t.Helper()
	if err := adminClient.Delete(context.Background(), obj); err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("deleting %T %s: %v", obj, obj.GetName(), err)
	}
}

// waitGone waits until obj no longer exists.
func waitGone(obj client.Object, timeout time.Duration) error {
	return poll(timeout, func() error {
		err := adminClient.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %T %s: %w", obj, obj.GetName(), err)
		}
		return fmt.Errorf("%T %s still exists after %s (finalizers %v)", obj, obj.GetName(), timeout, obj.GetFinalizers())
	})
}
