#!/usr/bin/env bash
# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian packages the tests and the demo need (firewall tools and
# iproute2 for network namespaces, podman and runc for the image) when any is missing. Does nothing otherwise.
# firewalld and ufw are for the host-firewall tests only, which run them inside
# test namespaces: they are installed without starting or enabling anything on
# this host (a policy-rc.d that forbids starting services, the unit disabled).
# iproute2 for network namespaces) when any is missing, and creates the system
# user `salt` that Salt's packages run salt-master and salt-api as (the
# end-to-end tests run them so). Does nothing when all is there.
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
	# The host-firewall tests (tests/integration/test_host_firewalls.py), in namespaces only.
	[firewalld]=firewalld
	[ufw]=ufw
	[dbus-daemon]=dbus-daemon
	[setfacl]=acl
)
missing=()
for cmd in "${!wanted[@]}"; do
	PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 || missing+=("${wanted[$cmd]}")
done
# python3 -m venv needs ensurepip, which Debian ships separately.
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
	missing+=(python3-venv)
fi
# Salt's packages (3006+) create this system user and group and run the master as it.
need_salt_user=
getent passwd salt >/dev/null 2>&1 || need_salt_user=1
if ((${#missing[@]} == 0)) && [[ -z "$need_salt_user" ]]; then
	exit 0
fi
if [[ "$(id -u)" != 0 ]]; then
	die "system packages" "sudo $RERUN" \
		"missing Debian packages: ${missing[*]:-none}${need_salt_user:+, and the system user salt} (installing them needs root)"
fi
if [[ -n "$need_salt_user" ]]; then
	log "creating the system user salt (as Salt's packages do: no login, no home)"
	getent group salt >/dev/null 2>&1 || groupadd --system salt ||
		die "create group salt" "$RERUN" "groupadd --system salt failed"
	useradd --system --gid salt --no-create-home --home-dir /opt/saltstack/salt \
		--shell /usr/sbin/nologin --comment "Salt" salt ||
		die "create user salt" "$RERUN" "useradd --system salt failed"
fi
if ((${#missing[@]} == 0)); then
	exit 0
fi
need_cmd "system packages" "$RERUN" apt-get "this script knows Debian's apt-get only; install ${missing[*]} by hand"
log "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/tmp/nodeallow-apt.log 2>&1 ||
	{ tail -n 20 /tmp/nodeallow-apt.log >&2; die "apt-get update" "$RERUN" "see /tmp/nodeallow-apt.log"; }
# No package may start a service here (firewalld would filter this host): Debian's
# maintainer scripts ask policy-rc.d, and 101 means "not allowed". An existing one is kept.
POLICY_RC=/usr/sbin/policy-rc.d
if [[ ! -e "$POLICY_RC" ]]; then
	printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC"
	chmod +x "$POLICY_RC"
	trap 'rm -f "$POLICY_RC"' EXIT
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >>/tmp/nodeallow-apt.log 2>&1 ||
	{ tail -n 20 /tmp/nodeallow-apt.log >&2; die "apt-get install ${missing[*]}" "$RERUN" "see /tmp/nodeallow-apt.log"; }
if [[ " ${missing[*]} " == *" firewalld "* ]]; then
	# The package enables its unit for the next boot; the tests start their own firewalld.
	# (systemctl edits the links also when systemd is not running.)
	systemctl disable firewalld.service >/dev/null 2>&1 || true
fi
if [[ -d /run/systemd/system ]] && systemctl is-active --quiet firewalld; then
	die "firewalld" "systemctl disable --now firewalld" \
		"firewalld is running on this host; the tests run it only inside their namespaces"
fi
