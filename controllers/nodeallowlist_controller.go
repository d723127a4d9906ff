// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/nodeallow/nodeallow/api/protocol"
	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
	"github.com/nodeallow/nodeallow/controllers/plan"
	"github.com/nodeallow/nodeallow/controllers/publisher"
)

// ControllerName names the controller in logs and in controller-runtime metrics.
const ControllerName = "nodeallowlist"

// Defaults of the reconciler's tunables.
const (
	// DefaultMaxConcurrentReconciles is how many allowlists may publish at once.
	DefaultMaxConcurrentReconciles = 4
	// DefaultPublishTimeout bounds one publish, all chunks and the client's retries included.
	DefaultPublishTimeout = 2 * time.Minute
	// DefaultRetirementTimeout is how long a deleted allowlist waits for its retirement to be delivered.
	DefaultRetirementTimeout = 10 * time.Minute
	// DeliveryCheckTimeout bounds one delivery check; the runner answers from the master's store in
	// well under a second, and a reconcile worker waits for it.
	DeliveryCheckTimeout = 10 * time.Second
)

// Bounds of the retry backoff after a failed reconcile.
const (
	retryBaseDelay = 100 * time.Millisecond
	retryMaxDelay  = 5 * time.Minute
)

// NodeAllowlistReconciler publishes the addresses of the Nodes each
// NodeAllowlist selects to its salt-api, debounced, in sequence order.
type NodeAllowlistReconciler struct {
	// Client reads NodeAllowlists from the manager's cache and writes them.
	client.Client
	// Nodes is the controller's own Node cache, which the controller starts; nil makes one for the manager's API server.
	Nodes *NodeCache
	// APIReader reads uncached: Secrets (see endpointFor) and the NodeAllowlist right before a publish.
	APIReader client.Reader
	// Publisher delivers snapshots; one instance serves every allowlist, each with its own Endpoint.
	Publisher publisher.Publisher
	// Deliveries asks the Salt masters what the subscribers applied (spec.delivery.confirm); nil takes
	// the Publisher when it is a DeliveryReader too.
	Deliveries publisher.DeliveryReader
	// Recorder emits Events on NodeAllowlists; nil takes the manager's (events.k8s.io/v1).
	Recorder events.EventRecorder
	// ClusterName is this cluster's name in every payload and hook path, a DNS label.
	ClusterName string
	// Namespace is where the Secrets that NodeAllowlists name live.
	Namespace string
	// MaxConcurrentReconciles lets allowlists that publish to different, possibly slow, Salt masters proceed in parallel.
	MaxConcurrentReconciles int
	// PublishTimeout bounds one publish, all chunks and retries included.
	PublishTimeout time.Duration
	// RetirementTimeout bounds how long a deleted NodeAllowlist waits for its retirement to be delivered.
	RetirementTimeout time.Duration

	debounce *debouncer
	memory   *deliveryMemory
	// landed carries the allowlist of each send that returned, to reconcile it again.
	landed chan event.TypedGenericEvent[*nodeallowv1alpha1.NodeAllowlist]
}

// +kubebuilder:rbac:groups=nodeallow.io,resources=nodeallowlists,verbs=get;list;watch;update
// +kubebuilder:rbac:groups=nodeallow.io,resources=nodeallowlists/status,verbs=update
// +kubebuilder:rbac:groups=nodeallow.io,resources=nodeallowlists/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",namespace=nodeallow-system,resources=secrets,verbs=get
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=nodeallow-system,resources=leases,verbs=get;create;update

// Reconcile brings one NodeAllowlist's salt-apis up to date with the Nodes it
// selects, in four steps: gather the facts (the allowlist as the API server
// has it, the selected Nodes once the debounce let them settle, this
// process's memory of deliveries and its send in flight to each salt-api),
// decide (plan.DecideEndpoints: one Outcome per salt-api endpoint with the
// status, conditions and Events), act (the allocate-before-send status update,
// then each send launched in a goroutine whose return reconciles again), and
// record (Events, memory, one status write of plan.Merge or the finalizer's
// release).
func (r *NodeAllowlistReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	f, eps, err := r.gather(ctx, req.Name, time.Now())
	if err != nil {
		return ctrl.Result{}, err
	}
	plans := plan.DecideEndpoints(f, eps)
	// act and record write through a copy, so the facts stay as gathered for plan.Settle.
	var obj *nodeallowv1alpha1.NodeAllowlist
	if f.Allowlist != nil {
		obj = f.Allowlist.DeepCopy()
	}
	if err = r.act(ctx, obj, f, plans); err != nil {
		return ctrl.Result{}, err
	}
	return r.record(ctx, obj, f, plans)
}

