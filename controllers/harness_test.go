// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/nodeallow/nodeallow/api/protocol"
	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
	"github.com/nodeallow/nodeallow/controllers/publisher"
	"github.com/nodeallow/nodeallow/test/saltapistandin"
)

// Names shared by the controller tests.
const (
	testNamespace     = "nodeallow-test"
	testSigningSecret = "nodeallow-signing"
	testClusterName   = "test-cluster"
	testPoolLabel     = "nodeallow.io/test-pool"
)

// testSigningKey is the HMAC key in testSigningSecret, which the stand-in verifies with.
var testSigningKey = []byte("0123456789abcdef0123456789abcdef")

// controllerTuning adjusts a reconciler before it starts.
type controllerTuning func(*NodeAllowlistReconciler)

// startController runs a manager with the reconciler against the suite's API
// server until the returned stop function (also registered as cleanup) runs.
// Each manager registers a controller of the same name, which
// controller-runtime allows only with SkipNameValidation.
func startController(tune ...controllerTuning) (stop func()) {
	return startManager(nil, tune...)
}

// startManager is startController with the manager's options adjusted by options (nil: none), e.g.
// for leader election.
func startManager(options func(*ctrl.Options), tune ...controllerTuning) (stop func()) {
	opts := ctrl.Options{
		Scheme:                 scheme.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	}
	if options != nil {
		options(&opts)
	}
	mgr, err := ctrl.NewManager(cfg, opts)
	Expect(err).NotTo(HaveOccurred())
	r := &NodeAllowlistReconciler{
		Client:         mgr.GetClient(),
		Publisher:      newTestPublisher(),
		ClusterName:    testClusterName,
		Namespace:      testNamespace,
		PublishTimeout: 5 * time.Second,
	}
	for _, t := range tune {
		t(r)
	}
	Expect(r.SetupWithManager(mgr)).To(Succeed())

	mgrCtx, cancelMgr := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(mgrCtx)).To(Succeed())
	}()
	Expect(mgr.GetCache().WaitForCacheSync(ctx)).To(BeTrue(), "the manager's cache did not sync")
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancelMgr()
		Eventually(done, 30*time.Second).Should(BeClosed(), "the manager did not stop")
	}
	DeferCleanup(stop)
	return stop
}

// testAllowlist returns an allowlist for the nodes labelled with pool, publishing to salt.
func testAllowlist(name, pool string, salt *saltapistandin.Server) *nodeallowv1alpha1.NodeAllowlist {
	return &nodeallowv1alpha1.NodeAllowlist{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: nodeallowv1alpha1.NodeAllowlistSpec{
			NodeSelector: metav1.LabelSelector{MatchLabels: map[string]string{testPoolLabel: pool}},
			Salt: nodeallowv1alpha1.SaltEndpoint{
				URL:                 salt.URL(),
				AllowInsecureHTTP:   true,
				SigningKeySecretRef: nodeallowv1alpha1.SecretKeySelector{Name: testSigningSecret},
			},
			Debounce: nodeallowv1alpha1.Debounce{
				Min: metav1.Duration{Duration: time.Second},
				Max: metav1.Duration{Duration: 5 * time.Second},
			},
		},
	}
}

// createAllowlist creates nal and, as cleanup, deletes it for good so the next
// test starts clean. The cleanup removes the finalizer itself because the
// test's manager may already be stopped; tests that check deletion delete
// the allowlist themselves while their controller runs.
func createAllowlist(nal *nodeallowv1alpha1.NodeAllowlist) {
	Expect(k8sClient.Create(ctx, nal)).To(Succeed())
	DeferCleanup(func() {
		key := client.ObjectKeyFromObject(nal)
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, nal))).To(Succeed())
		Eventually(func() error {
			var current nodeallowv1alpha1.NodeAllowlist
			if err := k8sClient.Get(ctx, key, &current); err != nil {
				return err
			}
			current.Finalizers = nil
			return k8sClient.Update(ctx, &current)
		}, 30*time.Second).Should(Satisfy(apierrors.IsNotFound), "NodeAllowlist %s was not deleted", nal.Name)
	})
}

