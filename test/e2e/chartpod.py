# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The chart's controller Pod run as a container on this machine: `helm template`, then podman with its settings.

:func:`render` renders the chart (bin/helm); :func:`podman_run_args` turns its Deployment's Pod into the flags of
``podman run`` that give the container what the kubelet would: every securityContext field, env entry, volume and
resource limit is translated one by one, and a field this module does not know fails the test instead of being
dropped, so a chart change the image was never run with cannot pass unnoticed. The kubelet's own part (the
service-account token, KUBERNETES_SERVICE_*) is :func:`service_account_files` and ``kubelet_env``.
"""

import os
import re
import subprocess

import yaml

from harness.binaries import REPO_ROOT

HELM = REPO_ROOT / "bin" / "helm"
CHART = REPO_ROOT / "charts" / "nodeallow"
PODMAN = ["bash", str(REPO_ROOT / "hack" / "podman.sh")]
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# The sandbox cannot raise rlimits (no CAP_SYS_RESOURCE), so podman must be given ones it may set: the
# open-files limit this process has, and a process limit far above the controller's few dozen threads.
NPROC_LIMIT = 4096
_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T|m)?$")
_FACTORS = {None: 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9,
            "T": 10**12, "m": 10**-3}


def render(release, namespace, values, *, kube_version):
    """``helm template release charts/nodeallow -n namespace --kube-version v --set k=v ...``: the objects, by kind."""
    cmd = [str(HELM), "template", release, str(CHART), "-n", namespace, "--kube-version", kube_version]
    for key, value in values.items():
        cmd += ["--set", f"{key}={value}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stderr}"
    objects = {}
    for doc in yaml.safe_load_all(out.stdout):
        if doc:
            objects.setdefault(doc["kind"], []).append(doc)
    return objects


def quantity(text):
    """A Kubernetes resource quantity ("256Mi", "500m", "2") as a number (bytes, cores)."""
    match = _QUANTITY.match(str(text))
    assert match, f"resource quantity {text!r} is not one this test reads"
    return float(match.group(1)) * _FACTORS[match.group(2)]


def image_config(image):
    """The image's config (User, Entrypoint, Env, Labels) as podman reports it."""
    out = subprocess.run([*PODMAN, "image", "inspect", "--format", "{{json .Config}}", image],
                         capture_output=True, text=True, check=True, timeout=60)
    return yaml.safe_load(out.stdout)


def check_image_agrees(pod, container, config):
    """Fail on every setting the chart's Pod and the image's config disagree on."""
    security = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    user = str(config.get("User", ""))
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), f"the image's USER {user!r} is not numeric: runAsNonRoot cannot check it"
    if security.get("runAsNonRoot"):
        assert int(uid) != 0, "the chart sets runAsNonRoot but the image runs as root"
    assert str(security.get("runAsUser", uid)) == uid, f"chart runAsUser {security.get('runAsUser')}, image {uid}"
    assert str(security.get("runAsGroup", gid)) == gid, f"chart runAsGroup {security.get('runAsGroup')}, image {gid}"
    assert container.get("command", config["Entrypoint"]) == config["Entrypoint"], (
        f"the chart's command {container.get('command')} is not the image's ENTRYPOINT {config['Entrypoint']}")


def _flag_port(args, flag):
    """The port of ``--flag=host:port`` in ``args``."""
    value = next(a.split("=", 1)[1] for a in args if a.startswith(f"--{flag}="))
    return int(value.rsplit(":", 1)[1])


def probe_urls(container):
    """``{probe: url}`` of the container's httpGet probes, each named port resolved as the kubelet does.

    The port a probe names must be the one the controller's flag binds (``--health-probe-bind-address``).
    """
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    bound = _flag_port(container["args"], "health-probe-bind-address")
    urls = {}
    for probe in ("livenessProbe", "readinessProbe"):
        get = container[probe]["httpGet"]
        port = ports.get(get["port"], get["port"])
        assert port == bound, f"{probe} asks port {get['port']} ({port}), the controller binds {bound}"
        urls[probe] = f"http://127.0.0.1:{port}{get['path']}"
    return urls


def metrics_port(container):
    """The metrics port: the container port named ``metrics``, which must be the one the flag binds."""
    port = next(p["containerPort"] for p in container["ports"] if p["name"] == "metrics")
    assert port == _flag_port(container["args"], "metrics-bind-address"), "metrics port and flag disagree"
    return port


