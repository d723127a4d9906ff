#!/usr/bin/env bash
# `make demo`: build what is missing, then start a local control plane, the nodeallow controller, a Salt
# master with salt-api and two minions (firewalls in network namespaces), and walk through Node changes
# reaching the minions' nftables sets. Keeps running until Ctrl-C, which stops and removes everything.
#
# Environment:
#   DEMO_ONCE=1       run the walkthrough, clean up and exit 0 (CI)
#   NODEALLOW_CACHE   where the control plane and the virtualenv are cached (hack/lib/common.sh)
set -euo pipefail

# shellcheck source=hack/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

RERUN="make demo"

if [[ "$(id -u)" != 0 ]]; then
	printf 'nodeallow demo: this needs root, and you are %s.\n' "$(id -un)" >&2
	printf 'It puts each Salt minion'"'"'s firewall in its own network namespace (ip netns add) and loads real\n' >&2
	printf 'nftables rules there; the state has no backend that writes the ruleset to a file instead.\n' >&2
	printf 'Run it as root: sudo make demo\n' >&2
	exit 1
fi

need_cmd "check tools" "$RERUN" go "install Go 1.26 from go.dev and put it on PATH"
log "checking what needs building (the first run builds the control plane and the Salt virtualenv: ~10 min)"
bash "$REPO_ROOT/hack/install-system-packages.sh"
bash "$REPO_ROOT/hack/build-control-plane.sh"
bash "$REPO_ROOT/hack/python-env.sh"

cd "$REPO_ROOT"
# Only the installed extension on the path, as for the tests (hack/test-python.sh); the Salt daemons the
# demo starts inherit it.
export PYTHONPATH="$REPO_ROOT/bin/saltext-site"
export PYTHONDONTWRITEBYTECODE=1
# exec: Ctrl-C goes straight to the demo, which stops everything it started in order.
exec "$REPO_ROOT/bin/venv/bin/python" "$REPO_ROOT/test/e2e/demo.py"
