# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""End to end on the Salt side: hook -> reactor -> ingest -> state nodeallow.managed on the subscribed minion.

The minion's firewall commands run in a network namespace (its ``nodeallow_netns``
option); assertions read the kernel's nft sets there.
"""

import ipaddress

import pytest

import saltext.nodeallow
from saltext.nodeallow.firewall import naming
from tests.support.master_side import applies, encode_body

APPLY_TIMEOUT = 180


def nft_set(ns, allowlist, family):
    """The networks in our nft sets (hosts and prefixes) of ``allowlist`` for ``family`` (4 or 6), as strings."""
    return {
        str(ipaddress.ip_network(element))
        for set_name in naming.nft_sets(allowlist, family)
        for element in ns.nft_set_elements("inet", naming.DEFAULT_NFT_TABLE, set_name)
    }


@pytest.fixture
def firewalled_minion(nodeallow_minions, netns, pillar_files):
    """A minion of the nodeallow master whose firewall lives in ``netns``; unsubscribed again afterwards."""
    minion = nodeallow_minions({"nodeallow_netns": netns.name})
    yield minion
    pillar_files.clear(minion.id)


def test_ingest_applies_the_state_to_exactly_the_subscribers(
    publisher,
    na_events,
    nodeallow_master,
    na_salt_cli,
    pillar_files,
    firewalled_minion,
    bystander,
    netns,
    allowlist_name,
    reindex,
):
    """Snapshots grow and shrink the nft sets of the subscribed minion; a retirement removes them."""
    name = f"prod/{allowlist_name}"
    pillar_files.subscribe(firewalled_minion.id, name, ports=(5432,))
    pillar_files.clear(bystander.id)
    reindex()

    first = ["192.0.2.10/32", "198.51.100.0/24", "2001:db8::10/128"]
    publisher.post("prod", allowlist_name, encode_body("prod", allowlist_name, 1, first))
    applied = na_events.wait_for(f"nodeallow/applied/prod/{allowlist_name}", timeout=APPLY_TIMEOUT)["data"]
    assert list(applied["minions"]) == [firewalled_minion.id], applied
    assert applied["minions"][firewalled_minion.id]["result"] is True, applied
    assert applied["minions"][firewalled_minion.id]["changes_summary"] == {
        "allowlist": name,
        "sequence": 1,
        "result": True,
        "backend": "nftables",
        "added": 3,
        "removed": 0,
        "total": 3,
        "added_addresses": first,
        "removed_addresses": [],
        "truncated": False,
    }, applied
    assert nft_set(netns, name, 4) == {"192.0.2.10/32", "198.51.100.0/24"}
    assert nft_set(netns, name, 6) == {"2001:db8::10/128"}

    # Adjacent addresses (consecutive node IPs) must stay as they are: merging them into one
    # shorter prefix would change the digest.
    second = ["192.0.2.10/32", "192.0.2.11/32", "198.51.100.0/24", "2001:db8::10/128", "2001:db8::11/128"]
    publisher.post("prod", allowlist_name, encode_body("prod", allowlist_name, 2, second))
    applied = na_events.wait_for(f"nodeallow/applied/prod/{allowlist_name}", timeout=APPLY_TIMEOUT)["data"]
    assert (applied["sequence"], applied["result"]) == (2, True), applied
    summary = applied["minions"][firewalled_minion.id]["changes_summary"]
    assert (summary["sequence"], summary["added"], summary["removed"], summary["total"]) == (2, 2, 0, 5), summary
    assert summary["added_addresses"] == ["192.0.2.11/32", "2001:db8::11/128"], summary
    assert nft_set(netns, name, 4) == {"192.0.2.10/32", "192.0.2.11/32", "198.51.100.0/24"}
    assert nft_set(netns, name, 6) == {"2001:db8::10/128", "2001:db8::11/128"}
    record = applies(nodeallow_master.config, "prod", allowlist_name)
    assert record[firewalled_minion.id]["sequence"] == 2 and record[firewalled_minion.id]["result"] is True
    assert bystander.id not in record

    # nodeallow.show reads the pillar the master compiles now, not the copy the minion loaded at
    # its start (which predates the subscription, so it does not even name the allowlist).
    shown = na_salt_cli.run("nodeallow.show", minion_tgt=firewalled_minion.id)
    assert shown.returncode == 0, shown
    line = shown.data["allowlists"][name]
    assert (line["source"], line["sequence"], line["count"]) == ("pillar", 2, 5), shown.data
    stale = na_salt_cli.run("nodeallow.show", "fresh=False", minion_tgt=firewalled_minion.id)
    assert name not in (stale.data.get("allowlists") or {}), stale.data
    listed = na_salt_cli.run("nodeallow.addresses", name, "fresh=True", minion_tgt=firewalled_minion.id)
    assert listed.data == second, listed

    publisher.post("prod", allowlist_name, encode_body("prod", allowlist_name, 3, [], kind="retirement"))
    applied = na_events.wait_for(f"nodeallow/applied/prod/{allowlist_name}", timeout=APPLY_TIMEOUT)["data"]
    assert (applied["sequence"], applied["result"]) == (3, True), applied
    summary = applied["minions"][firewalled_minion.id]["changes_summary"]
    assert (summary["removed"], summary["total"], summary["removed_addresses"]) == (5, 0, second), summary
    remaining = [
        item["set"]["name"]
        for item in netns.nft_ruleset()["nftables"]
        if "set" in item and item["set"]["name"] in naming.nft_sets(name, 4) + naming.nft_sets(name, 6)
    ]
    assert remaining == []


def test_a_minion_names_its_extension_version_in_a_grain(na_salt_cli, firewalled_minion):
    """Grain ``nodeallow:version`` (loaded by the running minion) is the installed extension's version."""
    version = na_salt_cli.run("grains.get", "nodeallow:version", minion_tgt=firewalled_minion.id)
    assert version.returncode == 0, version
    assert version.data == saltext.nodeallow.__version__, version
