# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The compact default view of ``salt-run nodeallow.status`` (status_table.render)."""

from saltext.nodeallow import status_table


def _subscriber(**overrides):
    """A caught-up subscriber line as status.report writes it, with ``overrides``."""
    line = {
        "applied_sequence": 42,
        "result": True,
        "behind": False,
        "last_error": "",
        "seconds_ago": 38,
        "job": None,
        "next_retry_in": 0,
        "failures": 0,
    }
    line.update(overrides)
    return line


def _entry(**overrides):
    """A stored allowlist entry as status.report writes it, with ``overrides``."""
    entry = {
        "cluster": "prod",
        "allowlist": "workers",
        "stored": True,
        "sequence": 42,
        "digest": "sha256:be9857c3d1aa" + "0" * 52,
        "addresses": 12,
        "retired": False,
        "stored_seconds_ago": 3900,
        "subscribers": {"db1": _subscriber()},
        "behind": [],
    }
    entry.update(overrides)
    return entry


def test_empty_report_says_so():
    """No allowlists is one sentence, not an empty screen."""
    assert "No allowlists" in status_table.render({})


def test_heading_and_aligned_rows():
    """A heading with sequence, size, short digest, age and the applied count; columns line up."""
    report = {
        "prod/workers": _entry(
            subscribers={
                "db1": _subscriber(),
                "db-long-name": _subscriber(
                    applied_sequence=40,
                    result=False,
                    behind=True,
                    failures=2,
                    next_retry_in=7,
                    seconds_ago=12,
                    last_error="no answer within 20s to job 2026\nsecond line",
                ),
            },
            behind=["db-long-name"],
        )
    }
    lines = status_table.render(report).splitlines()
    assert lines[0] == "prod/workers  sequence 42  12 addresses  sha256:be9857c3d1aa  stored 1h ago  1/2 applied"
    header, long_row, short_row = lines[1], lines[2], lines[3]
    assert header.split() == ["SUBSCRIBER", "APPLIED", "RESULT", "AGE", "NOTE"]
    assert long_row.split()[:5] == ["db-long-name", "40", "failed", "12s", "ago"]
    assert "behind; retry in 7s after 2 failures; no answer within 20s to job 2026" in long_row
    assert "second line" not in long_row
    assert short_row.split() == ["db1", "42", "ok", "38s", "ago"]
    for column in ("APPLIED", "RESULT", "AGE"):
        at = header.index(column)
        assert long_row[at - 2 : at] == "  " and short_row[at - 2 : at] == "  ", column


def test_states_of_a_subscriber():
    """In flight, never applied, and a long comment cut with an ellipsis."""
    report = {
        "prod/workers": _entry(
            subscribers={
                "a": _subscriber(job={"jid": "20261202060000123456", "seconds": 4}, behind=True),
                "b": _subscriber(applied_sequence=None, result=None, seconds_ago=None, behind=True),
                "c": _subscriber(result=False, last_error="x" * 300),
            }
        )
    }
    rows = {line.split()[0]: line for line in status_table.render(report).splitlines()[2:]}
    assert rows["a"].split()[2] == "applying" and "job 20261202060000123456 running 4s" in rows["a"]
    assert rows["b"].split()[1:4] == ["-", "never", "-"]
    assert rows["c"].endswith("x" * (status_table.ERROR_WIDTH - 1) + "…")


def test_a_minion_ahead_of_this_master_is_not_behind():
    """Classic multi-master: the minion refused this master's older sequence, keeping another master's newer one."""
    report = {"prod/workers": _entry(sequence=40, subscribers={"db1": _subscriber(applied_sequence=42, ahead_of=40)})}
    text = status_table.render(report)
    row = text.splitlines()[2]
    assert row.split()[1:3] == ["42", "ok"] and "ahead: refused this master's older sequence 40" in row, text
    assert "1/1 applied" in text


def test_unstored_retired_and_in_transfer():
    """Nothing stored yet, a retirement, chunks in transfer and no subscribers each say so."""
    report = {
        "prod/new": {"cluster": "prod", "allowlist": "new", "stored": False, "subscribers": {}, "behind": []},
        "prod/old": _entry(retired=True, sequence=9, pending_chunks={"10": "2/3"}),
    }
    text = status_table.render(report)
    assert "prod/new  not stored yet  0/0 applied" in text
    assert "no subscribers" in text
    assert "prod/old  sequence 9  retired  stored 1h ago  1/1 applied" in text
    assert "chunks of sequence 10 in transfer: 2/3" in text
    assert text.index("prod/new") < text.index("prod/old")
