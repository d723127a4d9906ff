// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

// Command manager runs the nodeallow controller: it watches Nodes and NodeAllowlists and publishes
// signed address snapshots to salt-api.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"k8s.io/klog/v2"

	// Import all Kubernetes client auth plugins (e.g. Azure, GCP, OIDC, etc.)
	// to ensure that exec-entrypoint and run can make use of them.
	_ "k8s.io/client-go/plugin/pkg/client/auth"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/nodeallow/nodeallow/api/protocol"
	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
	"github.com/nodeallow/nodeallow/controllers"
	"github.com/nodeallow/nodeallow/controllers/metricsauth"
	"github.com/nodeallow/nodeallow/controllers/publisher"
	// +kubebuilder:scaffold:imports
)

var (
	scheme   = runtime.NewScheme()
	setupLog = ctrl.Log.WithName("setup")
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

// serviceAccountNamespaceFile holds the Pod's namespace when it runs in a cluster.
const serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// defaultControllerNamespace is the namespace of the kustomize and Helm installs.
const defaultControllerNamespace = "nodeallow-system"

// defaultGCPercent is the garbage collector's target when $GOGC is unset:
// the Node cache is nearly all of the heap and changes slowly, so letting the
// heap grow 25% over the live data instead of Go's 100% keeps the memory at
// 100k Nodes near the cache's own size, for about 1% of a core
// (docs/benchmarks.md).
const defaultGCPercent = 25

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))

	utilruntime.Must(nodeallowv1alpha1.AddToScheme(scheme))
	// +kubebuilder:scaffold:scheme
}

