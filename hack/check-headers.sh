#!/usr/bin/env bash
# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
#
# Fail when a tracked Go, Python or shell file lacks the project's license header
# (two lines, within a file's first four: after a shebang or a //go:build line).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=lib/common.sh
source hack/lib/common.sh

missing=()
while IFS= read -r -d '' file; do
	head -n 5 -- "$file" | grep -q 'SPDX-License-Identifier: Apache-2.0' || missing+=("$file")
done < <(git ls-files -z -- '*.go' '*.py' '*.sh' '.ci/run')

if ((${#missing[@]})); then
	printf '  %s\n' "${missing[@]}" >&2
	die "license headers" "bash hack/check-headers.sh" "${#missing[@]} file(s) above lack the license header: copy the two lines from hack/boilerplate.go.txt (Go) or from any .py/.sh file"
fi
