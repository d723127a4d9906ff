# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""State modules of the nodeallow extension (Salt loads this directory as ``states``)."""
