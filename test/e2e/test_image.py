# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The controller's image, built from the Dockerfile (hack/image.sh), runs as the chart's Deployment runs it.

The chart is rendered with bin/helm; its ServiceAccount and RBAC are applied to cluster alpha, and the image runs
under podman with exactly the Pod's securityContext, env, volumes, limits and args (chartpod.py), with the
service-account token and KUBERNETES_SERVICE_* the kubelet would give it. Cluster alpha's own controller is stopped
meanwhile (and started again after), so the container alone publishes: it must win the Lease, publish a new Node to
db1's nft set, answer the chart's probes, serve metrics to a ServiceAccount bound to the chart's metrics-reader
role, and exit 0 within the grace period after SIGTERM.
"""

import base64
import os
import re
import subprocess
import tempfile
import time

import chartpod
import requests
import urllib3
import yaml

from harness.binaries import REPO_ROOT
from harness.controller import CONTROLLER_NAMESPACE
from harness.kube import KubeError
from harness.processes import free_port, wait_until
from topology import ANCHORS, WORKER_LABELS

RELEASE = "nodeallow"
LEASE = f"/apis/coordination.k8s.io/v1/namespaces/{CONTROLLER_NAMESPACE}/leases/nodeallow-controller.nodeallow.io"
NEW_NODE_ADDRESS = "192.0.2.77"
# Where each rendered kind is created: (API prefix, resource, namespaced).
_RBAC_KINDS = {
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
}


def build_image():
    """``bash hack/image.sh``: the image reference (cached: seconds when nothing changed)."""
    out = subprocess.run(["bash", str(REPO_ROOT / "hack" / "image.sh")], capture_output=True, text=True,
                         check=False, timeout=3600)
    assert out.returncode == 0, f"bash hack/image.sh failed:\n{out.stderr[-3000:]}"
    return out.stdout.strip().splitlines()[-1]


def _apply(kube, obj):
    """Create ``obj`` (one of _RBAC_KINDS), or replace it when it exists."""
    prefix, resource, namespaced = _RBAC_KINDS[obj["kind"]]
    ns = f"/namespaces/{obj['metadata']['namespace']}" if namespaced else ""
    path = f"{prefix}{ns}/{resource}"
    try:
        kube.request("POST", path, body=obj)
    except KubeError as exc:
        if exc.status_code != 409:
            raise
        kube.request("PUT", f"{path}/{obj['metadata']['name']}", body=obj)


def _token(kube, service_account):
    """A one-hour token of ``service_account`` in the controller namespace (TokenRequest, as the kubelet asks)."""
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}}
    answer = kube.request("POST", f"/api/v1/namespaces/{CONTROLLER_NAMESPACE}/serviceaccounts/{service_account}/token",
                          body=body)
    return answer["status"]["token"]


def _scraper_token(kube, objects):
    """The token of a ServiceAccount bound to the chart's metrics-reader ClusterRole, as a Prometheus would be."""
    reader = next(r for r in objects["ClusterRole"]
                  if any("/metrics" in rule.get("nonResourceURLs", []) for rule in r["rules"]))
    _apply(kube, {"apiVersion": "v1", "kind": "ServiceAccount",
                  "metadata": {"name": "image-test-scraper", "namespace": CONTROLLER_NAMESPACE}})
    _apply(kube, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                  "metadata": {"name": "image-test-scraper"},
                  "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                              "name": reader["metadata"]["name"]},
                  "subjects": [{"kind": "ServiceAccount", "name": "image-test-scraper",
                                "namespace": CONTROLLER_NAMESPACE}]})
    return _token(kube, "image-test-scraper")


def _podman(*args, timeout=120, check=True):
    """Run ``bash hack/podman.sh args...`` and return its completed process."""
    out = subprocess.run([*chartpod.PODMAN, *args], capture_output=True, text=True, check=False, timeout=timeout)
    if check:
        assert out.returncode == 0, f"podman {' '.join(args)} failed:\n{out.stderr}"
    return out


def _lease_holder(kube):
    """The Lease's holderIdentity, "" while nobody holds it."""
    try:
        return kube.request("GET", LEASE)["spec"].get("holderIdentity") or ""
    except KubeError as exc:
        if exc.status_code == 404:
            return ""
        raise


def _get(url, **kwargs):
    """GET ``url`` without proxies from the environment."""
    with requests.Session() as session:
        session.trust_env = False
        return session.get(url, timeout=5, **kwargs)


