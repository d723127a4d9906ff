// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

// Package scale benchmarks the controller binary (built from ./cmd) against a
// real kube-apiserver and etcd holding thousands of kubelet-like Nodes: its
// memory, its time to the first publish and its CPU per heartbeat-only Node
// update, each beside an anchor measured in the same run.
package scale

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	nodeallowv1alpha1 "github.com/nodeallow/nodeallow/api/v1alpha1"
	"github.com/nodeallow/nodeallow/controllers/source"
	"github.com/nodeallow/nodeallow/test/kubeletnode"
	"github.com/nodeallow/nodeallow/test/saltapistandin"
	"github.com/nodeallow/nodeallow/test/testenv"
)

// Names of the benchmark's objects.
const (
	namespace     = "nodeallow-system"
	signingSecret = "salt-signing"
	allowlistName = "all-nodes"
	clusterName   = "scale"
)

var signingKey = []byte("0123456789abcdef0123456789abcdef")

// BenchmarkControllerScale runs the controller binary against 1k, 5k and 20k
// Nodes (200 with -short; NODEALLOW_SCALE_NODES=1000,5000 picks others). Each
// iteration is one controller process: started, timed to its first publish,
// sent heartbeat-only Node updates, measured, stopped. The metrics are medians
// over the iterations (-benchtime Nx):
//
//   - first-publish-s: process start to the first complete snapshot at salt-api;
//     anchor list-s: one plain protobuf LIST of all Nodes by this process.
//   - rss-MB, hwm-MB, anon-MB: the process's resident memory after the
//     heartbeats, its peak, and the anonymous part of the former (VmRSS, VmHWM,
//     RssAnon; the rest is the binary's own pages); anchor cache-MB: the heap
//     what the Node cache keeps of the Nodes take (source.NodeOf of each Node,
//     without the cache's sharing of label strings).
//   - cpu-ms/update: the process's CPU time per heartbeat-only update, idle CPU
//     subtracted; anchor decode-ms/node: decoding one of these Nodes in full.
//
// Heartbeats must cause no publish; a publish fails the benchmark. With two or
// more sizes, the log projects the RSS to 100k Nodes from the two largest.
// NODEALLOW_SCALE_BINARY=/a/manager,/b/manager runs these builds instead of
// ./cmd, one after the other at each size, on the same API server and Nodes.
func BenchmarkControllerScale(b *testing.B) {
	sizes, heartbeats := []int{1000, 5000, 20000}, 3000
	if testing.Short() {
		sizes, heartbeats = []int{200}, 200
	}
	if s := os.Getenv("NODEALLOW_SCALE_NODES"); s != "" {
		sizes = nil
		for f := range strings.SplitSeq(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				b.Fatalf("NODEALLOW_SCALE_NODES=%q: %q is not a positive number", s, f)
			}
			sizes = append(sizes, n)
		}
		slices.Sort(sizes)
	}
	h := newHarness(b)
	rss := map[string]map[int]float64{} // median RSS in MB by binary and Node count
	for _, n := range sizes {
		h.growTo(b, n)
		for _, bin := range h.binaries {
			name := fmt.Sprintf("nodes=%d", n)
			if len(h.binaries) > 1 {
				name += "/binary=" + bin.name
			}
			b.Run(name, func(b *testing.B) {
				var runs []result
				for b.Loop() {
					runs = append(runs, h.runController(b, bin.path, n, heartbeats))
				}
				if rss[bin.name] == nil {
					rss[bin.name] = map[int]float64{}
				}
				rss[bin.name][n] = median(runs, func(r result) float64 { return r.rss })
				report(b, runs)
			})
		}
	}
	if len(sizes) >= 2 {
		small, large := sizes[len(sizes)-2], sizes[len(sizes)-1]
		for _, bin := range h.binaries {
			perNode := (rss[bin.name][large] - rss[bin.name][small]) / float64(large-small)
			b.Logf("%s: RSS grows %.2f kB per Node from %d to %d Nodes: projected at %d Nodes %.0f MB", bin.name,
				perNode*1e3, small, large, projectedNodes, rss[bin.name][large]+perNode*float64(projectedNodes-large))
		}
	}
}

