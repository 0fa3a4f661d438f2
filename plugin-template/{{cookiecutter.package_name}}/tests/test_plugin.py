"""Tests of the plugin's decision, with dispatchd's own test helpers (no tmux needed)."""

from dispatchd.testing import decide, make_session, make_task, plugin_manager

import {{ cookiecutter.module_name }} as plugin


def test_docs_tasks_go_to_the_docs_session():
    pm = plugin_manager(plugin)
    free = [make_session("ccl-auto-1"), make_session(plugin.TARGET_SESSION)]
    assert decide(pm, make_task(tags=["docs"]), free).session == plugin.TARGET_SESSION


def test_other_tasks_keep_the_default_choice():
    pm = plugin_manager(plugin)
    free = [make_session("ccl-auto-1"), make_session(plugin.TARGET_SESSION)]
    assert decide(pm, make_task(), free).session == "ccl-auto-1"


def test_docs_tasks_wait_while_the_docs_session_is_busy():
    pm = plugin_manager(plugin)
    assert decide(pm, make_task(tags=["docs"]), [make_session("ccl-auto-1")]).session is None
