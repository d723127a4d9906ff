#!/usr/bin/env bash
# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
# podman with the project's image storage (hack/lib/common.sh: podman_local), for the tests and by hand:
#   bash hack/podman.sh images
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
need_cmd podman "bash hack/podman.sh $*" podman "sudo bash hack/install-system-packages.sh installs it"
podman_local "$@"