// projectedNodes is the fleet size the RSS is projected to, from the slope between the two largest sizes run.
const projectedNodes = 100000

// result holds one controller run's figures, in the units reported.
type result struct {
	firstPublish, list          float64 // seconds
	rss, hwm, anon, cache       float64 // MB
	cpuPerUpdate, decodePerNode float64 // ms
}

// median returns the median of one figure over runs.
func median(runs []result, get func(result) float64) float64 {
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = get(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func report(b *testing.B, runs []result) {
	median := func(get func(result) float64) float64 { return median(runs, get) }
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(median(func(r result) float64 { return r.firstPublish }), "first-publish-s")
	b.ReportMetric(median(func(r result) float64 { return r.list }), "list-s")
	b.ReportMetric(median(func(r result) float64 { return r.rss }), "rss-MB")
	b.ReportMetric(median(func(r result) float64 { return r.hwm }), "hwm-MB")
	b.ReportMetric(median(func(r result) float64 { return r.anon }), "anon-MB")
	b.ReportMetric(median(func(r result) float64 { return r.cache }), "cache-MB")
	b.ReportMetric(median(func(r result) float64 { return r.cpuPerUpdate }), "cpu-ms/update")
	b.ReportMetric(median(func(r result) float64 { return r.decodePerNode }), "decode-ms/node")
}

// harness is the API server with its Nodes, salt-api's stand-in and the built controller.
type harness struct {
	cfg        *rest.Config
	c          client.Client
	kubeconfig string
	binaries   []binary
	salt       *saltapistandin.Server
	nodes      int
	heartbeat  time.Time // the last heartbeat time written, moved forward by each round
}

func newHarness(b *testing.B) *harness {
	env, err := testenv.NewEnvironment()
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := env.Start()
	if err != nil {
		b.Fatalf("starting kube-apiserver and etcd: %v", err)
	}
	b.Cleanup(func() { _ = env.Stop() })
	dir := b.TempDir()
	h := &harness{cfg: rest.CopyConfig(cfg), kubeconfig: filepath.Join(dir, "kubeconfig"),
		salt:      saltapistandin.NewForTest(b, signingKey),
		heartbeat: time.Now().Truncate(time.Second)}
	h.cfg.QPS, h.cfg.Burst = -1, 0 // the benchmark's own writes are not rate limited
	if err := testenv.WriteKubeconfig(cfg, h.kubeconfig); err != nil {
		b.Fatal(err)
	}
	s := clientgoscheme.Scheme
	if err := nodeallowv1alpha1.AddToScheme(s); err != nil {
		b.Fatal(err)
	}
	if h.c, err = client.New(h.cfg, client.Options{Scheme: s}); err != nil {
		b.Fatal(err)
	}

	if prebuilt := os.Getenv("NODEALLOW_SCALE_BINARY"); prebuilt != "" {
		// Other builds of the controller, for before/after comparisons on the same API server and Nodes.
		for p := range strings.SplitSeq(prebuilt, ",") {
			h.binaries = append(h.binaries, binary{name: filepath.Base(p), path: p})
		}
	} else {
		h.binaries = []binary{{name: "manager", path: filepath.Join(dir, "manager")}}
		build := exec.Command("go", "build", "-o", h.binaries[0].path, "./cmd")
		build.Dir = testenv.RepoRoot()
		build.Env = append(os.Environ(), "CGO_ENABLED=0") // as the Makefile and the Dockerfile build it
		if out, err := build.CombinedOutput(); err != nil {
			b.Fatalf("building the controller (go build ./cmd): %v\n%s", err, out)
		}
	}

	ctx := context.Background()
	must(b, h.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}))
	must(b, h.c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: signingSecret},
		Data: map[string][]byte{"signing-key": signingKey}}))
	must(b, h.c.Create(ctx, &nodeallowv1alpha1.NodeAllowlist{
		ObjectMeta: metav1.ObjectMeta{Name: allowlistName},
		Spec: nodeallowv1alpha1.NodeAllowlistSpec{Salt: nodeallowv1alpha1.SaltEndpoint{
			URL: h.salt.URL(), AllowInsecureHTTP: true,
			SigningKeySecretRef: nodeallowv1alpha1.SecretKeySelector{Name: signingSecret},
		}},
	}))
	return h
}

