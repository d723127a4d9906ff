// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package plan

import "math"

// statusCount converts a count for an int32 status field. The protocol caps an allowlist far below
// math.MaxInt32 addresses, so clamping is only a guard against a conversion that could wrap.
func statusCount(n int) int32 {
	switch {
	case n > math.MaxInt32:
		return math.MaxInt32
	case n < 0:
		return 0
	default:
		return int32(n)
	}
}
