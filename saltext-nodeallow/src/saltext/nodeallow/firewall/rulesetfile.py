# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The nftables backend writing to a file instead of the kernel (minion option ``nodeallow_ruleset_file``).

Demo and development only: the file holds exactly the ``nft -f`` input the nftables backend
would load for a full apply (``nft -f <file>`` loads it for real), replaced atomically, and
``<file>.json`` records what was written; it stands in for listing the kernel, so diffs,
test=True, idempotency, table renames and the last-known-good store behave as with the kernel.
No root and no ``nft`` are needed. Same interface as :mod:`nftables`, with a :class:`RulesetFile`
where that takes a command runner.
"""

import json
import os
import tempfile

from saltext.nodeallow.firewall import nftables
from saltext.nodeallow.firewall.snapshot import Snapshot, differences

NAME = "nftables"
target = nftables.target


class RulesetFile:
    """The file that stands in for the kernel: its path, checked once."""

    def __init__(self, path):
        """Refuse anything but an absolute path."""
        if not isinstance(path, str) or not os.path.isabs(path) or "\0" in path:
            raise ValueError(f"nodeallow_ruleset_file must be an absolute file path, not {path!r}")
        self.path = path

    @property
    def sidecar(self):
        """The JSON file that records what was last written to the ruleset file."""
        return self.path + ".json"

    def load(self):
        """``{table: {"text", "objects", "lines", "addresses"}}`` last written (empty if none)."""
        try:
            with open(self.sidecar, encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"cannot read {self.sidecar} (the record of nodeallow_ruleset_file): {exc}; "
                "delete it and the ruleset file to start again"
            ) from exc
        tables = data.get("tables") if isinstance(data, dict) and data.get("format") == 1 else None
        if not isinstance(tables, dict):
            raise ValueError(
                f"{self.sidecar} is not a nodeallow ruleset record (format 1); "
                "delete it and the ruleset file to start again"
            )
        try:
            for entry in tables.values():
                _snapshot_from_json(entry)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValueError(f"{self.sidecar} has a malformed table record ({exc!r}); delete it") from exc
        return tables

    def write(self, tables):
        """Write the ruleset of all ``tables`` to the file and their snapshots to the sidecar."""
        text = "".join(entry["text"] for _, entry in sorted(tables.items()))
        _write_atomically(self.path, text)
        _write_atomically(self.sidecar, json.dumps({"format": 1, "tables": tables}, indent=1, sort_keys=True) + "\n")


def _snapshot_to_json(snap):
    """``snap`` as JSON-serialisable data (sets become sorted lists)."""
    return {
        "objects": sorted(snap.objects),
        "lines": [list(line) for line in snap.lines],
        "addresses": {
            name: {str(f): sorted(fams.get(f, ())) for f in (4, 6)} for name, fams in sorted(snap.addresses.items())
        },
    }


def _snapshot_from_json(data):
    """The :class:`Snapshot` recorded by :func:`_snapshot_to_json`."""
    return Snapshot(
        set(data["objects"]),
        [tuple(line) for line in data["lines"]],
        {name: {f: set(fams[str(f)]) for f in (4, 6)} for name, fams in data["addresses"].items()},
    )


def _write_atomically(path, text):
    """Replace ``path`` with ``text`` (mode 0644) so readers see the old or the new file, never half."""
    fd, tmp = tempfile.mkstemp(prefix=".nodeallow-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def tables(ruleset):
    """Names of the tables the file holds."""
    return set(ruleset.load())


def read(ruleset, want, store=None, target_snap=None, full=False):  # pylint: disable=unused-argument
    """What the file holds for our table, from its record (always in full: it is cheap)."""
    entry = ruleset.load().get(want.nft_table)
    return _snapshot_from_json(entry) if entry else Snapshot()


def check(ruleset, want, target_snap, current):  # pylint: disable=unused-argument
    """Nothing to validate without ``nft``; the file is only written by :func:`apply`."""


def apply(ruleset, want, target_snap, current):  # pylint: disable=unused-argument
    """Write the whole table of ``want`` (or drop it when no rule is left)."""
    recorded = ruleset.load()
    recorded.pop(want.nft_table, None)
    if want.rules:
        recorded[want.nft_table] = {"text": nftables.render(want), **_snapshot_to_json(target_snap)}
    ruleset.write(recorded)


def verify(ruleset, want, target_snap):
    """What still differs from ``target_snap`` after an apply (``{}``: nothing)."""
    return differences(target_snap, read(ruleset, want))


def remove(ruleset, table):
    """Drop table ``table`` from the file, if it holds it."""
    recorded = ruleset.load()
    if table not in recorded:
        return []
    del recorded[table]
    ruleset.write(recorded)
    return [f"nft table inet {table}"]
