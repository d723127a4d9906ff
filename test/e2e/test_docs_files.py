# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The docs show the files that ship and point at sections that exist (no running system needed)."""

import pathlib
import re

import pytest

from harness.binaries import REPO_ROOT

DOCS = REPO_ROOT / "docs"
SHIPPED_REACTOR = REPO_ROOT / "saltext-nodeallow" / "src" / "saltext" / "nodeallow" / "reactor" / "nodeallow.sls"
CRD_FOLDERS = (REPO_ROOT / "config" / "crd" / "bases", REPO_ROOT / "charts" / "nodeallow" / "crds")
# docs/<file>.md#<anchor>, as the CRD descriptions (kubectl explain) point into the docs.
DOC_LINK = re.compile(r"docs/([a-z]+\.md)#([a-z0-9-]+)")


def anchors(doc):
    """The anchors GitHub gives the headings of ``doc``: lower case, punctuation dropped, spaces as ``-``."""
    text = re.sub(r"```.*?```", "", (DOCS / doc).read_text(encoding="utf-8"), flags=re.S)
    headings = re.findall(r"^#+ (.+)$", text, re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def test_salt_md_shows_the_shipped_reactor_byte_for_byte():
    """The reactor salt.md shows for copying is the file the extension ships, not an older copy."""
    shown = re.findall(r"```python\n(.*?)```", (DOCS / "salt.md").read_text(encoding="utf-8"), re.S)
    reactors = [block for block in shown if block.startswith("#!py\n")]
    assert reactors == [SHIPPED_REACTOR.read_text(encoding="utf-8")]


@pytest.mark.parametrize("folder", CRD_FOLDERS, ids=lambda folder: str(folder.relative_to(REPO_ROOT)))
def test_crd_descriptions_point_at_sections_that_exist(folder):
    """Every ``docs/<file>.md#<anchor>`` in the CRD (what ``kubectl explain`` shows) names a real heading."""
    links = set()
    for crd in sorted(folder.glob("*.yaml")):
        text = re.sub(r"\s*\n\s*", " ", crd.read_text(encoding="utf-8"))
        links |= set(DOC_LINK.findall(text))
        # A section named in words, not linked, cannot be checked: the descriptions link instead.
        assert not re.search(r"docs/[a-z]+\.md, \"", text), f"{crd} names a docs section without an anchor"
    assert links, f"no docs/<file>.md#<anchor> in {folder}"
    for doc, anchor in sorted(links):
        assert pathlib.Path(DOCS / doc).is_file(), f"the CRD links to docs/{doc}, which does not exist"
        assert anchor in anchors(doc), f"the CRD links to docs/{doc}#{anchor}; its headings are {sorted(anchors(doc))}"


def test_design_md_names_every_module_of_the_python_protocol_package():
    """"Where to put a change" names each module of ``saltext.nodeallow.protocol``, and only modules that exist."""
    package = SHIPPED_REACTOR.parent.parent / "protocol"
    named = set(re.findall(r"`protocol/([a-z_]+\.py)`", (DOCS / "design.md").read_text(encoding="utf-8")))
    modules = {path.name for path in package.glob("*.py") if path.name != "__init__.py"}
    assert named == modules
