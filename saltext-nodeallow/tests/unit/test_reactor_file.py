# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""``salt-run nodeallow.reactor_file`` names the reactor this installed extension ships (docs/install.md copies it)."""

import pathlib

from saltext.nodeallow.runners import nodeallow as runner


def test_it_names_the_shipped_reactor():
    """The path is the installed package's reactor/nodeallow.sls, a #!py reactor that hands hooks to ingest."""
    path = pathlib.Path(runner.reactor_file())
    assert path.name == "nodeallow.sls" and path.parent.name == "reactor"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#!py\n") and "runner.nodeallow.ingest" in text
