# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
