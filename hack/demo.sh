#!/usr/bin/env bash
# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
# `make demo`: build what is missing, then start a local control plane, the nodeallow controller, a Salt
# master with salt-api and two minions (firewalls in network namespaces), and walk through Node changes
# reaching the minions' nftables sets. Keeps running until Ctrl-C, which stops and removes everything.
# Not root: the same walkthrough with everything running as you and the minions writing their nftables
# rulesets to files (minion option nodeallow_ruleset_file) instead of the kernel.
#
# Environment:
#   DEMO_ONCE=1       run the walkthrough, clean up and exit 0 (CI)
#   NODEALLOW_CACHE   where the control plane and the virtualenv are cached (hack/lib/common.sh)
set -euo pipefail

# shellcheck source=hack/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

RERUN="make demo"

need_cmd "check tools" "$RERUN" go "install Go 1.26 from go.dev and put it on PATH"
log "checking what needs building (the first run builds the control plane and the Salt virtualenv: ~10 min)"
if [[ "$(id -u)" == 0 ]]; then
	bash "$REPO_ROOT/hack/install-system-packages.sh"
else
	log "not root ($(id -un)): minion firewalls will be written to files instead of the kernel (sudo make demo loads them into network namespaces)"
	# Without root the firewall tools are not used; a missing package only matters if a later step needs it.
	bash "$REPO_ROOT/hack/install-system-packages.sh" ||
		log "some Debian packages are missing and installing them needs root; continuing without them"
fi
bash "$REPO_ROOT/hack/build-control-plane.sh"
bash "$REPO_ROOT/hack/python-env.sh"

cd "$REPO_ROOT"
# Only the installed extension on the path, as for the tests (hack/test-python.sh); the Salt daemons the
# demo starts inherit it.
export PYTHONPATH="$REPO_ROOT/bin/saltext-site"
export PYTHONDONTWRITEBYTECODE=1
# exec: Ctrl-C goes straight to the demo, which stops everything it started in order.
exec "$REPO_ROOT/bin/venv/bin/python" "$REPO_ROOT/test/e2e/demo.py"
