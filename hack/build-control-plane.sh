#!/usr/bin/env bash
# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
# Builds the test control plane (kube-apiserver, etcd, kubectl) from Go modules at
# pinned versions, because setup-envtest's downloads are unreachable here.
#
# Binaries are cached in $NODEALLOW_CACHE/control-plane/<versions>/ and linked into
# the repository's ignored bin/k8s/, where envtest looks for them
# (BinaryAssetsDirectory). When the pinned binaries exist, this does nothing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

RERUN="make control-plane   (or: bash hack/build-control-plane.sh)"
STEP="control plane"
need_cmd "$STEP" "$RERUN" go "install Go 1.26 from go.dev and put it on PATH"

key="k8s-${KUBERNETES_VERSION}_etcd-${ETCD_VERSION}"
out="$NODEALLOW_CACHE/control-plane/$key"
link="$REPO_ROOT/bin/k8s"
mkdir -p "$out" "$REPO_ROOT/bin"

minor="${KUBERNETES_VERSION#v1.}"
minor="${minor%%.*}"
version_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	version_ldflags+=" -X ${pkg}.gitVersion=${KUBERNETES_VERSION}"
	version_ldflags+=" -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
	version_ldflags+=" -X ${pkg}.gitTreeState=clean"
done

# build NAME PACKAGE LDFLAGS: go build into a temporary file and rename it, so an
# interrupted build never leaves a binary that looks finished.
build() {
	local name="$1" pkg="$2" ldflags="$3" log_file="$out/$1.build.log"
	if [[ -x "$out/$name" ]]; then
		return 0
	fi
	log "building $name from $pkg (cold: kube-apiserver ~10 min, kubectl ~3 min, etcd ~1 min)"
	local started=$SECONDS
	if ! (cd "$REPO_ROOT/hack/tools" && go build -ldflags "-s -w $ldflags" -o "$out/$name.tmp" "$pkg") >"$log_file" 2>&1; then
		tail -n 30 "$log_file" >&2
		die "build $name" "$RERUN" "go build $pkg failed (full log: $log_file)"
	fi
	mv "$out/$name.tmp" "$out/$name"
	log "built $name in $((SECONDS - started))s"
}

build etcd go.etcd.io/etcd/server/v3 ""
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$version_ldflags"
build kubectl k8s.io/kubernetes/cmd/kubectl "$version_ldflags"

reported="$("$out/kube-apiserver" --version 2>&1 || true)"
[[ "$reported" == "Kubernetes $KUBERNETES_VERSION" ]] ||
	die "$STEP" "rm -rf '$out' && $RERUN" "kube-apiserver reports '$reported', want 'Kubernetes $KUBERNETES_VERSION'"

# bin/k8s is a link into the cache, so a fresh clone costs nothing once the cache is warm.
link_cached "$link" "$out"
log "control plane ready in bin/k8s -> $out"
