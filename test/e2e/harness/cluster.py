# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""One local Kubernetes control plane (test/localcluster: kube-apiserver + etcd with nodeallow's CRDs)."""

import os
import signal

from harness.kube import KubeClient
from harness.processes import Process, wait_until


class LocalCluster:
    """A running test/localcluster with an admin kubeconfig and a :class:`KubeClient` for it."""

    def __init__(self, name, *, binary, workdir, log_dir, env):
        """Describe cluster ``name``; its kubeconfig and credentials go below ``workdir``."""
        self.name = name
        self.workdir = workdir
        self.kubeconfig = os.path.join(workdir, "kubeconfig")
        self.process = Process(
            f"localcluster-{name}",
            [binary, "--write-kubeconfig", self.kubeconfig],
            log_path=os.path.join(log_dir, f"localcluster-{name}.log"),
            # kube-apiserver drains open watches until envtest's stop timeout (20 s by default), then is
            # killed, as the kubelet kills a static Pod after its grace period; 5 s keeps restarts short.
            env={"KUBEBUILDER_CONTROLPLANE_STOP_TIMEOUT": "5s", **env},
        )
        self.kube = None

    def launch(self):
        """Start the process without waiting, so several clusters and Salt can start side by side."""
        if not self.process.running():
            os.makedirs(self.workdir, exist_ok=True)
            self.process.start()

    def start(self, timeout=180):
        """Start kube-apiserver and etcd (unless :meth:`launch` did) and wait until the API and the CRD serve."""
        self.launch()
        wait_until(
            lambda: os.path.exists(self.kubeconfig),
            timeout=timeout,
            what=f"cluster {self.name}'s kubeconfig {self.kubeconfig}",
            interval=0.2,
            processes=[self.process],
        )
        self.kube = KubeClient(self.kubeconfig, os.path.join(self.workdir, "credentials"))
        wait_until(self.kube.ready, timeout=60, what=f"cluster {self.name}'s /readyz", processes=[self.process])
        # envtest waits for the CRD itself, but a new client can race the discovery refresh.
        wait_until(
            lambda: self.kube.request("GET", "/apis/nodeallow.io/v1alpha1/nodeallowlists") is not None,
            timeout=60,
            what=f"the NodeAllowlist CRD in cluster {self.name}",
            processes=[self.process],
        )
        return self

    def stop_apiserver(self, timeout=60):
        """Stop kube-apiserver only (SIGTERM through localcluster's SIGUSR1); etcd and its data stay."""
        self._toggle(signal.SIGUSR1, "stopped", timeout)

    def start_apiserver(self, timeout=120):
        """Start kube-apiserver again after :meth:`stop_apiserver` (same port and certificates); wait for /readyz."""
        self._toggle(signal.SIGUSR2, "started", timeout)
        # The client's pooled connections died with the old process; ready() retries until one works.
        wait_until(self.kube.ready, timeout=timeout, what=f"cluster {self.name}'s /readyz after the restart",
                   processes=[self.process])

    def _toggle(self, sig, state, timeout):
        """Send localcluster ``sig`` and wait for its next "kube-apiserver <state>" line."""
        line = f"localcluster: kube-apiserver {state}"
        before = self._log_text().count(line)
        self.process.send_signal(sig)
        wait_until(lambda: self._log_text().count(line) > before, timeout=timeout, interval=0.05,
                   what=f"cluster {self.name}'s kube-apiserver to be {state}", processes=[self.process])

    def _log_text(self):
        """localcluster's output so far."""
        try:
            with open(self.process.log_path, encoding="utf-8", errors="replace") as fh:
                return fh.read()
        except FileNotFoundError:
            return ""

    def stop(self):
        """Stop the control plane (localcluster removes etcd's data and its temporary folders)."""
        if self.kube is not None:
            self.kube.close()
        self.process.stop(timeout=60)
