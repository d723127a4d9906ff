#!/usr/bin/env bash
# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
# Builds one release of the three parts, all of version VERSION, into DIR (`make release VERSION=x.y.z`):
#
#   nodeallow-image-VERSION.oci.tar            the controller image (hack/image.sh), tagged IMAGE_REPO:VERSION
#   nodeallow-VERSION.tgz                      the Helm chart, version and appVersion VERSION (image tag defaults to it)
#   saltext_nodeallow-VERSION-py3-none-any.whl the Salt extension's wheel
#   saltext_nodeallow-VERSION.tar.gz          and its sdist
#   SHA256SUMS                                 `sha256sum -c SHA256SUMS` checks them
#
#   bash hack/release.sh VERSION DIR [IMAGE_REPO]   (IMAGE_REPO defaults to ghcr.io/nodeallow/nodeallow)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

VERSION="${1:?usage: hack/release.sh VERSION DIR [IMAGE_REPO]}"
DIR="${2:?usage: hack/release.sh VERSION DIR [IMAGE_REPO]}"
IMAGE_REPO="${3:-ghcr.io/nodeallow/nodeallow}"
RERUN="make release VERSION=$VERSION"
[[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
	die "release" "$RERUN" "VERSION '$VERSION' is not x.y.z (one string must be a valid image tag, chart version and Python version)"
[[ -x "$REPO_ROOT/bin/helm" ]] || die "release" "make helm && $RERUN" "bin/helm is missing"
[[ -x "$REPO_ROOT/bin/venv/bin/python" ]] || die "release" "make python-env && $RERUN" "bin/venv is missing"
rm -rf "$DIR"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"

# The image: the Dockerfile built with VERSION stamped into the binary, saved as an OCI archive.
image="$(bash "$REPO_ROOT/hack/image.sh" "$VERSION")"
podman_local tag "$image" "$IMAGE_REPO:$VERSION"
podman_local save --quiet --format oci-archive --output "$DIR/nodeallow-image-$VERSION.oci.tar" "$IMAGE_REPO:$VERSION" ||
	die "release" "$RERUN" "podman save of $IMAGE_REPO:$VERSION failed"

# The chart: values.yaml leaves image.tag empty, so the image is IMAGE_REPO:<appVersion>.
"$REPO_ROOT/bin/helm" package "$REPO_ROOT/charts/nodeallow" --version "$VERSION" --app-version "$VERSION" \
	--destination "$DIR" >/dev/null || die "release" "$RERUN" "helm package failed"

# The Salt extension's wheel and sdist at VERSION, as `make dist` builds them.
VERSION="$VERSION" bash "$REPO_ROOT/hack/dist.sh" "$DIR" >/dev/null

(cd "$DIR" && sha256sum -- * >SHA256SUMS)
log "release $VERSION in $DIR:"
(cd "$DIR" && ls -l >&2)
