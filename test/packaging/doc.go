// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

// Package packaging tests how nodeallow is shipped: the Helm chart (lint,
// render, every object created in a real API server, and the RBAC it grants
// proven sufficient and necessary by running the controller binary under it),
// the kustomize config, the Dockerfile and the PROJECT file.
package packaging
