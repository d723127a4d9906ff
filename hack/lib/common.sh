#!/usr/bin/env bash
# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
# Shared settings for the hack/ scripts: pinned versions, the cache outside the
# repository, and the one way every script reports a failed step.

# Pinned versions. Changing one changes the cache key, so the next run rebuilds.
KUBERNETES_VERSION="v1.37.2"
ETCD_VERSION="v3.7.0"
HELM_VERSION="v3.22.0"
# Salt is pinned in saltext-nodeallow/requirements/tests.txt (hack/python-env.sh
# checks the two agree); 3008.5 needs a certifi newer than CI's package index has.
SALT_VERSION="3008.4"
# The second Salt line the tests run (requirements/tests-3006.txt): 3006 LTS; 3006.30 needs that certifi too.
SALT_VERSION_3006="3006.29"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# Expensive build outputs live outside the repository so that every clone (CI
# clones afresh into another folder) finds them.
NODEALLOW_CACHE="${NODEALLOW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nodeallow}"

# select_salt_line LINE RERUN : set what hack/ needs for Salt line LINE, 3008 (the primary: every suite) or
# 3006 (the master, integration and mixed-version end-to-end tests): SALT_PIN, SALT_REQUIREMENTS and
# SALT_SUFFIX, the suffix of its links in bin/ (bin/venv$SALT_SUFFIX, bin/saltext-site$SALT_SUFFIX).
select_salt_line() {
	case "$1" in
	3008) SALT_PIN="$SALT_VERSION" SALT_REQUIREMENTS="tests.txt" SALT_SUFFIX="" ;;
	3006) SALT_PIN="$SALT_VERSION_3006" SALT_REQUIREMENTS="tests-3006.txt" SALT_SUFFIX="-3006" ;;
	*) die "check inputs" "$2" "unknown Salt line '$1' (NODEALLOW_SALT): use 3008 or 3006" ;;
	esac
	SALT_LINE="$1"
	SALT_REQUIREMENTS="$REPO_ROOT/saltext-nodeallow/requirements/$SALT_REQUIREMENTS"
}

log() { printf 'nodeallow: %s\n' "$*" >&2; }

# die STEP RERUN MESSAGE... : say which step failed and how to rerun it, then exit.
die() {
	local step="$1" rerun="$2"
	shift 2
	printf '\nnodeallow: step "%s" failed: %s\n' "$step" "$*" >&2
	printf 'nodeallow: fix the cause above, then rerun: %s\n' "$rerun" >&2
	exit 1
}

# need_cmd STEP RERUN CMD HINT : fail with a clear message when CMD is not on PATH.
need_cmd() {
	command -v "$3" >/dev/null 2>&1 || die "$1" "$2" "'$3' is not installed ($4)"
}

# link_cached LINK TARGET : point LINK (usually in bin/) at TARGET in the cache. The new link is
# renamed over the old one, so a concurrent reader never sees no link; unchanged links are left alone.
link_cached() {
	local link="$1" target="$2"
	[[ "$(readlink -- "$link" 2>/dev/null)" == "$target" ]] && return 0
	mkdir -p "$(dirname -- "$link")"
	ln -sfn "$target" "$link.tmp.$$"
	mv -T "$link.tmp.$$" "$link"
}

# let_salt_user_in PATH... : when root and the user salt exists (hack/install-system-packages.sh), let it
# enter every folder on the way to each PATH it cannot enter yet (an ACL entry u:salt:x, no listing): the
# end-to-end tests run salt-master as salt, as Salt's packages do, and it loads Salt and the extension
# from these paths (Salt's packages install Salt where its user reads it; the cache may be below /root).
let_salt_user_in() {
	[[ "$(id -u)" == 0 ]] && getent passwd salt >/dev/null 2>&1 || return 0
	local path dir part parts
	for path in "$@"; do
		dir=""
		IFS=/ read -ra parts <<<"$(realpath -- "$path")"
		# From / down: a folder is enterable only when every one above it is.
		for part in "${parts[@]}"; do
			[[ -n "$part" ]] || continue
			dir="$dir/$part"
			setpriv --reuid=salt --regid=salt --init-groups test -x "$dir" 2>/dev/null && continue
			need_cmd "let the salt user in" "sudo bash hack/install-system-packages.sh" setfacl "Debian package acl"
			setfacl -m u:salt:x "$dir" || die "let the salt user in" "$RERUN" "setfacl -m u:salt:x $dir failed"
			log "let the user salt enter $dir (setfacl u:salt:x)"
		done
	done
}

# go_install_cached STEP RERUN TARGET PACKAGE@VERSION [GO FLAGS...] : go install PACKAGE@VERSION and
# rename the binary to TARGET, unless TARGET exists. Built in a scratch GOBIN and renamed into place,
# so an interrupted build never leaves a binary that looks finished.
go_install_cached() {
	local step="$1" rerun="$2" target="$3" spec="$4"
	shift 4
	[[ -x "$target" ]] && return 0
	need_cmd "$step" "$rerun" go "install Go 1.26 from go.dev and put it on PATH"
	local dir gobin log_file started=$SECONDS
	dir="$(dirname -- "$target")"
	mkdir -p "$dir"
	gobin="$(mktemp -d "$dir/.gobin.XXXXXX")"
	log_file="$target.build.log"
	log "building $spec into $dir"
	if ! GOBIN="$gobin" go install "$@" "$spec" >"$log_file" 2>&1; then
		tail -n 30 "$log_file" >&2
		rm -rf "$gobin"
		die "$step" "$rerun" "go install $spec failed (full log: $log_file)"
	fi
	local pkg="${spec%@*}"
	mv "$gobin/$(basename -- "$pkg")" "$target"
	rm -rf "$gobin"
	log "built $(basename -- "$target") in $((SECONDS - started))s"
}

# project_version: the version of the three parts (controller, chart, saltext), from the top-level VERSION file.
project_version() {
	tr -d ' \n' <"$REPO_ROOT/VERSION"
}

# Podman's images and layer cache live in the cache outside the repository, keyed by podman's version,
# so the controller image (hack/image.sh) is built once per change and found by every clone.
# runc and cgroupfs: crun refuses this machine's hybrid cgroup layout, and no systemd manages the cgroups.
PODMAN_DIR="$NODEALLOW_CACHE/podman-$(podman --version 2>/dev/null | awk '{print $3}')"

# podman_local ARGS... : podman on that storage, daemonless, with runc.
podman_local() {
	mkdir -p "$PODMAN_DIR"
	podman --root "$PODMAN_DIR/storage" --runroot "$PODMAN_DIR/run" --storage-driver overlay \
		--runtime runc --cgroup-manager cgroupfs --events-backend file "$@"
}