//nolint:gocyclo // the scaffold's flat setup sequence reads best as one function
func main() {
	var metricsAddr string
	var metricsCertPath, metricsCertName, metricsCertKey string
	var enableLeaderElection bool
	var probeAddr string
	var secureMetrics bool
	var enableHTTP2 bool
	var tlsOpts []func(*tls.Config)
	var clusterName, controllerNamespace, logLevel, logEncoder string
	var maxConcurrentReconciles int
	var publishTimeout, retirementTimeout time.Duration
	var showVersion bool
	var election leaderElectionTimings
	flag.StringVar(&clusterName, "cluster-name", "",
		"This cluster's name, a DNS label (required). It is in every payload and hook tag, and the Salt master "+
			"looks up the signing key by it.")
	flag.StringVar(&controllerNamespace, "controller-namespace", defaultNamespace(),
		"The namespace whose Secrets NodeAllowlists refer to (signing keys, salt-api credentials). "+
			"Defaults to $POD_NAMESPACE, else the service account's namespace, else "+defaultControllerNamespace+".")
	flag.StringVar(&logLevel, "zap-log-level", "info",
		"Log level: debug, info or error, or an integer n > 0 to show logr V(n) lines.")
	flag.StringVar(&logEncoder, "zap-encoder", "json",
		"Log format: json (one object per line, for log pipelines) or console (tab-separated, for people).")
	flag.IntVar(&maxConcurrentReconciles, "max-concurrent-reconciles", controllers.DefaultMaxConcurrentReconciles,
		"How many NodeAllowlists may publish at once (each to its own Salt master).")
	flag.DurationVar(&publishTimeout, "publish-timeout", controllers.DefaultPublishTimeout,
		"The longest one publish may take, all chunks and retries included.")
	flag.DurationVar(&retirementTimeout, "retirement-timeout", controllers.DefaultRetirementTimeout,
		"How long a deleted NodeAllowlist waits for its retirement to reach salt-api before it is deleted anyway.")
	flag.BoolVar(&showVersion, "version", false, "Print the version and exit.")
	flag.StringVar(&metricsAddr, "metrics-bind-address", "0", "The address the metrics endpoint binds to. "+
		"Use :8443 for HTTPS or :8080 for HTTP, or leave as 0 to disable the metrics service.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "The address the probe endpoint binds to.")
	flag.BoolVar(&enableLeaderElection, "leader-elect", false,
		"Enable leader election for controller manager. "+
			"Enabling this will ensure there is only one active controller manager.")
	election.bind(flag.CommandLine)
	flag.BoolVar(&secureMetrics, "metrics-secure", true,
		"If set, the metrics endpoint is served securely via HTTPS. Use --metrics-secure=false to use HTTP instead.")
	flag.StringVar(&metricsCertPath, "metrics-cert-path", "",
		"The directory that contains the metrics server certificate.")
	flag.StringVar(&metricsCertName, "metrics-cert-name", "tls.crt", "The name of the metrics server certificate file.")
	flag.StringVar(&metricsCertKey, "metrics-cert-key", "tls.key", "The name of the metrics server key file.")
	flag.BoolVar(&enableHTTP2, "enable-http2", false,
		"If set, HTTP/2 will be enabled for the metrics server")
	flag.Parse()
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if showVersion {
		fmt.Println(version)
		return
	}

	logger, err := newLogger(logLevel, logEncoder)
	if err != nil {
		fmt.Fprintf(os.Stderr, "invalid logging flags: %v\n", err)
		os.Exit(2)
	}
	ctrl.SetLogger(logger)
	// client-go logs through klog; route it into the same JSON stream.
	klog.SetLogger(logger)
	controllers.RecordBuildInfo(version)
	setupLog.Info("Starting nodeallow controller", "version", version, "cluster", clusterName, "controllerNamespace", controllerNamespace)

	if !protocol.IsDNSLabel(clusterName) {
		setupLog.Error(nil, "--cluster-name must be a DNS label: 1-63 of a-z, 0-9 and '-', starting and ending with a letter or digit",
			"cluster-name", clusterName)
		os.Exit(2)
	}
	if !protocol.IsDNSLabel(controllerNamespace) {
		setupLog.Error(nil, "--controller-namespace must be a namespace name", "controller-namespace", controllerNamespace)
		os.Exit(2)
	}
	if err := election.validate(); err != nil {
		setupLog.Error(err, "Invalid leader election timings")
		os.Exit(2)
	}

	// if the enable-http2 flag is false (the default), http/2 should be disabled
	// due to its vulnerabilities. More specifically, disabling http/2 will
	// prevent from being vulnerable to the HTTP/2 Stream Cancellation and
	// Rapid Reset CVEs. For more information see:
	// - https://github.com/advisories/GHSA-qppj-fm5r-hxr3
	// - https://github.com/advisories/GHSA-4374-p667-p6c8
	disableHTTP2 := func(c *tls.Config) {
		setupLog.Info("Disabling HTTP/2")
		c.NextProtos = []string{"http/1.1"}
	}

	if !enableHTTP2 {
		tlsOpts = append(tlsOpts, disableHTTP2)
	}

	// Metrics endpoint is enabled in 'config/default/kustomization.yaml'. The Metrics options configure the server.
	// More info:
	// - https://pkg.go.dev/sigs.k8s.io/controller-runtime@v0.25.0/pkg/metrics/server
	// - https://book.kubebuilder.io/reference/metrics.html
	metricsServerOptions := metricsserver.Options{
		BindAddress:   metricsAddr,
		SecureServing: secureMetrics,
		TLSOpts:       tlsOpts,
	}

	if secureMetrics {
		// Only callers whose bearer token the API server accepts and who may get
		// /metrics (a TokenReview and a SubjectAccessReview; the RBAC is in
		// config/rbac and the chart's rbac-metrics.yaml). metricsauth does this
		// without controller-runtime's metrics/filters, which links
		// k8s.io/apiserver into the binary (docs/benchmarks.md).
		metricsServerOptions.FilterProvider = metricsauth.FilterProvider
	}

	// Without --metrics-cert-path, controller-runtime serves the metrics with a
	// self-signed certificate it generates. With cert-manager, the
	// [METRICS-WITH-CERTS] sections of config/default/kustomization.yaml mount
	// a managed certificate there.
	if len(metricsCertPath) > 0 {
		setupLog.Info("Initializing metrics certificate watcher using provided certificates",
			"metrics-cert-path", metricsCertPath, "metrics-cert-name", metricsCertName, "metrics-cert-key", metricsCertKey)

		metricsServerOptions.CertDir = metricsCertPath
		metricsServerOptions.CertName = metricsCertName
		metricsServerOptions.KeyName = metricsCertKey
	}

	restConfig := ctrl.GetConfigOrDie()
	nodes, err := controllers.NewNodeCache(restConfig)
	if err != nil {
		setupLog.Error(err, "Failed to set up the Node watch")
		os.Exit(1)
	}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsServerOptions,
		HealthProbeBindAddress: probeAddr,
		// Nodes are not in the manager's cache but in the controller's own
		// (controllers.NodeCache); Secrets are not cached at all (see controllers/endpoint.go).
		LeaderElection:          enableLeaderElection,
		LeaderElectionID:        "nodeallow-controller.nodeallow.io",
		LeaderElectionNamespace: controllerNamespace,
		// The program ends right after the manager stops, so stepping down at
		// once is safe and spares the next leader a full lease duration. The
		// sequence in status keeps the hand-over ordered either way.
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &election.LeaseDuration,
		RenewDeadline:                 &election.RenewDeadline,
		RetryPeriod:                   &election.RetryPeriod,
	})
	if err != nil {
		setupLog.Error(err, "Failed to start manager")
		os.Exit(1)
	}

	if err := (&controllers.NodeAllowlistReconciler{
		Client:    mgr.GetClient(),
		Nodes:     nodes,
		APIReader: mgr.GetAPIReader(),
		Publisher: publisher.NewSaltAPI(publisher.Options{
			UserAgent: "nodeallow-controller/" + version,
			Logger:    ctrl.Log.WithName("publisher"),
		}),
		ClusterName:             clusterName,
		Namespace:               controllerNamespace,
		MaxConcurrentReconciles: maxConcurrentReconciles,
		PublishTimeout:          publishTimeout,
		RetirementTimeout:       retirementTimeout,
	}).SetupWithManager(mgr); err != nil {
		setupLog.Error(err, "Failed to create controller", "controller", "nodeallowlist")
		os.Exit(1)
	}
	// +kubebuilder:scaffold:builder

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		setupLog.Error(err, "Failed to set up health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("informers", cacheSynced(mgr, nodes)); err != nil {
		setupLog.Error(err, "Failed to set up ready check")
		os.Exit(1)
	}

	setupLog.Info("Starting manager")
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		setupLog.Error(err, "Failed to run manager")
		os.Exit(1)
	}
}

// defaultNamespace is the namespace the controller runs in: $POD_NAMESPACE
// (set from the downward API), else the service account's namespace file,
// else the install default.
func defaultNamespace() string {
	if ns := strings.TrimSpace(os.Getenv("POD_NAMESPACE")); ns != "" {
		return ns
	}
	if b, err := os.ReadFile(serviceAccountNamespaceFile); err == nil {
		if ns := strings.TrimSpace(string(b)); ns != "" {
			return ns
		}
	}
	return defaultControllerNamespace
}

// cacheSynced is a readiness check that passes once the informer caches and
// the Node cache synced, so a rollout waits for a replica that can actually serve.
func cacheSynced(mgr ctrl.Manager, nodes *controllers.NodeCache) healthz.Checker {
	return func(req *http.Request) error {
		if !nodes.HasSynced() {
			return errors.New("the Node cache has not synced yet")
		}
		ctx, cancel := context.WithTimeout(req.Context(), time.Second)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("informer caches have not synced yet")
		}
		return nil
	}
}