// forget drops what this process remembers about a deleted allowlist.
func (r *NodeAllowlistReconciler) forget(name string) {
	r.debounce.forget(name)
	r.memory.forget(name)
	forgetAllowlistMetrics(name)
}

// deletionStarted passes the update that sets deletionTimestamp, which a
// generation predicate would otherwise be trusted to pass.
var deletionStarted = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetDeletionTimestamp() == nil && e.ObjectNew.GetDeletionTimestamp() != nil
	},
}

// SetupWithManager validates the reconciler's settings and registers it with
// the manager: NodeAllowlists trigger it on spec, annotation and deletion
// changes (not on its own status writes), Nodes through the NodeCache and nodeEventHandler.
func (r *NodeAllowlistReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if !protocol.IsDNSLabel(r.ClusterName) {
		return fmt.Errorf("cluster name %q is not a DNS label (1-63 of a-z, 0-9 and '-')", r.ClusterName)
	}
	if r.Namespace == "" {
		return errors.New("the controller namespace (where Secrets are read) is empty")
	}
	if r.Publisher == nil {
		return errors.New("no publisher configured")
	}
	if r.Deliveries == nil {
		reader, ok := r.Publisher.(publisher.DeliveryReader)
		if !ok {
			return errors.New("no delivery reader configured, and the publisher cannot read deliveries")
		}
		r.Deliveries = reader
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder("nodeallow-controller")
	}
	if r.MaxConcurrentReconciles <= 0 {
		r.MaxConcurrentReconciles = DefaultMaxConcurrentReconciles
	}
	if r.PublishTimeout <= 0 {
		r.PublishTimeout = DefaultPublishTimeout
	}
	if r.RetirementTimeout <= 0 {
		r.RetirementTimeout = DefaultRetirementTimeout
	}
	r.debounce = newDebouncer()
	r.memory = newDeliveryMemory()
	r.landed = make(chan event.TypedGenericEvent[*nodeallowv1alpha1.NodeAllowlist], r.MaxConcurrentReconciles)
	if r.Nodes == nil {
		nodes, err := NewNodeCache(mgr.GetConfig())
		if err != nil {
			return err
		}
		r.Nodes = nodes
	}

	nodes := &nodeEventHandler{reader: mgr.GetClient(), debounce: r.debounce, now: time.Now}
	return ctrl.NewControllerManagedBy(mgr).
		For(&nodeallowv1alpha1.NodeAllowlist{}, builder.WithPredicates(predicate.Or[client.Object](
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, deletionStarted))).
		WatchesRawSource(nodeSource{cache: r.Nodes, handler: nodes}).
		// A send that returned (launch) reconciles its allowlist to record the result.
		WatchesRawSource(source.Channel(r.landed, &handler.TypedEnqueueRequestForObject[*nodeallowv1alpha1.NodeAllowlist]{})).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: r.MaxConcurrentReconciles,
			// Every line of a reconcile names its allowlist once ("allowlist"), instead of controller-runtime's
			// controller, controllerGroup, controllerKind, NodeAllowlist.name, namespace and name.
			LogConstructor: func(req *reconcile.Request) logr.Logger {
				log := mgr.GetLogger().WithName(ControllerName)
				if req != nil {
					log = log.WithValues("allowlist", req.Name)
				}
				return log
			},
			// A standby replica lists and watches Nodes and NodeAllowlists too (and is Ready only
			// once they synced), so the replica that takes over reconciles at once instead of first
			// listing every Node: 2.8 s at 20,000 Nodes (docs/benchmarks.md), longer than the lease
			// it waited out. It costs the standby the leader's memory and watch CPU, within the
			// same resource limits. The Node changes it sees meanwhile only mark the debounce
			// (nodeEventHandler), as on the leader; a window it marked more than debounce.max
			// before it leads is due, so its first reconcile publishes (or confirms) at once.
			EnableWarmup: ptr.To(true),
			// Failures (a missing Secret, an unreachable salt-api) back off
			// exponentially, capped well below the default 1000 s so that a fix
			// is picked up within minutes without any other trigger.
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](retryBaseDelay, retryMaxDelay),
		}).
		Named(ControllerName).
		Complete(r)
}
