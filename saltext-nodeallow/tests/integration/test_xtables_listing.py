# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""On an iptables-nft host the terse nft listing finds our xtables chain and jumps exactly as iptables-save does.

The nftables backend looks for the other backends' leftovers there (no iptables-save), and the ipset and
iptables backends skip iptables-save for a family whose chain it does not show (xtables.in_nft_listing).
Real iptables and nft in a namespace, in the states a minion meets: nothing, a chain, jumps plain and not.
"""

import pytest

from saltext.nodeallow.firewall import command, hostfirewall, xtables

pytestmark = pytest.mark.skipif(
    not xtables.in_nft_listing(), reason="iptables here is not the nf_tables variant (iptables -V: legacy)"
)

STATES = {
    "nothing": {4: [], 6: []},
    "a chain in one family": {4: [":NODEALLOW - [0:0]"], 6: []},
    "chains and jumps": {
        4: [":NODEALLOW - [0:0]", "-I INPUT 1 -j NODEALLOW", "-A INPUT -j NODEALLOW"],
        6: [":NODEALLOW - [0:0]", "-A INPUT -j NODEALLOW"],
    },
    "jumps that are not plain": {
        4: [
            ":NODEALLOW - [0:0]",
            "-A INPUT -i eth0 -j NODEALLOW",
            '-A INPUT -m comment --comment "by hand" -j NODEALLOW',
            "-A INPUT -g NODEALLOW",
            "-A INPUT -s 192.0.2.1 -j ACCEPT",
        ],
        6: [":NODEALLOW - [0:0]", "-A NODEALLOW -p tcp --dport 5432 -j DROP", "-A INPUT -p tcp -j NODEALLOW"],
    },
}


@pytest.mark.parametrize("state", sorted(STATES))
def test_the_listing_finds_what_iptables_save_finds(netns, state):
    """objects_in(terse listing) == what iptables-save shows; read_both == reading each family with iptables-save."""
    for family, lines in STATES[state].items():
        if lines:
            tool = xtables.TOOLS[family][1]
            netns.run([tool, "--noflush"], input_text="\n".join(["*filter", *lines, "COMMIT"]) + "\n")
    executor = command.Executor(netns.name)

    saved = xtables.saved_objects(executor)
    assert xtables.objects_in(hostfirewall.read(executor)) == saved
    assert xtables.existing(executor) == saved
    assert xtables.read_both(executor) == {family: xtables.read(executor, family) for family in (4, 6)}
    if state == "nothing":
        assert saved == []
    else:
        assert "iptables chain NODEALLOW" in saved
