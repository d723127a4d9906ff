# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""Firewall backends of the nodeallow state, as plain importable modules (not loaded by Salt's loader).

``engine`` turns the minion's pillar into the firewall it should have and applies it with one
of the backends (``nftables``, ``ipset``, ``iptables``); docs/firewall.md describes the layout.
"""
