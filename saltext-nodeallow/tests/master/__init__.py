# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Tests of the master side: reactor, runner nodeallow.ingest/status, store and ext_pillar, with real daemons."""
