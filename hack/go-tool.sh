#!/usr/bin/env bash
# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
#
# go-tool.sh LINK PACKAGE VERSION : build a Go tool at a pinned version into the cache outside the
# repository ($NODEALLOW_CACHE/tools/<name>-<version>, once per version) and link LINK to it. The
# Makefile's tool targets (controller-gen, golangci-lint) call this.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

[[ $# -eq 3 ]] || die "go tool" "bash hack/go-tool.sh LINK PACKAGE VERSION" "want 3 arguments, got $#"
link="$1" pkg="$2" version="$3"
name="$(basename -- "$link")"
target="$NODEALLOW_CACHE/tools/$name-$version"
go_install_cached "$name" "make $name" "$target" "$pkg@$version"
link_cached "$link" "$target"