// binary is one build of the controller the benchmark runs.
type binary struct{ name, path string }

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

// parallel runs fn for 0..n-1 on a few workers and returns the first error.
func parallel(n int, fn func(i int) error) error {
	const workers = 8
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		next  = make(chan int)
	)
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// growTo creates Nodes until there are n, as kubelets do: create, then write status.
func (h *harness) growTo(b *testing.B, n int) {
	if n <= h.nodes {
		return
	}
	start := time.Now()
	ctx := context.Background()
	err := parallel(n-h.nodes, func(i int) error {
		i += h.nodes
		node := kubeletnode.New(i, h.heartbeat)
		status := node.Status
		if err := h.c.Create(ctx, node, client.FieldOwner("kubelet")); err != nil {
			return fmt.Errorf("creating Node %s: %w", node.Name, err)
		}
		node.Status = status
		if err := h.c.Status().Update(ctx, node, client.FieldOwner("kubelet")); err != nil {
			return fmt.Errorf("writing the status of Node %s: %w", node.Name, err)
		}
		return nil
	})
	must(b, err)
	b.Logf("created Nodes %d to %d in %s", h.nodes, n-1, time.Since(start).Round(time.Millisecond))
	h.nodes = n
}

// heartbeatRound sends count heartbeat-only status patches (every condition's
// lastHeartbeatTime moves, as a kubelet's status update does), one Node after
// the other, each round of all Nodes a second later than the one before.
func (h *harness) heartbeatRound(count int) error {
	ctx := context.Background()
	base := h.heartbeat
	h.heartbeat = base.Add(time.Duration((count+h.nodes-1)/h.nodes) * time.Second)
	return parallel(count, func(i int) error {
		at := base.Add(time.Duration(i/h.nodes+1) * time.Second).UTC().Format(time.RFC3339)
		var conds []string
		for _, c := range kubeletnode.Conditions(base) {
			conds = append(conds, fmt.Sprintf(`{"type":%q,"lastHeartbeatTime":%q}`, c.Type, at))
		}
		patch := `{"status":{"conditions":[` + strings.Join(conds, ",") + `]}}`
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: kubeletnode.Name(i % h.nodes)}}
		if err := h.c.Status().Patch(ctx, node, client.RawPatch(types.StrategicMergePatchType, []byte(patch)),
			client.FieldOwner("kubelet")); err != nil {
			return fmt.Errorf("heartbeat of Node %s: %w", node.Name, err)
		}
		return nil
	})
}

