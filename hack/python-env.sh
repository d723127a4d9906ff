#!/usr/bin/env bash
# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
# Build the pinned Python virtualenv for the Salt tests (once per requirements
# file and Python version, shared by all clones) and install the nodeallow Salt
# extension next to it, in this clone only.
#
# Usage: hack/python-env.sh [LINE]    LINE: the Salt line, 3008 (default) or 3006
#
# Result (SUFFIX is empty for 3008, -3006 for 3006):
#   bin/venv$SUFFIX          -> $NODEALLOW_CACHE/venv/<key>   (salt, pytest, ...; never modified after build)
#   bin/saltext-site$SUFFIX  -> bin/.saltext-site-<line>-<hash>  (saltext.nodeallow with its entry point)
# Tests and daemons get the extension through PYTHONPATH=bin/saltext-site, so
# two clones with different extension code never fight over the shared venv.
# (The end-to-end tests install the release wheel instead: test/e2e/harness/saltenv.py.)
#
# Environment:
#   NODEALLOW_SALT    the Salt line when no LINE is given (default: 3008)
#   NODEALLOW_PYTHON  interpreter to build the venv from (default: python3.11)
#   NODEALLOW_CACHE   cache root outside the repository (see hack/lib/common.sh)
set -euo pipefail

# shellcheck source=hack/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

RERUN="hack/python-env.sh ${1:-${NODEALLOW_SALT:-3008}}"
EXT_DIR="$REPO_ROOT/saltext-nodeallow"
select_salt_line "${1:-${NODEALLOW_SALT:-3008}}" "$RERUN"
REQUIREMENTS="$SALT_REQUIREMENTS"
PYTHON="${NODEALLOW_PYTHON:-python3.11}"
# Bump when the way the venv is built changes, so old caches are not reused.
VENV_FORMAT=1
PIP_FLAGS=(--no-input --disable-pip-version-check --progress-bar off)

# logged_step STEP LOG CMD... : run CMD with its output appended to LOG; on
# failure show pip's own error lines (not a Python traceback), then name the
# step, the log and how to rerun.
logged_step() {
	local step="$1" logfile="$2"
	shift 2
	if "$@" >>"$logfile" 2>&1; then
		return 0
	fi
	local errors
	errors="$(grep -E '^(ERROR|error:)|^ +(×|╰─>)' "$logfile" | tail -n 20 || true)"
	if [[ -z "$errors" ]]; then
		errors="$(tail -n 15 "$logfile")"
	fi
	printf '%s\n' "$errors" >&2
	die "$step" "$RERUN" "see the full log in $logfile"
}

need_cmd "check tools" "$RERUN" "$PYTHON" "install CPython 3.11 or set NODEALLOW_PYTHON to one"
need_cmd "check tools" "$RERUN" flock "util-linux; apt-get install util-linux"
need_cmd "check tools" "$RERUN" sha256sum "coreutils"
[[ -f "$REQUIREMENTS" ]] || die "check inputs" "$RERUN" "$REQUIREMENTS is missing"
grep -qx "salt==$SALT_PIN" "$REQUIREMENTS" ||
	die "check inputs" "$RERUN" "$REQUIREMENTS does not pin salt==$SALT_PIN (hack/lib/common.sh); make them agree"

py_version="$("$PYTHON" -c 'import platform; print(platform.python_implementation() + "-" + platform.python_version())')" ||
	die "check python" "$RERUN" "'$PYTHON' does not run"
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null ||
	die "check python" "$RERUN" "'$PYTHON' lacks the venv/ensurepip modules (Debian: apt-get install python3-venv)"
case "$py_version" in
CPython-3.11.*) ;;
*) log "warning: $(basename "$REQUIREMENTS") is frozen for CPython 3.11; '$PYTHON' is $py_version" ;;
esac

# The key must not contain "cpython": Salt's loader skips every module whose
# path contains "cpython" but not the running version's cache tag ("311"),
# taking it for a stray .pyc of another Python (salt/loader/lazy.py,
# _load_module), and then the master dies with KeyError 'localfs_key.contains'.
impl="${py_version%%-*}"
[[ "$impl" == CPython ]] && impl=python
case "$NODEALLOW_CACHE" in
*cpython*) die "check inputs" "NODEALLOW_CACHE=<a path without 'cpython'> $RERUN" \
	"NODEALLOW_CACHE ($NODEALLOW_CACHE) contains 'cpython'; Salt's loader would skip every module below it" ;;
