#!/usr/bin/env bash
# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
# Run the Python/Salt tests of saltext-nodeallow with the pinned environment.
#
# Usage: hack/test-python.sh [pytest args]
#   hack/test-python.sh                          # all tests
#   hack/test-python.sh -k smoke -x              # a selection
#   hack/test-python.sh saltext-nodeallow/tests/integration/test_netns.py
# Test paths are taken relative to the current directory, like plain pytest;
# without any, the whole saltext-nodeallow/tests folder runs.
# NODEALLOW_SALT=3006 runs them with the Salt 3006 environment (bin/venv-3006), e.g.
#   NODEALLOW_SALT=3006 hack/test-python.sh saltext-nodeallow/tests/master
set -euo pipefail

# shellcheck source=hack/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

EXT_DIR="$REPO_ROOT/saltext-nodeallow"

select_salt_line "${NODEALLOW_SALT:-3008}" "hack/test-python.sh"
"$REPO_ROOT/hack/python-env.sh" "$SALT_LINE"

# Only our installed extension goes on the path, not the caller's PYTHONPATH:
# the daemons the tests start inherit it and must see the same code as pytest.
export PYTHONPATH="$REPO_ROOT/bin/saltext-site$SALT_SUFFIX"
# Keep __pycache__ folders out of the source tree.
export PYTHONDONTWRITEBYTECODE=1

has_path=false
for arg in "$@"; do
	if [[ "$arg" != -* && -e "${arg%%::*}" ]]; then
		has_path=true
		break
	fi
done
paths=()
if [[ "$has_path" == false ]]; then
	paths=("$EXT_DIR/tests")
fi

exec "$REPO_ROOT/bin/venv$SALT_SUFFIX/bin/python" -m pytest \
	-c "$EXT_DIR/pyproject.toml" --rootdir "$EXT_DIR" "${paths[@]}" "$@"
