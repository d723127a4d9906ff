# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""desired.check_limits: the minion's own width and special-source check of one allowlist."""

import pytest

from saltext.nodeallow.firewall import desired

WHERE = "nodeallow:allowlists:prod/workers"


def test_host_routes_pass_with_defaults():
    """Node addresses (host routes) and a /24 pass the default limits."""
    assert desired.check_limits(("10.0.0.1/32", "192.168.7.0/24", "2001:db8::1/128"), WHERE) == []


@pytest.mark.parametrize(
    "addresses,needle",
    [
        (("0.0.0.0/1", "128.0.0.0/1"), "too-wide"),
        (("::/1", "8000::/1"), "too-wide"),
        (("10.0.0.0/8",), "min_prefix:ipv4"),
        (tuple(f"10.{i}.0.0/16" for i in range(5)), "max_span:ipv4"),
        (("127.0.0.1/32",), "special-address"),
        (("fe80::1/128",), "link-local"),
    ],
)
def test_wide_or_special_allowlists_are_held(addresses, needle):
    """A list the master should have refused is held on the minion too, with one sentence naming it."""
    got = desired.check_limits(addresses, WHERE)
    assert len(got) == 1 and got[0].startswith(WHERE + ": ") and needle in got[0]


def test_pillar_limits_widen_and_narrow():
    """nodeallow:limits uses the master's keys; a wider minimum allows a /8, refuse_special [] allows loopback."""
    wide = {"min_prefix": {"ipv4": 8}, "max_span": {"ipv4": "/7"}, "refuse_special": []}
    assert desired.check_limits(("10.0.0.0/8", "127.0.0.1/32"), WHERE, wide) == []
    strict = {"min_prefix": {"ipv4": 32}}
    assert "too-wide" in desired.check_limits(("10.0.0.0/31",), WHERE, strict)[0]


@pytest.mark.parametrize(
    "limits,needle",
    [
        ("strict", "must be a mapping"),
        ({"min_prefixes": {}}, "unknown keys"),
        ({"min_prefix": {"ipv4": 0}}, "limits are invalid"),
        ({"refuse_special": ["everything"]}, "limits are invalid"),
    ],
)
def test_invalid_limits_hold_with_a_reason(limits, needle):
    """A broken nodeallow:limits holds the allowlist (never applies it unchecked) and says why."""
    got = desired.check_limits(("10.0.0.1/32",), WHERE, limits)
    assert len(got) == 1 and needle in got[0]
