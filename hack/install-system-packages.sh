#!/usr/bin/env bash
# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian packages the tests and the demo need (firewall tools and
# iproute2 for network namespaces, podman and runc for the image) when any is missing. Does nothing otherwise.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

RERUN="bash hack/install-system-packages.sh"
# command -> Debian package
declare -A wanted=(
	[nft]=nftables
	[iptables]=iptables
	[ipset]=ipset
	[ip]=iproute2
	[python3]=python3
	[git]=git
	[make]=make
	# The controller image (hack/image.sh): daemonless builds and runs, with runc (crun refuses hybrid cgroups).
	[podman]=podman
	[runc]=runc
)
missing=()
for cmd in "${!wanted[@]}"; do
	PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 || missing+=("${wanted[$cmd]}")
done
# python3 -m venv needs ensurepip, which Debian ships separately.
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
	missing+=(python3-venv)
fi
if ((${#missing[@]} == 0)); then
	exit 0
fi
if [[ "$(id -u)" != 0 ]]; then
	die "system packages" "sudo $RERUN" "missing Debian packages: ${missing[*]} (installing them needs root)"
fi
need_cmd "system packages" "$RERUN" apt-get "this script knows Debian's apt-get only; install ${missing[*]} by hand"
log "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/tmp/nodeallow-apt.log 2>&1 ||
	{ tail -n 20 /tmp/nodeallow-apt.log >&2; die "apt-get update" "$RERUN" "see /tmp/nodeallow-apt.log"; }
apt-get install -y -qq --no-install-recommends "${missing[@]}" >>/tmp/nodeallow-apt.log 2>&1 ||
	{ tail -n 20 /tmp/nodeallow-apt.log >&2; die "apt-get install ${missing[*]}" "$RERUN" "see /tmp/nodeallow-apt.log"; }
