# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""`make demo`: start the whole nodeallow system on this machine and show Node changes reaching a firewall.

Started by hack/demo.sh (which first builds the control plane and the Salt virtualenv). Uses the same harness
as the end-to-end tests (harness.system), walks through creating, deleting and relabelling Nodes with
kubectl while showing the minions' nft sets, then keeps running with instructions until Ctrl-C.
DEMO_ONCE=1 exits 0 after the walkthrough (CI).

Not root: the same walkthrough with every daemon running as the current user and the minions writing their
nftables rulesets to files (the ``nodeallow_ruleset_file`` minion option) instead of loading them into kernels
in network namespaces.
"""

import json
import os
import pathlib
import shlex
import signal
import subprocess
import sys
import textwrap
import time

import yaml

E2E_DIR = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(E2E_DIR))
# The namespace helper and the event reader live with the extension's tests (as in conftest.py).
sys.path.insert(0, str(E2E_DIR.parents[1] / "saltext-nodeallow"))

# pylint: disable=wrong-import-position
from harness import firewall  # noqa: E402
from harness.binaries import REPO_ROOT, control_plane_missing  # noqa: E402
from harness.controller import CONTROLLER_NAMESPACE  # noqa: E402
from harness.processes import ProcessError, wait_until  # noqa: E402
from harness.system import ClusterSpec, MinionSpec, System, SystemSpec  # noqa: E402
from tests.support import netns  # noqa: E402

KUBECTL = REPO_ROOT / "bin" / "k8s" / "kubectl"
CLUSTER = "demo"
WORKERS = f"{CLUSTER}/workers"
EVERYONE = f"{CLUSTER}/all-nodes"
# db1 (postgres) trusts only the worker pool; cache1 (redis) trusts every node of the cluster.
MINIONS = [
    MinionSpec("db1", rules=[{"allowlist": WORKERS, "proto": "tcp", "ports": [5432],
                              "comment": "postgres from the demo cluster's workers"}]),
    MinionSpec("cache1", rules=[{"allowlist": EVERYONE, "proto": "tcp", "ports": [6379],
                                 "comment": "redis from every node of the demo cluster"}]),
]

BOLD = "\033[1m" if sys.stdout.isatty() else ""
DIM = "\033[2m" if sys.stdout.isatty() else ""
RESET = "\033[0m" if sys.stdout.isatty() else ""


def say(text=""):
    """Print a line of the walkthrough."""
    print(text, flush=True)


def heading(text):
    """Print a step heading."""
    say(f"\n{BOLD}== {text}{RESET}")


class Demo:
    """The walkthrough, on a running :class:`System`."""

    def __init__(self, system):
        """Remember the system and write the files the walkthrough (and the user) apply with kubectl."""
        self.system = system
        self.cluster = system.clusters[CLUSTER]
        self.files = os.path.join(system.workdir, "examples")
        os.makedirs(self.files, exist_ok=True)
        self.env = dict(os.environ, KUBECONFIG=self.cluster.kubeconfig)

    def kubectl(self, *args, show=True):
        """Run kubectl against the demo cluster, echoing the command and its output."""
        if show:
            say(f"{DIM}$ kubectl {shlex.join(args)}{RESET}")
        proc = subprocess.run([str(KUBECTL), *args], env=self.env, capture_output=True, text=True, timeout=60,
                              check=False)
        if show and (proc.stdout or proc.stderr):
            say(textwrap.indent((proc.stdout + proc.stderr).rstrip(), "  "))
        if proc.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def write(self, name, obj):
        """Write ``obj`` as YAML to examples/<name> and return the path."""
        path = os.path.join(self.files, name)
        with open(path, "w", encoding="utf-8") as fh:
            yaml.safe_dump(obj, fh, sort_keys=False)
        return path

    def node_file(self, name, addresses, pool):
        """Write a Node manifest (status addresses as a kubelet would report them) and return its path."""
        return self.write(f"node-{name}.yaml", {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": {"pool": pool}},
            "status": {"addresses": [{"type": "InternalIP", "address": a} for a in addresses]},
        })

    def show_sets(self, expect):
        """Wait until every minion's sets equal ``expect`` ({(minion, allowlist): [cidrs]}), then print them."""
        started = time.monotonic()
        for (minion_id, allowlist), addresses in expect.items():
            self.system.wait_allowed(minion_id, allowlist, addresses, timeout=120)
        took = time.monotonic() - started
        say(f"{DIM}(minions' firewalls up to date {took:.1f}s later){RESET}")
        for (minion_id, allowlist) in expect:
            allowed = sorted(self.system.allowed(minion_id, allowlist), key=_sort_key)
            say(f"  {minion_id:7} {allowlist:17} allows: {', '.join(allowed)}")

    def show_allowlists(self):
        """`kubectl get nodeallowlists` once every subscriber's apply of the published sequence is confirmed."""
        kube = self.system.clusters[CLUSTER].kube

        def confirmed():
            """Whether both allowlists report their published sequence applied everywhere."""
            for name in ("workers", "all-nodes"):
                status = (kube.get_allowlist(name) or {}).get("status", {})
                delivery = status.get("delivery") or {}
                if delivery.get("sequence") != status.get("publishedSequence") or \
                        delivery.get("applied") != delivery.get("subscribers"):
                    return False
            return True

        wait_until(confirmed, timeout=60, interval=0.2, what="the subscribers' applies to be confirmed")
        self.kubectl("get", "nodeallowlists")

    def firewall_command(self, minion_id):
        """The command that shows ``minion_id``'s firewall: nft in its namespace, or cat of its ruleset file."""
        if self.system.spec.firewall_files:
            return ["cat", self.system.ruleset_files[minion_id]]
        return firewall.list_table_argv(self.system.namespaces[minion_id])

    def show_firewall(self, minion_id):
        """Print ``minion_id``'s firewall the way :meth:`firewall_command` shows it."""
        say(f"\n{DIM}$ {shlex.join(self.firewall_command(minion_id))}{RESET}")
        if self.system.spec.firewall_files:
            text = firewall.file_text(self.system.ruleset_files[minion_id])
        else:
            text = firewall.list_table(self.system.namespaces[minion_id])
        say(textwrap.indent(text.rstrip(), "  "))

    def run(self):
        """The walkthrough."""
        files = self.system.spec.firewall_files
        if files:
            say("not root: minion firewalls are written to files instead of the kernel ("
                + ", ".join(self.system.ruleset_files.values()) + ")")
        heading("1. A NodeAllowlist per group of nodes; the controller publishes to salt-api")
        say("The controller's namespace holds the signing key (shared with the Salt master's config) and the\n"
            "salt-api login. Two allowlists: the worker pool (db1's postgres subscribes) and all nodes (cache1);\n"
            "spec.delivery.confirm asks the master what the subscribers applied (kubectl's APPLIED column).")
        self.kubectl("-n", CONTROLLER_NAMESPACE, "get", "secrets")
        for name, selector in (("workers", {"matchLabels": {"pool": "workers"}}), ("all-nodes", {})):
            obj = self.system.allowlist(name, cluster=CLUSTER, node_selector=selector, delivery={"confirm": True})
            self.kubectl("create", "-f", self.write(f"nodeallowlist-{name}.yaml", obj))
        say(f"{DIM}# {self.files}/nodeallowlist-workers.yaml:{RESET}")
        with open(os.path.join(self.files, "nodeallowlist-workers.yaml"), encoding="utf-8") as fh:
            say(textwrap.indent(fh.read().rstrip(), "  "))

        heading("2. Three worker nodes and one batch node join the cluster")
        nodes = {"worker-1": ["192.0.2.11", "2001:db8::11"], "worker-2": ["192.0.2.12"],
                 "worker-3": ["192.0.2.13"], "batch-1": ["192.0.2.21"]}
        for name, addresses in nodes.items():
            pool = "batch" if name.startswith("batch") else "workers"
            self.kubectl("create", "-f", self.node_file(name, addresses, pool))
        workers = ["192.0.2.11", "2001:db8::11", "192.0.2.12", "192.0.2.13"]
        self.show_sets({("db1", WORKERS): workers, ("cache1", EVERYONE): workers + ["192.0.2.21"]})
        self.show_allowlists()
        self.show_firewall("db1")

        heading("3. worker-2 is deleted (scaled down): its address is no longer allowed")
        say("Meanwhile the Salt master's event bus shows each snapshot stored and applied:")
        with self.system.salt.event_watch() as watch:
            self.kubectl("delete", "node", "worker-2")
            workers.remove("192.0.2.12")
            self.show_sets({("db1", WORKERS): workers, ("cache1", EVERYONE): workers + ["192.0.2.21"]})
            # A minion's return (so its applied event) follows its set change by a moment.
            for minion_id, allowlist in (("db1", WORKERS), ("cache1", EVERYONE)):
                watch.wait_for(lambda e, m=minion_id, a=allowlist: e["tag"] == f"nodeallow/applied/{a}"
                               and e["data"].get("minion") == m, what=f"{minion_id}'s applied event of {allowlist}")
        events = watch.events()
        say(f"{DIM}$ salt-run state.event 'nodeallow/*'    # here one line per event: tag, data in words{RESET}")
        say(textwrap.indent("\n".join(describe_event(e["tag"], e["data"]) for e in events)
                            or "(no events: see the master's log)", "  "))
        applied = next((e for e in events if e["tag"].startswith("nodeallow/applied/")), None)
        if applied:
            say(f"{DIM}# the first applied event in full, as salt-run state.event 'nodeallow/*' pretty=True prints it:"
                f"{RESET}")
            say(textwrap.indent(f"{applied['tag']}\t{json.dumps(applied['data'], sort_keys=True, indent=4)}", "  "))

        heading("4. worker-3 moves to the batch pool: db1 drops it, cache1 (all nodes) keeps it")
        self.kubectl("label", "node", "worker-3", "pool=batch", "--overwrite")
        workers.remove("192.0.2.13")
        self.show_sets({("db1", WORKERS): workers,
                        ("cache1", EVERYONE): workers + ["192.0.2.13", "192.0.2.21"]})

        heading("5. worker-1 gets a new address (the kubelet reports it in the Node's status)")
        patch = '{"status":{"addresses":[{"type":"InternalIP","address":"192.0.2.14"},' \
                '{"type":"InternalIP","address":"2001:db8::14"}]}}'
        self.kubectl("patch", "node", "worker-1", "--subresource=status", "--type=merge", "-p", patch)
        workers = ["192.0.2.14", "2001:db8::14"]
        self.show_sets({("db1", WORKERS): workers,
                        ("cache1", EVERYONE): workers + ["192.0.2.13", "192.0.2.21"]})
        self.show_allowlists()
        if files:
            # No kernel to list here: the file itself shows the sets changed since step 2.
            self.show_firewall("db1")

        heading("6. What the Salt master knows: salt-run nodeallow.status")
        say(f"{DIM}$ salt-run nodeallow.status{RESET}")
        say(textwrap.indent(_run([os.path.join(self.system.salt.bin, "salt-run"), "nodeallow.status"]).rstrip(),
                            "  "))

    def instructions(self):
        """Write env.sh and print how to try more."""
        salt = self.system.salt
        env_file = os.path.join(self.system.workdir, "env.sh")
        with open(env_file, "w", encoding="utf-8") as fh:
            fh.write(f"export KUBECONFIG={self.cluster.kubeconfig}\n"
                     f"export PATH={KUBECTL.parent}:{salt.bin}:$PATH\n")
        db1 = shlex.join(self.firewall_command("db1"))
        cache1 = shlex.join(self.firewall_command("cache1"))
        pad = max(len(db1), len(cache1)) + 3
        removed = f"processes, {'' if self.system.spec.firewall_files else 'namespaces, '}{self.system.workdir}"
        example = self.node_file("worker-5", ["192.0.2.15"], "workers")
        say(f"""
{BOLD}== nodeallow is running. Try more in another shell:{RESET}

  source {env_file}      # KUBECONFIG={self.cluster.kubeconfig}
                                             # and kubectl, salt, salt-run on PATH

  kubectl get nodeallowlists
  kubectl create -f {example}     # a worker node with 192.0.2.15
  kubectl label node batch-1 pool=workers --overwrite
  kubectl delete node worker-5

  {db1:{pad}}# db1: postgres, workers only
  {cache1:{pad}}# cache1: redis, all nodes

  salt-run nodeallow.status      # = {salt.bin}/salt-run, i.e. salt-run -c {salt.etc}
  salt-run state.event 'nodeallow/*' pretty=True   # every store, refusal and apply as it happens
  salt '*' nodeallow.show        # what each minion holds

Logs: {self.system.log_dir}/ (controller-{CLUSTER}.log, salt-*.log) and {salt.root}/log/
Press Ctrl-C to stop everything and remove it ({removed}).""")


