// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

// Package controllers holds the NodeAllowlist reconciler: it watches Nodes, decides which addresses each
// allowlist publishes and when, and records the outcome in the allowlist's status.
package controllers
