# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The network namespace helper: firewall changes land in the namespace only, and it always goes away."""

import pytest

from tests.support import netns as netns_support

ONE_ELEMENT_SET = """\
table inet nodeallow_test {
    set smoke_v4 {
        type ipv4_addr
        flags interval
        elements = { 192.0.2.10/32 }
    }
}
"""


def host_ruleset():
    """The host's own nft ruleset as text (read only)."""
    return netns_support._run(["nft", "list", "ruleset"]).stdout  # pylint: disable=protected-access


def test_nft_set_applied_inside_namespace_only(netns):
    """A set loaded with nft -f in the namespace reads back from its JSON; the host is unchanged."""
    before = host_ruleset()

    netns.nft_apply(ONE_ELEMENT_SET)

    assert netns.nft_set_elements("inet", "nodeallow_test", "smoke_v4") == ["192.0.2.10"]
    assert host_ruleset() == before
    # The other readers work inside the namespace too (and see nothing of ours).
    assert "nodeallow" not in netns.ipset_save()
    assert "nodeallow" not in netns.iptables_save()
    assert "nodeallow" not in netns.ip6tables_save()


@pytest.mark.usefixtures("netns_available")
def test_namespace_removed_after_success():
    """Leaving the context manager normally deletes the namespace."""
    with netns_support.netns() as ns:
        assert ns.name in netns_support.list_namespaces()
    assert ns.name not in netns_support.list_namespaces()


@pytest.mark.usefixtures("netns_available")
def test_namespace_removed_when_body_raises():
    """An exception inside the context manager still deletes the namespace, and propagates."""
    with pytest.raises(RuntimeError, match="boom"):
        with netns_support.netns() as ns:
            ns.nft_apply(ONE_ELEMENT_SET)
            raise RuntimeError("boom")
    assert ns.name not in netns_support.list_namespaces()


def test_commands_must_be_argument_lists(netns):
    """A shell string is refused, so nothing is ever interpreted by a shell."""
    with pytest.raises(TypeError):
        netns.run("nft list ruleset")
