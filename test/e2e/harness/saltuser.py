# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The user salt-master and salt-api run as: ``salt`` as Salt's packages (3006+) run them, minions as root.

Both daemons start as root, read their configuration, and switch to ``user:`` (Salt's ``check_user``);
``salt-run`` and ``salt-key`` started by root switch too, so everything they write is the master user's.
Salt's packages create the user (hack/install-system-packages.sh does here) and hand it the master's
folders: ``chown -R salt:salt /etc/salt/pki/master /var/cache/salt/master /var/log/salt/master
/var/run/salt/master`` (pkg/debian/salt-master.postinst); :func:`hand_over` does that for a test master.
"""

import getpass
import grp
import os
import pwd
import subprocess

# The user and group Salt's packages create and run salt-master and salt-api as.
SALT_USER = "salt"


class SaltUserError(RuntimeError):
    """The master's user is missing or cannot read what the master needs."""


def master_user():
    """The user salt-master and salt-api run as: ``salt`` when started by root, else the caller (the demo)."""
    return SALT_USER if os.geteuid() == 0 else getpass.getuser()


def user_setting():
    """The master's ``user:`` setting; Salt daemons default to ``root`` and refuse to start as anyone else."""
    return {"user": master_user()}


def account(user):
    """``(uid, gid)`` of ``user``; raise :class:`SaltUserError` saying how to create a missing ``salt``."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise SaltUserError(
            f"the user {user!r} the Salt master runs as (Salt's packages create it) does not exist: "
            "run `sudo bash hack/install-system-packages.sh`"
        ) from None
    return entry.pw_uid, entry.pw_gid


def group_id(name):
    """The id of group ``name`` (created with the user)."""
    return grp.getgrnam(name).gr_gid


def hand_over(user, paths):
    """Create ``paths`` (folders) and give them with everything in them to ``user``, as Salt's packages do."""
    uid, gid = account(user)
    for top in paths:
        os.makedirs(top, exist_ok=True)
        if os.geteuid() != 0:
            continue
        os.chown(top, uid, gid)
        for folder, dirs, files in os.walk(top):
            for name in dirs + files:
                os.chown(os.path.join(folder, name), uid, gid, follow_symlinks=False)


def open_path(path):
    """Let everyone read and enter ``path``: the harness's 0700 temporary folder holds the master's.

    Reading, not only entering: Salt's LocalClient (the engine's and ``salt-run``'s applies) reads its key only
    when the master's user may read every folder above the cachedir (``check_path_traversal``), and is
    refused ("Authentication failure of type user") otherwise.
    """
    os.chmod(path, os.stat(path).st_mode & 0o7777 | 0o555)


def check_can_run(user, python, env):
    """Raise :class:`SaltUserError` unless ``user`` can import Salt and the extension with ``python`` and ``env``.

    The master switches to ``user`` before it loads most modules, so a Python environment below a folder
    only root may enter (``/root/.cache``) fails later, with far less clear errors.
    """
    if os.geteuid() == 0 and user != "root":
        argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", str(python), "-c",
                "import salt.version, saltext.nodeallow"]
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0:
            raise SaltUserError(
                f"the user {user!r} the Salt master runs as cannot import Salt and saltext.nodeallow from "
                f"{python} (PYTHONPATH {env.get('PYTHONPATH')}): {proc.stderr.strip()[-500:]}; run "
                "`sudo bash hack/python-env.sh`, which lets it into the test environment"
            )