// createNode creates a Node with InternalIP addresses and deletes it as cleanup.
func createNode(name string, labels map[string]string, addrs ...string) *corev1.Node {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	for _, a := range addrs {
		node.Status.Addresses = append(node.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: a})
	}
	want := node.Status.Addresses
	Expect(k8sClient.Create(ctx, node)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, node))).To(Succeed()) })
	if len(want) > 0 && len(node.Status.Addresses) == 0 {
		node.Status.Addresses = want
		Expect(k8sClient.Status().Update(ctx, node)).To(Succeed())
	}
	return node
}

// summary renders a received snapshot for readable comparisons.
func summary(s protocol.Snapshot) string {
	return fmt.Sprintf("%s %d %v", s.Kind, s.Sequence, s.Addresses)
}

// summaries renders the snapshots salt received for allowlist name.
func summaries(salt *saltapistandin.Server, name string) func() []string {
	return func() []string {
		var out []string
		for _, s := range salt.SnapshotsFor(name) {
			out = append(out, summary(s))
		}
		return out
	}
}

// getAllowlist reads an allowlist from the API server.
func getAllowlist(name string) *nodeallowv1alpha1.NodeAllowlist {
	nal := &nodeallowv1alpha1.NodeAllowlist{}
	Expect(k8sClient.Get(ctx, client.ObjectKey{Name: name}, nal)).To(Succeed())
	return nal
}

// condition returns one condition of an allowlist (a zero one when unset).
func condition(name, condType string) metav1.Condition {
	var nal nodeallowv1alpha1.NodeAllowlist
	if err := k8sClient.Get(ctx, client.ObjectKey{Name: name}, &nal); err != nil {
		return metav1.Condition{Message: err.Error()}
	}
	if c := meta.FindStatusCondition(nal.Status.Conditions, condType); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// eventNotes returns the notes of the Events with reason about allowlist name.
func eventNotes(name, reason string) func() []string {
	return func() []string {
		var list eventsv1.EventList
		Expect(k8sClient.List(ctx, &list, client.InNamespace(metav1.NamespaceDefault))).To(Succeed())
		var notes []string
		for _, e := range list.Items {
			if e.Regarding.Name == name && e.Regarding.Kind == "NodeAllowlist" && e.Reason == reason {
				notes = append(notes, e.Note)
			}
		}
		return notes
	}
}

// warnings returns "reason: note" of the Warning Events about allowlist name.
func warnings(name string) func() []string {
	return func() []string {
		var list eventsv1.EventList
		Expect(k8sClient.List(ctx, &list, client.InNamespace(metav1.NamespaceDefault))).To(Succeed())
		var out []string
		for _, e := range list.Items {
			if e.Regarding.Name == name && e.Regarding.Kind == "NodeAllowlist" && e.Type == corev1.EventTypeWarning {
				out = append(out, e.Reason+": "+e.Note)
			}
		}
		return out
	}
}

// counterValue reads a counter of the controller's metrics.
func counterValue(c interface{ Write(*dto.Metric) error }) float64 {
	var m dto.Metric
	Expect(c.Write(&m)).To(Succeed())
	return m.GetCounter().GetValue()
}

// newTestPublisher is the real salt-api client with retries short enough for tests.
func newTestPublisher() *publisher.SaltAPI {
	return publisher.NewSaltAPI(publisher.Options{
		RetryCount:       3,
		RetryWaitTime:    50 * time.Millisecond,
		RetryMaxWaitTime: 200 * time.Millisecond,
		Timeout:          2 * time.Second,
		Logger:           logf.Log.WithName("publisher"),
	})
}

// editAllowlist changes an allowlist's spec, retrying when the controller's
// status writes got in between.
func editAllowlist(name string, edit func(*nodeallowv1alpha1.NodeAllowlist)) {
	Eventually(func() error {
		nal := &nodeallowv1alpha1.NodeAllowlist{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Name: name}, nal); err != nil {
			return err
		}
		edit(nal)
		return k8sClient.Update(ctx, nal)
	}, 10*time.Second).Should(Succeed())
}
