#!/usr/bin/env bash
# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
# Shared settings for the hack/ scripts: pinned versions, the cache outside the
# repository, and the one way every script reports a failed step.

# Pinned versions. Changing one changes the cache key, so the next run rebuilds.
KUBERNETES_VERSION="v1.37.2"
ETCD_VERSION="v3.7.0"
HELM_VERSION="v3.22.0"
# Salt is pinned in saltext-nodeallow/requirements/tests.txt (hack/python-env.sh
# checks the two agree); 3008.5 needs a certifi newer than CI's package index has.
SALT_VERSION="3008.4"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# Expensive build outputs live outside the repository so that every clone (CI
# clones afresh into another folder) finds them.
NODEALLOW_CACHE="${NODEALLOW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nodeallow}"

log() { printf 'nodeallow: %s\n' "$*" >&2; }

# die STEP RERUN MESSAGE... : say which step failed and how to rerun it, then exit.
die() {
	local step="$1" rerun="$2"
	shift 2
	printf '\nnodeallow: step "%s" failed: %s\n' "$step" "$*" >&2
	printf 'nodeallow: fix the cause above, then rerun: %s\n' "$rerun" >&2
	exit 1
}

# need_cmd STEP RERUN CMD HINT : fail with a clear message when CMD is not on PATH.
need_cmd() {
	command -v "$3" >/dev/null 2>&1 || die "$1" "$2" "'$3' is not installed ($4)"
}
