# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""nodeallow's Salt master settings as docs/salt.md tells a user to write them: the tests' one builder.

The end-to-end harness writes them as ``master.d/nodeallow.conf``; the master-side tests start their masters
with them plus test-only overrides; test/e2e/test_docs_config.py checks them against docs/salt.md. Only the
values that differ per machine (ports, folders, keys) are parameters.
"""

import yaml

# The one runner function the controller's salt-api user may call (a regular expression, as eauth reads it).
STATUS_RUNNER_ACL = r"^nodeallow\.status$"
# The tag salt-api gives hooks posted to /hook/nodeallow/<cluster>/<allowlist> (the reactor's mapping).
HOOK_TAG_PATTERN = "salt/netapi/hook/nodeallow/*"


def cluster_entry(keys):
    """A cluster's entry: ``signing_key`` for one key, ``signing_keys`` (newest first) during a rotation."""
    keys = [keys] if isinstance(keys, str) else list(keys)
    return {"signing_key": keys[0]} if len(keys) == 1 else {"signing_keys": keys}


def master_config(*, clusters, reactor_file, api_port, users_file=None, api_user=None, **settings):
    """The documented master settings as a dict; ``clusters`` maps a name to its key or keys (newest first).

    With ``users_file`` and ``api_user``, salt-api's file eauth lets that user log in (what controllers do);
    ``settings`` are further ``nodeallow:`` settings (timeouts, limits).
    """
    config = {
        "nodeallow": {
            "clusters": {name: cluster_entry(keys) for name, keys in sorted(clusters.items())},
            **settings,
        },
        "ext_pillar": [{"nodeallow": {}}],
        # The reconcile loop: collects apply results, retries minions that are behind.
        "engines": [{"nodeallow": {}}],
        "reactor": [{HOOK_TAG_PATTERN: [str(reactor_file)]}],
        # Delivery status: the runner nodeallow.status through salt-api (hooks need no client).
        "netapi_enable_clients": ["runner"],
        "rest_cherrypy": {
            "host": "127.0.0.1",
            "port": api_port,
            # Test machines only: docs/salt.md configures TLS (ssl_crt/ssl_key).
            "disable_ssl": True,
            # One request thread: the webhook's event sender is shared by all threads, and hook POSTs that
            # arrive at once (two clusters' controllers) break it (docs/salt.md, "Troubleshooting").
            "thread_pool": 1,
        },
    }
    if users_file:
        # The controllers log in to salt-api (/login) and send the token with every hook POST.
        config["external_auth"] = {
            "file": {
                "^filename": users_file,
                # A hook needs only a valid token; delivery status reads one runner function.
                api_user: [{"@runner": [STATUS_RUNNER_ACL]}],
            },
        }
    return config


def master_config_text(**kwargs):
    """:func:`master_config` as the text of ``/etc/salt/master.d/nodeallow.conf``."""
    return "# nodeallow settings (docs/salt.md)\n" + yaml.safe_dump(master_config(**kwargs), sort_keys=False)



def production_logging(role):
    """Overrides for a ``role`` (master, minion) daemon in a benchmark: it logs as Salt's packages do (warning).

    salt-factories writes every debug record to the daemon's log file and sends it to the test
    process; in a benchmark that is CPU in every Salt process (the minion's apply jobs most) that a
    daemon at Salt's default log level does not spend.
    """
    return {"log_level_logfile": "warning", f"pytest-{role}": {"log": {"level": "warning"}}}
