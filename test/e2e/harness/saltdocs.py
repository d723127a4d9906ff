# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""nodeallow's Salt master settings and reactor file, as docs/salt.md tells a user to write them.

Kept next to the harness so the end-to-end system runs the documented configuration; only the values that
differ per machine (ports, folders, keys) are filled in here.
"""

import os

import yaml


def master_config(*, clusters, reactor_file, api_port, users_file, api_user):
    """Return the text of ``/etc/salt/master.d/nodeallow.conf`` for this test system.

    ``clusters`` maps a cluster name to its key, or to its keys newest first.
    """
    config = {
        "nodeallow": {
            "clusters": {name: _keys(keys) for name, keys in sorted(clusters.items())},
        },
        "ext_pillar": [{"nodeallow": {}}],
        # The reconcile loop: collects apply results, retries minions that are behind.
        "engines": [{"nodeallow": {}}],
        "reactor": [{"salt/netapi/hook/nodeallow/*": [reactor_file]}],
        "rest_cherrypy": {
            "host": "127.0.0.1",
            "port": api_port,
            # Test machines only: docs/salt.md configures TLS (ssl_crt/ssl_key).
            "disable_ssl": True,
        },
        # The controllers log in to salt-api (/login) and send the token with every hook POST.
        "external_auth": {
            "file": {
                "^filename": users_file,
                # A hook needs only a valid token, no permission to run anything.
                api_user: [],
            },
        },
    }
    return "# nodeallow settings (docs/salt.md)\n" + yaml.safe_dump(config, sort_keys=False)



def _keys(keys):
    """A cluster's entry: ``signing_key`` for one key, ``signing_keys`` (newest first) during a rotation."""
    keys = [keys] if isinstance(keys, str) else list(keys)
    return {"signing_key": keys[0]} if len(keys) == 1 else {"signing_keys": keys}


def reactor_file(extension_site):
    """Return the reactor file shipped in the installed extension (docs/salt.md points the master at it)."""
    return os.path.join(extension_site, "saltext", "nodeallow", "reactor", "nodeallow.sls")
