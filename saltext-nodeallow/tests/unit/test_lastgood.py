# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The last-known-good store written while the apply runs, put in effect after it (``lastgood.writing``, and a
delta's address files, ``lastgood.writing_lists``)."""

import os

import pytest

from saltext.nodeallow import records
from saltext.nodeallow.firewall import desired, lastgood

ADDRESSES = ["10.0.0.1/32", "10.9.0.0/24", "fd00::1/128"]
PILLAR = {
    "rules": [{"allowlist": "prod/workers", "ports": [5432]}],
    "allowlists": {"prod/workers": {"sequence": 4, "addresses": ADDRESSES}},
}


def list_files(cachedir):
    """The address files of the store below ``cachedir``."""
    folder = os.path.join(cachedir, "nodeallow", lastgood.LISTS_DIR)
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def store_files(cachedir):
    """The files beside the store's JSON (a temporary JSON left behind would show here)."""
    return sorted(os.listdir(os.path.join(cachedir, "nodeallow")))


def test_the_store_is_written_during_the_apply_and_in_effect_only_after_the_commit(tmp_path):
    """The address file is there during the block, the old store stays in effect until commit(); then the new one
    loads back, and the old one's address file is gone."""
    cachedir = str(tmp_path)
    old = desired.build({**PILLAR, "allowlists": {"prod/workers": {"sequence": 3, "addresses": ["10.0.0.9/32"]}}}, {})
    lastgood.save(cachedir, old, 0.0)
    want = desired.build(PILLAR, {})
    with lastgood.writing(cachedir, want, 5.0) as pending:
        pending.wait()
        assert records.digest(ADDRESSES).partition(":")[2] + ".txt" in list_files(cachedir)
        assert lastgood.load(cachedir)["allowlists"]["prod/workers"].sequence == 3, "not in effect before the commit"
        pending.commit()
    store = lastgood.load(cachedir)
    assert store["allowlists"]["prod/workers"].addresses == tuple(ADDRESSES)
    assert store["audited"] == 5.0
    assert list_files(cachedir) == [records.digest(ADDRESSES).partition(":")[2] + ".txt"]
    assert store_files(cachedir) == sorted([lastgood.FILE_NAME, lastgood.LISTS_DIR])


@pytest.mark.parametrize("failure", ["error", "no commit"])
def test_an_apply_that_failed_leaves_the_old_store_and_no_temporary_file(tmp_path, failure):
    """The apply's error comes out (or the block ends without commit()): the old store stays, its temporary JSON
    is deleted, and the orphaned address file goes with the next successful save."""
    cachedir = str(tmp_path)
    old = desired.build({**PILLAR, "allowlists": {"prod/workers": {"sequence": 3, "addresses": ["10.0.0.9/32"]}}}, {})
    lastgood.save(cachedir, old, 0.0)
    failed = desired.build(PILLAR, {})
    if failure == "error":
        with pytest.raises(RuntimeError, match="nft refused"):
            with lastgood.writing(cachedir, failed, 0.0):
                raise RuntimeError("nft refused")
    else:
        with lastgood.writing(cachedir, failed, 0.0) as pending:
            pending.wait()
    assert lastgood.load(cachedir)["allowlists"]["prod/workers"].sequence == 3
    assert store_files(cachedir) == sorted([lastgood.FILE_NAME, lastgood.LISTS_DIR])
    other = ["10.0.0.2/32"]
    want = desired.build({**PILLAR, "allowlists": {"prod/workers": {"sequence": 5, "addresses": other}}}, {})
    lastgood.save(cachedir, want, 0.0)
    assert list_files(cachedir) == [records.digest(other).partition(":")[2] + ".txt"]


def test_a_store_that_cannot_be_written_fails_the_commit_after_the_apply(tmp_path):
    """The thread's error is raised by commit(), once the block (the apply) ran; nothing is put in effect."""
    cachedir = tmp_path / "cache"
    (cachedir / "nodeallow").mkdir(parents=True)
    (cachedir / "nodeallow" / lastgood.LISTS_DIR).write_text("not a folder")
    ran = []
    with pytest.raises(OSError):
        with lastgood.writing(str(cachedir), desired.build(PILLAR, {}), 0.0) as pending:
            ran.append(True)
            pending.commit()
    assert ran == [True]
    assert not os.path.exists(lastgood.path(str(cachedir)))


def test_the_lists_are_written_during_the_apply_and_named_only_by_the_save(tmp_path):
    """The address file is there when the block ends, the JSON only after save(); the store then loads back."""
    cachedir = str(tmp_path)
    want = desired.build(PILLAR, {})
    with lastgood.writing_lists(cachedir, want):
        pass
    assert list_files(cachedir) == [records.digest(ADDRESSES).partition(":")[2] + ".txt"]
    assert not os.path.exists(lastgood.path(cachedir)), "nothing names the list before the apply succeeded"
    lastgood.save(cachedir, want, 0.0)
    assert lastgood.load(cachedir)["allowlists"]["prod/workers"].addresses == tuple(ADDRESSES)


def test_a_list_written_for_an_apply_that_failed_is_removed_by_the_next_save(tmp_path):
    """The apply's error comes out; the orphaned file is deleted by the next successful save."""
    cachedir = str(tmp_path)
    failed = desired.build(PILLAR, {})
    with pytest.raises(RuntimeError, match="nft refused"):
        with lastgood.writing_lists(cachedir, failed):
            raise RuntimeError("nft refused")
    other = ["10.0.0.2/32"]
    want = desired.build({**PILLAR, "allowlists": {"prod/workers": {"sequence": 5, "addresses": other}}}, {})
    lastgood.save(cachedir, want, 0.0)
    assert list_files(cachedir) == [records.digest(other).partition(":")[2] + ".txt"]


def test_a_list_that_cannot_be_written_fails_the_run_after_the_apply(tmp_path):
    """The thread's error is raised once the block (the apply) succeeded."""
    cachedir = tmp_path / "cache"
    (cachedir / "nodeallow").mkdir(parents=True)
    (cachedir / "nodeallow" / lastgood.LISTS_DIR).write_text("not a folder")
    ran = []
    with pytest.raises(OSError):
        with lastgood.writing_lists(str(cachedir), desired.build(PILLAR, {})):
            ran.append(True)
    assert ran == [True]
