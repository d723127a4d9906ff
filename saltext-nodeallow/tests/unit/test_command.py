# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The firewall command runner: read commands started side by side (``Executor.started``)."""

import time

import pytest

from saltext.nodeallow.firewall import command


def counting(path, text):
    """A command that appends a line to ``path`` each time it runs and prints ``text``."""
    return ["sh", "-c", f'echo ran >> "$0"; echo {text}', str(path)]


def runs(path):
    """How many times a :func:`counting` command ran."""
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_a_started_read_is_run_once_and_its_output_taken(tmp_path):
    """Inside the block a started command is not run again: run() takes its output, every time."""
    executor = command.Executor()
    first, second = tmp_path / "first", tmp_path / "second"
    with executor.started([counting(first, "one"), counting(second, "two"), counting(first, "one")]):
        assert executor.run(counting(first, "one")).stdout == "one\n"
        assert executor.run(counting(second, "two")).stdout == "two\n"
        assert executor.run(counting(first, "one")).stdout == "one\n"
    assert (runs(first), runs(second)) == (1, 1)
    executor.run(counting(first, "one"))
    assert runs(first) == 2, "outside the block every run is a new process"


def test_another_command_ends_the_reuse(tmp_path):
    """A command that was not started (it may write what the others read) makes later reads run afresh."""
    executor = command.Executor()
    path = tmp_path / "count"
    with executor.started([counting(path, "x")]):
        executor.run(counting(path, "x"))
        executor.run(["true"])
        executor.run(counting(path, "x"))
    assert runs(path) == 2


def test_a_command_given_input_is_never_taken_from_the_started_ones(tmp_path):
    """Input means a write (a restore): it runs with that input, and ends the reuse."""
    executor = command.Executor()
    path = tmp_path / "count"
    with executor.started([["cat"], counting(path, "x")]):
        assert executor.run(["cat"], stdin="input").stdout == "input"
        executor.run(counting(path, "x"))
        executor.run(counting(path, "x"))
    assert runs(path) >= 2, "the started command may or may not have run before it was stopped"


def test_failures_of_started_reads_are_reported_like_a_run(tmp_path):
    """A failing or missing command raises CommandError as run() does; check=False returns it."""
    executor = command.Executor()
    missing = ["nodeallow-no-such-tool", "list"]
    failing = ["sh", "-c", "echo broken >&2; exit 3"]
    with executor.started([missing, failing]):
        with pytest.raises(command.CommandError) as info:
            executor.run(missing)
        assert info.value.returncode == 127
        assert executor.run(failing, check=False).returncode == 3
        with pytest.raises(command.CommandError, match="broken") as info:
            executor.run(failing)
        assert info.value.returncode == 3


def test_unused_started_reads_are_stopped_on_leaving(tmp_path):
    """What nothing took is stopped when the block ends, not waited for."""
    executor = command.Executor()
    began = time.monotonic()
    with executor.started([["sleep", "30"]]):
        pass
    assert time.monotonic() - began < 10


def test_commands_run_side_by_side_run_at_the_same_time_with_their_input(tmp_path):
    """Each command waits for the other's mark (one after the other, they would time out), and gets its stdin."""
    executor = command.Executor(timeout=20)
    first, second = tmp_path / "first", tmp_path / "second"
    script = 'cat > "$0"; i=0; while [ ! -s "$1" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; [ -s "$1" ]'
    began = time.monotonic()
    executor.run_side_by_side(
        [
            (["sh", "-c", script, str(first), str(second)], "one\n"),
            (["sh", "-c", script, str(second), str(first)], "two\n"),
        ]
    )
    assert (first.read_text(), second.read_text()) == ("one\n", "two\n")
    assert time.monotonic() - began < 5


def test_a_failure_side_by_side_is_raised_after_all_ran(tmp_path):
    """The first failing command's error is raised, once every command finished."""
    executor = command.Executor()
    mark = tmp_path / "mark"
    with pytest.raises(command.CommandError, match="broken") as info:
        executor.run_side_by_side(
            [(["sh", "-c", "echo broken >&2; exit 4"], ""), (["sh", "-c", 'sleep 0.2; cat > "$0"', str(mark)], "done")]
        )
    assert info.value.returncode == 4
    assert mark.read_text() == "done"


def writer(log, out):
    """A command that notes its start in ``log``, then copies its input to ``out`` (a restore stand-in)."""
    return ["sh", "-c", 'echo started >> "$0"; cat >> "$1"', str(log), str(out)]


def test_a_ready_writer_is_started_once_and_given_its_input_side_by_side(tmp_path):
    """Inside ready() run_side_by_side feeds the command started beforehand instead of starting another."""
    executor = command.Executor()
    log, out = tmp_path / "log", tmp_path / "out"
    with executor.ready([writer(log, out)]):
        executor.run(["true"])  # what the block runs first (the sets' restore) leaves it waiting
        executor.run_side_by_side([(writer(log, out), "rules\n")])
    assert out.read_text() == "rules\n"
    assert runs(log) == 1


def test_a_ready_writer_given_no_input_is_killed_before_it_reads_any(tmp_path):
    """When the block ends early (the restore before it failed), the waiting command does nothing."""
    executor = command.Executor()
    log, out = tmp_path / "log", tmp_path / "out"
    with pytest.raises(command.CommandError):
        with executor.ready([writer(log, out)]):
            executor.run(["sh", "-c", "exit 2"])
    assert not out.exists() or out.read_text() == ""
    executor.run_side_by_side([(writer(log, out), "later\n")])
    assert out.read_text() == "later\n", "outside the block the command is started as usual"


def test_a_ready_writer_that_fails_raises_like_a_run(tmp_path):
    """Its exit status and error output are reported as CommandError, as run() would."""
    executor = command.Executor()
    failing = ["sh", "-c", "cat > /dev/null; echo refused >&2; exit 4"]
    with executor.ready([failing]):
        with pytest.raises(command.CommandError, match="refused") as info:
            executor.run_side_by_side([(failing, "input\n")])
    assert info.value.returncode == 4