esac
key="${impl,,}${py_version#*-}-$(printf 'format=%s\n' "$VENV_FORMAT" | cat - "$REQUIREMENTS" | sha256sum | cut -c1-16)"
venv_root="$NODEALLOW_CACHE/venv"
venv="$venv_root/$key"
marker="$venv/.nodeallow-complete"
mkdir -p "$venv_root" "$REPO_ROOT/bin"

# Step 1: the shared virtualenv. The lock serialises clones building the same
# key; the marker is written last, so an interrupted build is started over.
if [[ ! -f "$marker" ]]; then
	exec 9>"$venv.lock"
	if ! flock -n 9; then
		log "another run is building $venv; waiting for it"
		flock 9
	fi
	if [[ ! -f "$marker" ]]; then
		started=$SECONDS
		venv_log="$venv.log"
		: >"$venv_log"
		log "building the Python test environment in $venv (a few minutes the first time)"
		rm -rf "$venv"
		logged_step "create virtualenv" "$venv_log" "$PYTHON" -m venv "$venv"
		# --no-deps: tests.txt is a complete freeze; a missing pin must fail
		# `pip check` below rather than let pip fetch an unpinned newest release.
		logged_step "install requirements/$(basename "$REQUIREMENTS")" "$venv_log" \
			"$venv/bin/python" -m pip install "${PIP_FLAGS[@]}" --no-deps --requirement "$REQUIREMENTS"
		logged_step "check installed requirements (pip check)" "$venv_log" \
			"$venv/bin/python" -m pip check
		cp "$REQUIREMENTS" "$venv/requirements-tests.txt"
		touch "$marker"
		log "built $venv in $((SECONDS - started))s"
	fi
	flock -u 9
	exec 9>&-
fi

link_cached "$REPO_ROOT/bin/venv$SALT_SUFFIX" "$venv"

# Step 2: the extension, installed per clone into a directory named after its
# content, then switched to by renaming a symlink. Unchanged sources: no work.
mapfile -d '' ext_files < <(cd "$EXT_DIR" && find pyproject.toml README.md MANIFEST.in VERSION src \( -type f -o -type l \) \
	! -path '*/__pycache__/*' ! -path '*.egg-info/*' -print0 | LC_ALL=C sort -z)
ext_hash="$(cd "$EXT_DIR" && { printf '%s\n' "$key"; sha256sum "${ext_files[@]}"; } | sha256sum | cut -c1-16)"
site_dir="$REPO_ROOT/bin/.saltext-site-$SALT_LINE-$ext_hash"
if [[ ! -f "$site_dir/.nodeallow-complete" ]]; then
	work="$(mktemp -d "$REPO_ROOT/bin/.saltext-build.XXXXXX")"
	trap 'rm -rf "$work"' EXIT
	# The log lives outside $work, which the EXIT trap removes, so that it
	# survives a failure for reading.
	ext_log="$REPO_ROOT/bin/.saltext-install.log"
	: >"$ext_log"
	# Build from a copy: setuptools writes build/ and *.egg-info next to the
	# sources, which would dirty the tree and race between concurrent runs.
	mkdir "$work/project"
	# -h: VERSION is a link to the repository's VERSION file; the copy gets the file.
	(cd "$EXT_DIR" && tar -chf - "${ext_files[@]}") | tar -C "$work/project" -xf -
	logged_step "install saltext-nodeallow" "$ext_log" \
		"$venv/bin/python" -m pip install "${PIP_FLAGS[@]}" --no-deps --no-build-isolation --no-index \
		--target "$work/site" "$work/project"
	touch "$work/site/.nodeallow-complete"
	rm -rf "$site_dir"
	mv -T "$work/site" "$site_dir"
	log "installed saltext.nodeallow into $site_dir"
fi
link_cached "$REPO_ROOT/bin/saltext-site$SALT_SUFFIX" "$(basename "$site_dir")"
# The end-to-end tests' salt-master runs as the user salt and imports from both.
let_salt_user_in "$venv" "$site_dir"
# Older builds of the extension in this clone are no longer referenced, but a
# test run started a moment ago in another shell may still import from one:
# remove only those untouched for an hour.
touch "$site_dir"
find "$REPO_ROOT/bin" -maxdepth 1 -name ".saltext-site-$SALT_LINE-*" ! -name "$(basename "$site_dir")" \
	-mmin +60 -exec rm -rf {} +