// runController runs one controller process through start, first publish and heartbeats.
func (h *harness) runController(b *testing.B, binary string, n, heartbeats int) result {
	var res result
	res.list, res.cache = h.listAnchor(b, n)
	res.decodePerNode = h.decodeAnchor(b)

	port := freePort(b)
	logPath := filepath.Join(b.TempDir(), "controller.log")
	logFile, err := os.Create(logPath)
	must(b, err)
	defer logFile.Close()
	cmd := exec.Command(binary, "--cluster-name="+clusterName, "--controller-namespace="+namespace,
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", port), "--metrics-secure=false",
		"--health-probe-bind-address=0", "--leader-elect=false")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+h.kubeconfig)
	// NODEALLOW_SCALE_ENV adds environment variables for the controller only (e.g. "GOGC=50 GOMAXPROCS=1").
	cmd.Env = append(cmd.Env, strings.Fields(os.Getenv("NODEALLOW_SCALE_ENV"))...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	before := len(h.salt.Snapshots())
	started := time.Now()
	must(b, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer stopProcess(b, cmd, exited)
	fail := func(format string, args ...any) {
		b.Helper()
		log, _ := os.ReadFile(logPath)
		b.Fatalf(format+"\ncontroller log (last 4 KB):\n%s", append(args, tail(log, 4096))...)
	}

	// First publish.
	for len(h.salt.Snapshots()) == before {
		select {
		case err := <-exited:
			fail("the controller exited before its first publish: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Since(started) > 5*time.Minute {
			fail("no publish within 5 minutes of the start")
		}
	}
	res.firstPublish = time.Since(started).Seconds()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var nal nodeallowv1alpha1.NodeAllowlist
		must(b, h.c.Get(context.Background(), client.ObjectKey{Name: allowlistName}, &nal))
		if int(nal.Status.Nodes) == n {
			break
		}
		if time.Now().After(deadline) {
			fail("the allowlist's status counts %d Nodes after the first publish, want %d", nal.Status.Nodes, n)
		}
	}
	if p := h.salt.Problems(); len(p) > 0 {
		fail("salt-api's stand-in refused bodies: %v", p)
	}

	// Idle CPU, then heartbeats. Neither window is scraped until its end: a
	// scrape costs the controller about as much as hundreds of heartbeats.
	metrics := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	time.Sleep(2 * time.Second)
	received := receivedEvents(b, metrics)
	idleFrom, idleStart := cpuTime(b, cmd.Process.Pid), time.Now()
	time.Sleep(idleWindow)
	idleRate := float64(cpuTime(b, cmd.Process.Pid)-idleFrom) / float64(time.Since(idleStart))

	// What one scrape costs the controller, to take the scrapes that end the heartbeat window off its CPU.
	scrapeFrom := cpuTime(b, cmd.Process.Pid)
	for range 3 {
		receivedEvents(b, metrics)
	}
	scrapeCost := float64(cpuTime(b, cmd.Process.Pid)-scrapeFrom) / 3

	snapshots, requests := len(h.salt.Snapshots()), h.salt.Requests()
	cpuFrom, from := cpuTime(b, cmd.Process.Pid), time.Now()
	if err := h.heartbeatRound(heartbeats); err != nil {
		fail("%v", err)
	}
	scrapes := 0
	for scrapes++; receivedEvents(b, metrics) < received+float64(heartbeats); scrapes++ {
		if time.Since(from) > 5*time.Minute {
			fail("the controller received %.0f of %d heartbeat updates within 5 minutes",
				receivedEvents(b, metrics)-received, heartbeats)
		}
		time.Sleep(100 * time.Millisecond)
	}
	busy := float64(cpuTime(b, cmd.Process.Pid)-cpuFrom) - idleRate*float64(time.Since(from)) - float64(scrapes)*scrapeCost
	res.cpuPerUpdate = busy / float64(heartbeats) / 1e6

	// Past the debounce, nothing may have been published.
	time.Sleep(3 * time.Second)
	if got := h.salt.Requests() - requests; got != 0 || len(h.salt.Snapshots()) != snapshots {
		fail("%d heartbeat-only updates caused %d publish requests, want 0", heartbeats, got)
	}
	res.rss, res.hwm, res.anon = memory(b, cmd.Process.Pid)
	b.Logf("%d Nodes: first publish %.2f s, %d heartbeats in %s, RSS %.1f MB (peak %.1f; %.1f MB anonymous, %.1f MB of the binary's own pages), %s",
		n, res.firstPublish, heartbeats, time.Since(from).Round(time.Millisecond), res.rss, res.hwm, res.anon, res.rss-res.anon,
		goMemory(b, metrics))
	return res
}

// listAnchor times one plain LIST of all Nodes in protobuf, decoded in full
// (the data any controller must receive at start), and returns the heap
// source.NodeOf of the Nodes takes in MB (what the controller's cache must hold).
func (h *harness) listAnchor(b *testing.B, n int) (seconds, cacheMB float64) {
	var list corev1.NodeList
	start := time.Now()
	must(b, h.c.List(context.Background(), &list, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: "0"}}))
	seconds = time.Since(start).Seconds()
	if len(list.Items) != n {
		b.Fatalf("listed %d Nodes, want %d", len(list.Items), n)
	}
	keep := make([]any, n)
	for i := range list.Items {
		keep[i] = source.NodeOf(list.Items[i].DeepCopy())
	}
	list = corev1.NodeList{}
	withNodes := heapAfterGC()
	clear(keep)
	without := heapAfterGC()
	runtime.KeepAlive(keep)
	return seconds, float64(withNodes-without) / 1e6
}

