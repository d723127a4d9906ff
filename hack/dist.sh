#!/usr/bin/env bash
# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
# Build the Salt extension's release artifacts, the sdist and the wheel built from it, as `make dist` does
# and as the end-to-end tests install them (test/e2e/harness/saltenv.py).
#
# Usage: hack/dist.sh [OUT_DIR]        (default: dist/)
# Environment:
#   VERSION   the version to stamp (default: the repository's VERSION file, which the controller binary
#             and the chart's appVersion share); `make dist VERSION=1.2.3` overrides it for a release.
#
# Builds with the setuptools of the primary test virtualenv (hack/python-env.sh), without build isolation
# and without the network, from a copy of the project (so the tree stays clean and the override does not
# touch the VERSION file).
set -euo pipefail

# shellcheck source=hack/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

RERUN="make dist"
EXT_DIR="$REPO_ROOT/saltext-nodeallow"
out="${1:-$REPO_ROOT/dist}"
version="${VERSION:-$(<"$REPO_ROOT/VERSION")}"
# A PEP 440 release or pre-release that is also a SemVer core (the chart's appVersion and the binary share it).
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+((a|b|rc)[0-9]+)?$ ]] ||
	die "check inputs" "$RERUN VERSION=1.2.3" "VERSION '$version' is not of the form X.Y.Z (or X.Y.ZrcN)"

"$REPO_ROOT/hack/python-env.sh" >&2
python="$REPO_ROOT/bin/venv/bin/python"

work="$(mktemp -d "${TMPDIR:-/tmp}/nodeallow-dist.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir "$work/project" "$work/sdist" "$work/wheel"
# -h: VERSION in the project is a link to the repository's; the copy gets the file.
(cd "$EXT_DIR" && tar -ch --exclude=__pycache__ --exclude='*.egg-info' -f - pyproject.toml README.md MANIFEST.in src) |
	tar -C "$work/project" -xf -
printf '%s\n' "$version" >"$work/project/VERSION"
cp "$REPO_ROOT/LICENSE" "$work/project/LICENSE"

build_log="$work/build.log"
# build_in DIR HOOK OUT : run setuptools' PEP 517 hook HOOK (build_sdist, build_wheel) in DIR into OUT.
build_in() {
	(cd "$1" && PYTHONDONTWRITEBYTECODE=1 "$python" -c \
		'import sys; from setuptools import build_meta; print(getattr(build_meta, sys.argv[1])(sys.argv[2]))' \
		"$2" "$3") >>"$build_log" 2>&1 || {
		tail -n 20 "$build_log" >&2
		die "$2" "$RERUN" "setuptools' $2 failed in $1 (log above)"
	}
}
build_in "$work/project" build_sdist "$work/sdist"
sdist=("$work"/sdist/*.tar.gz)
# The wheel is built from the unpacked sdist, as pip does with an sdist: so the sdist is proven complete.
tar -C "$work" -xzf "${sdist[0]}"
unpacked="$work/$(basename "${sdist[0]}" .tar.gz)"
build_in "$unpacked" build_wheel "$work/wheel"
wheel=("$work"/wheel/*.whl)

mkdir -p "$out"
cp "${sdist[0]}" "${wheel[0]}" "$out/"
log "built $(basename "${wheel[0]}") and $(basename "${sdist[0]}") into $out"
printf '%s\n' "$out/$(basename "${wheel[0]}")"
