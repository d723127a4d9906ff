# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The nodeallow controller binary (built from ./cmd) running against one local cluster."""

import os

import requests

from harness.processes import Process, free_port, wait_until

# The namespace whose Secrets the controller reads (its --controller-namespace).
CONTROLLER_NAMESPACE = "nodeallow-system"


class Controller:
    """``manager --cluster-name <name>`` against a cluster's kubeconfig, with probes on a free loopback port."""

    def __init__(self, cluster_name, *, binary, kubeconfig, log_dir, env, log_level="info"):
        """Describe the controller of ``cluster_name``; nothing runs until :meth:`start`."""
        self.cluster_name = cluster_name
        self.probe_port = free_port()
        self.log_path = os.path.join(log_dir, f"controller-{cluster_name}.log")
        self.process = Process(
            f"controller-{cluster_name}",
            [
                binary,
                f"--cluster-name={cluster_name}",
                f"--controller-namespace={CONTROLLER_NAMESPACE}",
                "--metrics-bind-address=0",
                f"--health-probe-bind-address=127.0.0.1:{self.probe_port}",
                "--leader-elect=false",
                f"--zap-log-level={log_level}",
            ],
            log_path=self.log_path,
            env=dict(env, KUBECONFIG=kubeconfig),
        )

    def start(self, timeout=90):
        """Start the controller and wait until its readiness probe (informer caches synced) passes."""
        self.process.start()
        url = f"http://127.0.0.1:{self.probe_port}/readyz"
        session = requests.Session()
        session.trust_env = False
        try:
            wait_until(
                lambda: session.get(url, timeout=2).status_code == 200,
                timeout=timeout,
                what=f"controller {self.cluster_name}'s {url}",
                interval=0.2,
                processes=[self.process],
            )
        finally:
            session.close()
        return self

    def stop(self):
        """Stop the controller (SIGTERM: it finishes the publish in flight, then exits)."""
        self.process.stop(timeout=30)

    def restart(self):
        """Stop and start the controller again, as a rollout or a crash would."""
        self.stop()
        return self.start()

    def log_lines(self):
        """Return the controller's log lines so far."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as fh:
                return fh.read().splitlines()
        except FileNotFoundError:
            return []
