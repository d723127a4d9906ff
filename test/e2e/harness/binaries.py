# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Build the Go programs the system runs (the controller from ./cmd, test/localcluster) from the working tree."""

import os
import pathlib
import subprocess
import time

REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]


class BuildError(RuntimeError):
    """`go build` failed; the message holds its output and the command to rerun."""


def go_build(package, output):
    """Build ``package`` (e.g. ``./cmd``) into ``output`` and return (path, seconds taken).

    Always built from the current tree, so the tests never run a stale binary; Go's build cache makes an
    unchanged tree cost only the link.
    """
    # The caller's settings (CGO included), so the build shares Go's cache with `go test`.
    env = dict(os.environ)
    started = time.monotonic()
    cmd = ["go", "build", "-o", str(output), package]
    try:
        proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False)
    except FileNotFoundError as exc:
        raise BuildError("'go' is not on PATH; install Go 1.26 (see README.md)") from exc
    if proc.returncode != 0:
        raise BuildError(
            f"`{' '.join(cmd)}` (in {REPO_ROOT}) failed with status {proc.returncode}:\n"
            f"{(proc.stderr or proc.stdout).strip()}"
        )
    return pathlib.Path(output), time.monotonic() - started


def control_plane_missing():
    """Return why test/localcluster cannot run (kube-apiserver, etcd or kubectl not built), or None."""
    for name in ("kube-apiserver", "etcd", "kubectl"):
        if not (REPO_ROOT / "bin" / "k8s" / name).exists():
            return f"bin/k8s/{name} is missing; build the control plane with `make control-plane`"
    return None
