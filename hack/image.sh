#!/usr/bin/env bash
# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
# Builds the controller image from the repository's Dockerfile, unchanged, with Debian's podman (daemonless,
# no registry): the two base images the Dockerfile names through build arguments are made here from this
# machine's files, and the build reads this machine's Go module and build caches instead of downloading.
#
#   bash hack/image.sh [VERSION]     builds localhost/nodeallow:VERSION (default: the VERSION file) and
#                                    prints that reference on stdout
#
# Cached between runs in $NODEALLOW_CACHE/podman-<podman version> (hack/lib/common.sh): the base images
# are tagged by a key of what went into them and made once; podman's layer cache makes an unchanged
# rebuild take seconds, and a changed source rebuilds only its own packages (the Go build cache is mounted).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

RERUN="bash hack/image.sh"
STEP="controller image"
need_cmd "$STEP" "$RERUN" podman "sudo bash hack/install-system-packages.sh installs Debian's podman and runc"
need_cmd "$STEP" "$RERUN" go "install Go 1.26 from go.dev and put it on PATH"

VERSION="${1:-$(project_version)}"
IMAGE="localhost/nodeallow:$VERSION"
GOROOT_DIR="$(go env GOROOT)"
GOMODCACHE_DIR="$(go env GOMODCACHE)"
GOCACHE_DIR="$(go env GOCACHE)"
GO_VERSION="$(go env GOVERSION)"
mkdir -p "$GOCACHE_DIR"