def describe_event(tag, data):
    """An event ``salt-run state.event`` printed, in one line: what was stored, what a minion applied, else JSON."""
    kind = tag.split("/")[1] if tag.count("/") == 3 else ""
    if isinstance(data, dict) and kind == "stored":
        return (f"{tag}  sequence {data.get('sequence')} stored: {data.get('addresses')} addresses "
                f"(was sequence {data.get('previous_sequence')})")
    if isinstance(data, dict) and kind == "applied":
        minion = data.get("minion")
        result = (data.get("minions") or {}).get(minion) or {}
        if not result.get("result"):
            return f"{tag}  {minion} FAILED, still at sequence {data.get('sequence')}: {result.get('comment')}"
        summary = result.get("changes_summary") or {}
        words = (f"{tag}  {minion} applied sequence {summary.get('sequence')} ({summary.get('backend')}): "
                 f"+{summary.get('added')} -{summary.get('removed')}, {summary.get('total')} addresses")
        for side in ("added", "removed"):
            listed = summary.get(f"{side}_addresses") or []
            if listed:
                more = f" and {summary[side] - len(listed)} more" if summary.get(side, 0) > len(listed) else ""
                words += f"; {side} {', '.join(listed)}{more}"
        return words
    text = f"{tag}  {json.dumps(data)}"
    return text if len(text) <= 160 else text[:159] + "…"


