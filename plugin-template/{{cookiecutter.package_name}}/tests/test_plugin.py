from pathlib import Path

from dispatchd.config import Config
from dispatchd.hooktypes import SessionInfo
from dispatchd.pluginmanager import get_plugin_manager
from dispatchd.task import Task

import {{ cookiecutter.module_name }} as plugin


def make_task(**kw):
    return Task(id="1", name="t.md", project=Path("/p"), path=Path("/p/t.md"), body="x", **kw)


def test_docs_tasks_go_to_the_docs_session():
    pm = get_plugin_manager(entry_points=False)
    pm.register(plugin)
    candidates = [SessionInfo("ccl-auto-1", "autonomous"),
                  SessionInfo(plugin.TARGET_SESSION, "autonomous")]
    choose = pm.hook.select_session
    assert choose(task=make_task(tags=("docs",)), candidates=candidates,
                  config=Config()) == plugin.TARGET_SESSION
    assert choose(task=make_task(), candidates=candidates, config=Config()) == "ccl-auto-1"
