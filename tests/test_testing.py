"""dispatchd.testing: a plugin's decisions tested in one line each, without tmux."""

from __future__ import annotations

import logging

import dispatchd
from dispatchd.testing import decide, make_session, make_task, plugin_manager


class DocsRouter:
    """The plugin the README's tutorial writes: ``tags: [docs]`` goes to ``docs-writer``."""

    @dispatchd.hookimpl
    def select_session(self, task, candidates, config):  # type: ignore[no-untyped-def]
        return "docs-writer" if "docs" in task.tags else None


def test_decide_runs_one_dispatch_decision_with_the_builtins():
    pm = plugin_manager()
    decision = decide(pm, make_task("fix it", priority="critical"), [make_session("ccl-auto-1")])
    assert decision.session == "ccl-auto-1" and decision.agent == "claude"
    assert decision.model == "opus" and decision.launch is not None
    assert decision.launch.argv[:3] == ("claude", "--model", "opus")
    assert decision.message.startswith("[t.md] fix it")


def test_decide_with_a_plugin_and_a_task_that_must_wait():
    pm = plugin_manager(DocsRouter())
    free = [make_session("ccl-auto-1"), make_session("docs-writer")]
    assert decide(pm, make_task(tags=["docs"]), free).session == "docs-writer"
    assert decide(pm, make_task(), free).session == "ccl-auto-1"
    busy_writer = [make_session("ccl-auto-1")]  # docs-writer is busy: not among the free ones
    assert decide(pm, make_task(tags=["docs"]), busy_writer).session is None


def test_decide_honours_the_agent_of_the_task_or_session():
    pm = plugin_manager()
    codex = decide(pm, make_task(agent="codex"), [make_session()])
    assert codex.agent == "codex" and codex.launch is not None and codex.launch.argv[0] == "codex"
    aider = decide(pm, make_task(), [make_session(agent="aider")])
    assert aider.agent == "aider" and aider.model == ""


def test_hook_calls_are_traced_when_asked(monkeypatch, caplog):
    monkeypatch.setenv("DISPATCHD_TRACE_HOOKS", "1")
    pm = plugin_manager(DocsRouter())
    with caplog.at_level(logging.INFO, logger="dispatchd.hooks"):
        decide(pm, make_task(tags=["docs"]), [make_session("docs-writer")])
    assert "call select_session(task=Task(" in caplog.text
    assert "select_session -> 'docs-writer'" in caplog.text
    assert "choose_model -> 'sonnet'" in caplog.text
