# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Helpers shared by the tests: Salt event bus, salt-api hooks, network namespaces."""
