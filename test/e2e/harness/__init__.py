# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The one way to start the whole nodeallow system on one machine, for the end-to-end tests and `make demo`.

``harness.system.System`` starts real local Kubernetes control planes (test/localcluster), the controller
binary built from ./cmd for each, a real salt-master with salt-api and minions whose firewalls live in their
own network namespaces, and stops and removes all of it again, also on failure and on Ctrl-C.
"""