def _security_flags(pod, container):
    """podman flags for the Pod's and the container's securityContext; unknown fields fail."""
    pod_sc, ctr_sc = dict(pod.get("securityContext", {})), dict(container.get("securityContext", {}))
    merged = {**pod_sc, **ctr_sc}
    flags = []
    user = merged.pop("runAsUser", None)
    group = merged.pop("runAsGroup", None)
    if user is not None:
        flags.append(f"--user={user}:{group if group is not None else user}")
    merged.pop("runAsNonRoot", None)  # checked against the image (check_image_agrees)
    if merged.pop("readOnlyRootFilesystem", False):
        # Only the Pod's volumes are writable, as in Kubernetes: no tmpfs of podman's own.
        flags += ["--read-only", "--read-only-tmpfs=false"]
    if merged.pop("allowPrivilegeEscalation", True) is False:
        flags.append("--security-opt=no-new-privileges")
    caps = merged.pop("capabilities", {})
    flags += [f"--cap-drop={c}" for c in caps.pop("drop", [])] + [f"--cap-add={c}" for c in caps.pop("add", [])]
    assert not caps, f"capabilities fields this test cannot run: {caps}"
    seccomp = merged.pop("seccompProfile", {"type": "RuntimeDefault"})
    # podman's default seccomp profile is the runtime default; anything else the chart would need mapping.
    assert seccomp == {"type": "RuntimeDefault"}, f"seccompProfile {seccomp} is not one this test can run"
    assert not merged, f"securityContext fields this test cannot run (teach chartpod.py): {sorted(merged)}"
    return flags


def _env_flags(container, namespace):
    """``--env`` flags for the container's env, valueFrom resolved as the kubelet resolves it."""
    limits = container.get("resources", {}).get("limits", {})
    flags = []
    for entry in container.get("env", []):
        if "value" in entry:
            value = entry["value"]
        elif "fieldRef" in entry.get("valueFrom", {}):
            path = entry["valueFrom"]["fieldRef"]["fieldPath"]
            assert path == "metadata.namespace", f"env {entry['name']}: fieldRef {path} is not one this test can run"
            value = namespace
        elif "resourceFieldRef" in entry.get("valueFrom", {}):
            ref = entry["valueFrom"]["resourceFieldRef"]
            resource = ref["resource"]
            assert resource.startswith("limits."), f"env {entry['name']}: resourceFieldRef {resource}"
            # The kubelet gives the limit divided by the divisor (default 1), rounded up: bytes for memory.
            amount = quantity(limits[resource.split(".", 1)[1]]) / quantity(ref.get("divisor", "1"))
            value = str(int(-(-amount // 1)))
        else:
            raise AssertionError(f"env {entry['name']}: {entry} is not one this test can run")
        flags.append(f"--env={entry['name']}={value}")
    return flags


def _volume_flags(pod, container):
    """``--tmpfs`` for the container's emptyDir mounts (sizeLimit kept); other volumes fail."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    flags = []
    for mount in container.get("volumeMounts", []):
        volume = dict(volumes[mount["name"]])
        volume.pop("name")
        assert set(volume) == {"emptyDir"}, f"volume {mount['name']} {volume} is not one this test can run"
        size = volume["emptyDir"].get("sizeLimit")
        options = "rw,mode=1777" + (f",size={int(quantity(size))}" if size else "")
        flags.append(f"--tmpfs={mount['mountPath']}:{options}")
    return flags


def _resource_flags(container):
    """``--memory``/``--cpus`` for the container's limits."""
    limits = container.get("resources", {}).get("limits", {})
    flags = []
    if "memory" in limits:
        flags.append(f"--memory={int(quantity(limits['memory']))}")
    if "cpu" in limits:
        flags.append(f"--cpus={quantity(limits['cpu'])}")
    return flags


def podman_run_args(deployment, *, name, image, namespace, kubelet_env, service_account_dir):
    """``podman run`` arguments (after ``run``) that run the Deployment's ``manager`` container as its Pod would.

    Host network, so that the container reaches the API server and salt-api on loopback and its probes and
    metrics answer there; ``kubelet_env`` and ``service_account_dir`` are what the kubelet adds to every Pod.
    """
    pod = deployment["spec"]["template"]["spec"]
    container = next(c for c in pod["containers"] if c["name"] == "manager")
    hard_nofile = min(os.sysconf("SC_OPEN_MAX"), 1048576)
    return [
        "--detach", f"--name={name}", "--network=host", f"--stop-timeout={pod['terminationGracePeriodSeconds']}",
        f"--ulimit=nofile={hard_nofile}:{hard_nofile}", f"--ulimit=nproc={NPROC_LIMIT}:{NPROC_LIMIT}",
        *_security_flags(pod, container),
        *_resource_flags(container),
        *_volume_flags(pod, container),
        *_env_flags(container, namespace),
        *[f"--env={k}={v}" for k, v in kubelet_env.items()],
        f"--volume={service_account_dir}:{SERVICE_ACCOUNT_DIR}:ro",
        f"--entrypoint={container['command'][0]}" if container.get("command") else "--entrypoint=",
        image,
        *container["command"][1:],
        *container.get("args", []),
    ]


def service_account_files(directory, *, token, ca_pem, namespace):
    """Write what the kubelet projects into every Pod (token, ca.crt, namespace), readable by any user."""
    os.makedirs(directory, exist_ok=True)
    os.chmod(directory, 0o755)
    for name, text in (("token", token), ("ca.crt", ca_pem), ("namespace", namespace)):
        path = os.path.join(directory, name)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(path, 0o644)
    return directory
