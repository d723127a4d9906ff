#!/usr/bin/env bash
# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
# Builds helm from the Go module proxy at the pinned version (the release downloads
# on get.helm.sh are unreachable here) for the chart tests in test/packaging.
#
# The binary is cached in $NODEALLOW_CACHE/tools/helm-<version> and linked to the
# repository's ignored bin/helm, where the tests look for it. When the pinned
# binary exists, this does nothing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

RERUN="make helm   (or: bash hack/helm.sh)"
STEP="helm"
need_cmd "$STEP" "$RERUN" go "install Go 1.26 from go.dev and put it on PATH"

tools="$NODEALLOW_CACHE/tools"
target="$tools/helm-$HELM_VERSION"
link="$REPO_ROOT/bin/helm"
mkdir -p "$tools" "$REPO_ROOT/bin"

if [[ ! -x "$target" ]]; then
	log "building helm $HELM_VERSION from helm.sh/helm/v3/cmd/helm (cold: ~3 min)"
	started=$SECONDS
	gobin="$(mktemp -d "$tools/helm-gobin.XXXXXX")"
	trap 'rm -rf "$gobin"' EXIT
	log_file="$tools/helm-$HELM_VERSION.build.log"
	# helm reports its version from this variable; go install alone would say v3.x-dev-ish "unreleased".
	if ! GOBIN="$gobin" go install \
		-ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
		"helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >"$log_file" 2>&1; then
		tail -n 30 "$log_file" >&2
		die "$STEP" "$RERUN" "go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION failed (full log: $log_file)"
	fi
	# Rename into place so an interrupted build never leaves a binary that looks finished.
	mv "$gobin/helm" "$target"
	log "built helm in $((SECONDS - started))s"
fi

reported="$("$target" version --template '{{.Version}}' 2>&1 || true)"
[[ "$reported" == "$HELM_VERSION" ]] ||
	die "$STEP" "rm -f '$target' && $RERUN" "helm reports version '$reported', want '$HELM_VERSION'"

if [[ "$(readlink "$link" 2>/dev/null)" != "$target" ]]; then
	rm -f "$link"
	ln -s "$target" "$link"
fi
log "helm ready in bin/helm -> $target"