// heapAfterGC returns the live heap in bytes right after a garbage collection.
func heapAfterGC() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// decodeAnchor returns the time in ms to decode one stored Node from its protobuf bytes in full.
func (h *harness) decodeAnchor(b *testing.B) float64 {
	cfg := rest.CopyConfig(h.cfg)
	cfg.APIPath, cfg.GroupVersion = "/api", &corev1.SchemeGroupVersion
	cfg.NegotiatedSerializer = clientgoscheme.Codecs.WithoutConversion()
	rc, err := rest.RESTClientFor(cfg)
	must(b, err)
	data, err := rc.Get().AbsPath("/api/v1/nodes", kubeletnode.Name(0)).
		SetHeader("Accept", "application/vnd.kubernetes.protobuf").DoRaw(context.Background())
	must(b, err)
	s := protobuf.NewSerializer(clientgoscheme.Scheme, clientgoscheme.Scheme)
	const rounds = 500
	start := time.Now()
	for range rounds {
		if _, _, err := s.Decode(data, nil, nil); err != nil {
			b.Fatalf("decoding a Node from protobuf: %v", err)
		}
	}
	return float64(time.Since(start)) / rounds / 1e6
}

// idleWindow is how long the controller's idle CPU is measured, to be subtracted from the heartbeats' CPU.
const idleWindow = 5 * time.Second

// goMemory summarises the Go runtime's memory figures from the controller's metrics.
func goMemory(b *testing.B, url string) string {
	var out []string
	for _, name := range []string{"go_memstats_heap_inuse_bytes", "go_memstats_heap_idle_bytes", "go_memstats_heap_released_bytes",
		"go_memstats_stack_inuse_bytes", "go_memstats_sys_bytes", "go_gc_duration_seconds_count"} {
		v := scrape(b, url, name+" ")
		if strings.HasSuffix(name, "_bytes") {
			out = append(out, fmt.Sprintf("%s %.1f MB", strings.TrimPrefix(name, "go_memstats_"), v/1e6))
		} else {
			out = append(out, fmt.Sprintf("%s %.0f", name, v))
		}
	}
	return strings.Join(out, ", ")
}

// receivedEvents reads nodeallow_node_events_total{stage="received"} from the controller's metrics.
func receivedEvents(b *testing.B, url string) float64 {
	return scrape(b, url, `nodeallow_node_events_total{stage="received"} `)
}

// scrape returns the value of the metric line starting with prefix; 0 when absent.
func scrape(b *testing.B, url, prefix string) float64 {
	resp, err := http.Get(url) //nolint:noctx // a loopback scrape with the client's default timeout behaviour
	if err != nil {
		b.Fatalf("scraping the controller's metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatalf("metric line %q: %v", sc.Text(), err)
			}
			return f
		}
	}
	return 0
}

// cpuTime returns the CPU time all threads of process pid ran, in nanoseconds
// (the first field of each thread's schedstat; Go does not end its threads).
func cpuTime(b *testing.B, pid int) int64 {
	dirs, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(dirs) == 0 {
		b.Fatalf("reading the threads of process %d: %v", pid, err)
	}
	var total int64
	for _, p := range dirs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue // a thread that just ended
		}
		f := strings.Fields(string(data))
		if len(f) > 0 {
			ns, _ := strconv.ParseInt(f[0], 10, 64)
			total += ns
		}
	}
	return total
}

// memory returns VmRSS, VmHWM and RssAnon of process pid in MB; the rest of
// VmRSS is file-backed, nearly all of it the pages of the binary's own code
// and constants (shared, in the page cache).
func memory(b *testing.B, pid int) (rss, hwm, anon float64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	must(b, err)
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb * 1024 / 1e6
		case "VmHWM:":
			hwm = kb * 1024 / 1e6
		case "RssAnon:":
			anon = kb * 1024 / 1e6
		}
	}
	return rss, hwm, anon
}

func stopProcess(b *testing.B, cmd *exec.Cmd, exited chan error) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			b.Errorf("the controller did not exit cleanly on SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		b.Errorf("the controller did not stop within 30 s of SIGTERM (then killed: %v)", <-exited)
	}
}

func freePort(b *testing.B) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(b, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func tail(data []byte, n int) []byte {
	if len(data) > n {
		data = data[len(data)-n:]
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[i+1:]
		}
	}
	return data
}
