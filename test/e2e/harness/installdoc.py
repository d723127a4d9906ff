# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""docs/install.md's commands, run by the harness as written: only its folders become the test master's."""

import os
import re
import subprocess

from harness.binaries import REPO_ROOT

INSTALL = REPO_ROOT / "docs" / "install.md"
# Where install.md puts the master's files; a test master has its own folders instead.
SALT_ETC = "/etc/salt/"
SALT_SRV = "/srv/"


class InstallDocError(RuntimeError):
    """docs/install.md lacks a block the harness runs, or one of its commands failed."""


def blocks(language):
    """Every ```<language> block of docs/install.md, as text."""
    return re.findall(rf"```{language}\n(.*?)```", INSTALL.read_text(encoding="utf-8"), re.S)


def sh_block(marker):
    """The one ```sh block of docs/install.md that contains ``marker``."""
    found = [block for block in blocks("sh") if marker in block]
    if len(found) != 1:
        raise InstallDocError(f"docs/install.md has {len(found)} ```sh blocks with {marker!r}, the harness runs one")
    return found[0]


def run(marker, env, folders):
    """Run install.md's ``sh`` block with ``marker`` (bash, -eu) and return it as run.

    ``folders`` maps install.md's folders (``/etc/salt/``, ``/srv/``) to the test master's; nothing else changes.
    """
    script = sh_block(marker)
    for documented, ours in folders.items():
        script = script.replace(documented, os.path.join(ours, ""))
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env, capture_output=True, text=True,
                          timeout=180, check=False)
    if proc.returncode != 0:
        raise InstallDocError(f"docs/install.md's commands exited {proc.returncode}:\n{script}\n{proc.stderr}")
    return script
