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
target="$NODEALLOW_CACHE/tools/helm-$HELM_VERSION"
# helm reports its version from this variable; go install alone would say v3.x-dev-ish "unreleased".
go_install_cached "$STEP" "$RERUN" "$target" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" \
	-ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"

reported="$("$target" version --template '{{.Version}}' 2>&1 || true)"
[[ "$reported" == "$HELM_VERSION" ]] ||
	die "$STEP" "rm -f '$target' && $RERUN" "helm reports version '$reported', want '$HELM_VERSION'"

link_cached "$REPO_ROOT/bin/helm" "$target"
log "helm ready in bin/helm -> $target"
