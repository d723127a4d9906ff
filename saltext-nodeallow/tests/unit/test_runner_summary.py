"""The ingest runner's reduction of a minion's state.single return to what the store and events keep."""

from saltext.nodeallow.runners import nodeallow as runner

STATE_ID = "nodeallow_|-nodeallow_|-nodeallow_|-managed"


def test_successful_state_return():
    """A True result with changes is kept as result, comment and a short changes summary."""
    ret = {STATE_ID: {"result": True, "comment": "2 sets updated", "changes": {"prod/w": {"added": 1}}}}
    assert runner.summarize_state_return(ret) == (True, "2 sets updated", "{'prod/w': {'added': 1}}")


def test_failed_or_test_mode_state_is_not_success():
    """Only result True counts; None (test=True) and False do not."""
    for result in (False, None):
        ret = {STATE_ID: {"result": result, "comment": "no", "changes": {}}}
        assert runner.summarize_state_return(ret)[0] is False


def test_render_errors_and_strings_are_failures():
    """A list of errors or a plain string (e.g. the state is missing) is a failure with that text."""
    assert runner.summarize_state_return(["Pillar failed to render"]) == (False, "Pillar failed to render", "")
    result, comment, _ = runner.summarize_state_return("'nodeallow.managed' is not available.")
    assert (result, comment) == (False, "'nodeallow.managed' is not available.")


def test_long_comments_are_cut():
    """Comments are cut so the cache and events stay small."""
    ret = {STATE_ID: {"result": False, "comment": "x" * 5000, "changes": {}}}
    assert len(runner.summarize_state_return(ret)[1]) == 500
