# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The nodeallow controller binary (built from ./cmd) running against one local cluster."""

import datetime
import json
import os

import requests

from harness.processes import Process, free_port, wait_until

# The namespace whose Secrets the controller reads (its --controller-namespace).
CONTROLLER_NAMESPACE = "nodeallow-system"


class Controller:
    """``manager --cluster-name <name>`` against a cluster's kubeconfig, with probes on a free loopback port.

    One controller per cluster runs without leader election. Several replicas of one cluster's controller
    (``replica`` names each, ``leader_elect=True``) elect a leader through the Lease in CONTROLLER_NAMESPACE,
    as the chart's Deployment does; ``extra_args`` adds flags such as the ``--leader-elect-*`` timings.
    """

    def __init__(self, cluster_name, *, binary, kubeconfig, log_dir, env, log_level="info", replica="",
                 leader_elect=False, extra_args=()):
        """Describe the controller of ``cluster_name``; nothing runs until :meth:`start`."""
        self.cluster_name = cluster_name
        self.name = f"{cluster_name}-{replica}" if replica else cluster_name
        self.probe_port = free_port()
        self.log_path = os.path.join(log_dir, f"controller-{self.name}.log")
        self.process = Process(
            f"controller-{self.name}",
            [
                binary,
                f"--cluster-name={cluster_name}",
                f"--controller-namespace={CONTROLLER_NAMESPACE}",
                "--metrics-bind-address=0",
                f"--health-probe-bind-address=127.0.0.1:{self.probe_port}",
                f"--leader-elect={'true' if leader_elect else 'false'}",
                f"--zap-log-level={log_level}",
                *extra_args,
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
                what=f"controller {self.name}'s {url}",
                interval=0.2,
                processes=[self.process],
            )
        finally:
            session.close()
        return self

    def stop(self):
        """Stop the controller (SIGTERM: it finishes the publish in flight, then exits)."""
        self.process.stop(timeout=30)

    def kill(self):
        """SIGKILL the controller: no publish is finished, and a Lease it holds is not released."""
        self.process.kill()

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

    def log_entries(self, msg):
        """The JSON log lines whose ``msg`` starts with ``msg``, parsed, each with ``at``: its time (epoch seconds)."""
        entries = []
        for line in self.log_lines():
            if not line.startswith("{") or f'"msg":"{msg}' not in line:
                continue
            entry = json.loads(line)
            entry["at"] = datetime.datetime.fromisoformat(entry["ts"]).timestamp()
            entries.append(entry)
        return entries
