# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Tests against real Salt daemons and real firewall tools in network namespaces."""