def _run(argv):
    """Run ``argv`` and return its output (stderr only when it failed: Salt warns about its own cleanup there)."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    return proc.stdout if proc.returncode == 0 else proc.stdout + proc.stderr


def _sort_key(cidr):
    """Sort IPv4 before IPv6, then by text."""
    return (":" in cidr, cidr)


def _stop_on_signal(signum, _frame):
    """Turn SIGTERM/SIGHUP into the same orderly shutdown as Ctrl-C."""
    raise KeyboardInterrupt(f"signal {signum}")


def main():
    """Run the demo; return the process exit status."""
    # Not root: no namespaces, the minions write their rulesets to files (said plainly once they exist).
    firewall_files = os.geteuid() != 0
    reason = None if firewall_files else netns.skip_reason()
    if reason:
        say(f"nodeallow demo: {reason}.\n"
            "The demo puts each Salt minion's firewall in its own network namespace and loads real nftables\n"
            "rules there, which needs root. Run it as root: sudo make demo")
        return 1
    missing = control_plane_missing()
    if missing:
        say(f"nodeallow demo: {missing}")
        return 1
    # Explicitly: a shell starting us in the background hands down SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop_on_signal)
    once = os.environ.get("DEMO_ONCE", "") not in ("", "0")
    started = time.monotonic()

    def progress(message):
        """Print a start-up step with the time since the demo began."""
        say(f"{DIM}[{time.monotonic() - started:5.1f}s] {message}{RESET}")

    spec = SystemSpec(clusters={CLUSTER: ClusterSpec()}, minions=MINIONS, workdir_prefix="nodeallow-demo-",
                      firewall_files=firewall_files)
    try:
        with System(spec, progress=progress) as system:
            demo = Demo(system)
            demo.run()
            if once:
                say(f"\nnodeallow demo: walkthrough done in {time.monotonic() - started:.0f}s (DEMO_ONCE set: "
                    "stopping)")
                return 0
            demo.instructions()
            while True:
                for handle in system.clusters.values():
                    handle.controller.process.check_alive()
                time.sleep(1)
    except KeyboardInterrupt:
        # A second Ctrl-C must not interrupt the cleanup System.__exit__ already did.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        say("nodeallow demo: stopped; everything it started is gone")
        return 0 if not once else 130
    except (ProcessError, AssertionError, RuntimeError) as exc:
        say(f"\nnodeallow demo failed: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