# base_key NAME INPUTS... : a short key of everything that goes into a base image, this script included.
base_key() {
	{ printf '%s\n' "$@"; cat "${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-12
}

# import_rootfs TAG DIR CHANGES... : make image TAG from the files in DIR (owned as staged, numeric ids);
# each CHANGE is one Dockerfile instruction (one variable per ENV).
import_rootfs() {
	local tag="$1" dir="$2"
	shift 2
	local changes=()
	for change in "$@"; do changes+=(--change "$change"); done
	tar -C "$dir" --numeric-owner --sort=name --mtime=@0 -cf "$dir.tar" . ||
		die "$STEP" "$RERUN" "could not pack the root filesystem of $tag from $dir"
	podman_local import --quiet "${changes[@]}" "$dir.tar" "$tag" >/dev/null ||
		die "$STEP" "$RERUN" "podman import of $tag failed"
}

# The runtime base: what gcr.io/distroless/static:nonroot holds, from Debian's files: user and group 65532
# (nonroot), CA certificates and tzdata, no shell and nothing else.
runtime_base() {
	local ca=/etc/ssl/certs/ca-certificates.crt zoneinfo=/usr/share/zoneinfo
	[[ -s "$ca" && -d "$zoneinfo" ]] ||
		die "$STEP" "sudo apt-get install ca-certificates tzdata && $RERUN" "$ca or $zoneinfo is missing"
	local key tag
	key="$(base_key "$(dpkg-query -W -f '${Version}' ca-certificates tzdata 2>/dev/null || true)" \
		"$(sha256sum "$ca")" "$(find "$zoneinfo" -type f | wc -l)")"
	tag="localhost/nodeallow-static:$key"
	if ! podman_local image exists "$tag"; then
		log "making the runtime base $tag (CA certificates, tzdata, user 65532)"
		local root
		root="$(mktemp -d "$PODMAN_DIR/rootfs.XXXXXX")"
		mkdir -p "$root/etc/ssl/certs" "$root/usr/share" "$root/home/nonroot" "$root/tmp"
		cp "$ca" "$root/etc/ssl/certs/ca-certificates.crt"
		cp -a "$zoneinfo" "$root/usr/share/zoneinfo"
		printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
			'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$root/etc/passwd"
		printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"$root/etc/group"
		chmod 1777 "$root/tmp"
		chmod 700 "$root/home/nonroot"
		chown -R 0:0 "$root"
		chown 65532:65532 "$root/home/nonroot"
		import_rootfs "$tag" "$root" 'USER 65532:65532' 'WORKDIR /home/nonroot' \
			'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
			'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'
		rm -rf "$root" "$root.tar"
	fi
	echo "$tag"
}

# The builder base: this machine's Go toolchain at its own path, and a /bin/sh for the Dockerfile's RUN
# lines. Its environment points Go at the caches the build mounts and forbids downloads (GOPROXY=off).
builder_base() {
	local key tag
	key="$(base_key "$GO_VERSION" "$GOROOT_DIR" "$GOMODCACHE_DIR" "$GOCACHE_DIR" "$(sha256sum /bin/dash)")"
	tag="localhost/nodeallow-build:$key"
	if ! podman_local image exists "$tag"; then
		log "making the builder base $tag ($GO_VERSION from $GOROOT_DIR)"
		local root lib
		root="$(mktemp -d "$PODMAN_DIR/rootfs.XXXXXX")"
		mkdir -p "$root/bin" "$root/tmp" "$root/root" "$root/etc" "$root$(dirname "$GOROOT_DIR")"
		cp -a "$GOROOT_DIR" "$root$GOROOT_DIR"
		cp /bin/dash "$root/bin/sh"
		# dash's shared libraries, at the paths its loader looks for them.
		for lib in $(ldd /bin/dash | grep -o '/[^ ]*'); do
			mkdir -p "$root$(dirname "$lib")"
			cp -L "$lib" "$root$lib"
		done
		echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
		chmod 1777 "$root/tmp"
		chown -R 0:0 "$root"
		import_rootfs "$tag" "$root" \
			"ENV PATH=$GOROOT_DIR/bin:/bin" 'ENV HOME=/root' 'ENV GOTOOLCHAIN=local' 'ENV GOPROXY=off' \
			'ENV GOFLAGS=-mod=mod' "ENV GOMODCACHE=$GOMODCACHE_DIR" "ENV GOCACHE=$GOCACHE_DIR"
		rm -rf "$root" "$root.tar"
	fi
	echo "$tag"
}

started=$SECONDS
# The Dockerfile's `go mod download` wants every module of go.mod, not only those `go build` reads: fetch the
# missing ones into this machine's module cache once (a no-op when it is complete), so the build finds them.
(cd "$REPO_ROOT" && GOFLAGS=-mod=mod go mod download) ||
	die "$STEP" "$RERUN" "go mod download failed: the Dockerfile's build needs every module of go.mod in $GOMODCACHE_DIR"
builder="$(builder_base)"
runtime="$(runtime_base)"
# Base images of earlier keys (another Go, new CA certificates) are not used again.
for old in $(podman_local images --format '{{.Repository}}:{{.Tag}}' | grep -E '^localhost/nodeallow-(build|static):'); do
	[[ "$old" == "$builder" || "$old" == "$runtime" ]] || podman_local rmi "$old" >/dev/null 2>&1 || true
done
log "building $IMAGE from the Dockerfile (builder $builder, runtime $runtime)"
# The module cache is read-only inside: the build may read modules, never fetch or change them.
podman_local build --pull=never --layers \
	--build-arg "TARGETOS=$(go env GOOS)" --build-arg "TARGETARCH=$(go env GOARCH)" \
	--build-arg "BASE_IMAGE=$builder" --build-arg "RUNTIME_IMAGE=$runtime" --build-arg "VERSION=$VERSION" \
	--volume "$GOMODCACHE_DIR:$GOMODCACHE_DIR:ro" --volume "$GOCACHE_DIR:$GOCACHE_DIR" \
	--tag "$IMAGE" --file "$REPO_ROOT/Dockerfile" "$REPO_ROOT" >"$PODMAN_DIR/build.log" 2>&1 ||
	{ tail -n 30 "$PODMAN_DIR/build.log" >&2; die "$STEP" "$RERUN" "podman build failed (full log: $PODMAN_DIR/build.log)"; }
log "built $IMAGE in $((SECONDS - started))s ($(podman_local image inspect --format '{{.Size}}' "$IMAGE") bytes)"
echo "$IMAGE"