def test_the_image_runs_as_the_chart_runs_it(system, alpha):
    """Build, render, run: leader, publish to db1, probes, metrics, SIGTERM (see the module docstring)."""
    started = time.monotonic()
    image = build_image()
    built = time.monotonic() - started
    repository, tag = image.rsplit(":", 1)
    probe_port, metrics_port = free_port(), free_port()
    objects = chartpod.render(RELEASE, CONTROLLER_NAMESPACE, {
        "clusterName": "alpha", "image.repository": repository, "image.tag": tag,
        "probePort": probe_port, "metrics.port": metrics_port,
    }, kube_version=alpha.kube.request("GET", "/version")["gitVersion"])
    deployment = objects["Deployment"][0]
    pod = deployment["spec"]["template"]["spec"]
    container = next(c for c in pod["containers"] if c["name"] == "manager")
    assert container["image"] == image
    chartpod.check_image_agrees(pod, container, chartpod.image_config(image))
    probes = chartpod.probe_urls(container)
    assert chartpod.metrics_port(container) == metrics_port

    kube = alpha.kube
    for kind in _RBAC_KINDS:
        for obj in objects.get(kind, []):
            _apply(kube, obj)
    with open(alpha.kubeconfig, encoding="utf-8") as fh:
        cluster = yaml.safe_load(fh)["clusters"][0]["cluster"]
    host, port = re.match(r"https://([^:/]+):(\d+)", cluster["server"]).groups()
    workdir = tempfile.mkdtemp(prefix="nodeallow-image-", dir=system.workdir)
    service_account = chartpod.service_account_files(
        os.path.join(workdir, "serviceaccount"), token=_token(kube, pod["serviceAccountName"]),
        ca_pem=base64.b64decode(cluster["certificate-authority-data"]).decode(), namespace=CONTROLLER_NAMESPACE)
    name = f"nodeallow-image-test-{os.getpid()}"
    args = chartpod.podman_run_args(
        deployment, name=name, image=image, namespace=CONTROLLER_NAMESPACE,
        kubelet_env={"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port},
        service_account_dir=service_account)

    gomemlimit = int(next(a for a in args if a.startswith("--env=GOMEMLIMIT=")).split("=", 2)[2])

    alpha.controller.stop()
    try:
        _podman("run", *args)
        try:
            _exercise(system, alpha, name, probes, metrics_port, tag, gomemlimit, scraper=_scraper_token(kube, objects))
            grace = pod["terminationGracePeriodSeconds"]
            stopping = time.monotonic()
            _podman("kill", "--signal=TERM", name)
            waited = _podman("wait", name, timeout=grace + 30)
            took = time.monotonic() - stopping
            logs = _podman("logs", name).stderr
            assert waited.stdout.strip() == "0", f"exit status {waited.stdout.strip()} after SIGTERM:\n{logs[-3000:]}"
            assert took < grace, f"exited {took:.1f}s after SIGTERM, the grace period is {grace}s:\n{logs[-3000:]}"
        finally:
            _podman("rm", "--force", "--time=0", name, check=False)
    finally:
        alpha.controller.start()
    size = int(_podman("image", "inspect", "--format", "{{.Size}}", image).stdout)
    print(f"\nimage {image}: {size / 1e6:.1f} MB; hack/image.sh took {built:.1f}s;"
          f" the test {time.monotonic() - started:.1f}s")


def _exercise(system, alpha, name, probes, metrics_port, tag, gomemlimit, *, scraper):
    """While the container runs: probes, the Lease, a publish reaching db1, and its metrics."""
    def logs():
        return _podman("logs", name, check=False).stderr[-4000:]

    def probe_ok(url):
        try:
            return _get(url).status_code == 200
        except requests.ConnectionError:
            return False

    try:
        for probe, url in probes.items():
            wait_until(lambda u=url: probe_ok(u), timeout=90, interval=0.5, what=f"the container's {probe} {url}")
        wait_until(lambda: _lease_holder(alpha.kube) != "", timeout=60, interval=0.5,
                   what="the container to hold the leader Lease")
    except Exception as exc:
        raise AssertionError(f"{exc}\ncontainer log:\n{logs()}") from exc
    alpha.kube.create_node("image-test-worker", [NEW_NODE_ADDRESS], labels=WORKER_LABELS)
    try:
        system.wait_allowed("db1", "alpha/workers", [ANCHORS["alpha"], NEW_NODE_ADDRESS], timeout=90)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\ncontainer log:\n{logs()}") from exc

    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    # The controller serves metrics with a certificate it made itself (no --metrics-cert-path in the chart).
    answer = _get(f"https://127.0.0.1:{metrics_port}/metrics", verify=False,
                  headers={"Authorization": f"Bearer {scraper}"})
    assert answer.status_code == 200, f"metrics: {answer.status_code} {answer.text[:300]}"
    assert re.search(rf'^nodeallow_build_info{{.*version="{re.escape(tag)}".*}} 1$', answer.text, re.M), \
        "nodeallow_build_info does not carry the image's version"
    assert re.search(r'^nodeallow_publishes_total{result="success"} [1-9]', answer.text, re.M)
    memlimit = re.search(r"^go_gc_gomemlimit_bytes (\S+)$", answer.text, re.M)
    assert memlimit and float(memlimit.group(1)) == gomemlimit, \
        f"the Go runtime's memory limit is {memlimit and memlimit.group(1)}, the chart's GOMEMLIMIT {gomemlimit}"
    # No token, or one the API server rejects: 401 (docs/monitoring.md, "Who may read the metrics").
    assert _get(f"https://127.0.0.1:{metrics_port}/metrics", verify=False).status_code == 401
    assert _get(f"https://127.0.0.1:{metrics_port}/metrics", verify=False,
                headers={"Authorization": "Bearer not-a-token"}).status_code == 401

