"""A real plugin package, installed with pip during the test run, changes the daemon's decisions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from harness import AgentLog, TmuxServer, wait_for, write_task

PACKAGE = Path(__file__).with_name("plugin_pkg")


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pip-install the package into a private folder (the test environment stays untouched)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(target), str(PACKAGE)],
                   check=True, capture_output=True, timeout=300)
    return target


def test_installed_plugin_is_listed(plugin_site: Path, make_daemon):
    daemon = make_daemon(PYTHONPATH=str(plugin_site))
    out = daemon.run_once("plugins", "--json")
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    row = rows["test_policy"]
    assert row["package"] == "dispatchd-test-policy" and row["version"] == "1.2.3"
    assert row["hooks"] == ["choose_model", "select_session"] and row["status"] == "active"


def test_installed_plugin_decides_session_and_model(plugin_site: Path, tmp_path: Path,
                                                    tmux: TmuxServer, agent_log: AgentLog,
                                                    make_daemon):
    project = tmp_path / "projects" / "p"
    project.mkdir(parents=True)
    tmux.new_session("auto-1")
    tmux.new_session("auto-2")
    env = {"PYTHONPATH": os.pathsep.join([str(plugin_site), os.environ.get("PYTHONPATH", "")])}
    make_daemon({"pool": {"autonomous": {"prefix": "auto-", "start_index": 1, "max": 2},
                          "shared_projects_dir": "projects"}}, **env).start()
    write_task(project, "write-docs.md", "document it", tags=["docs", "cheap"])
    wait_for(lambda: agent_log.submits(), 30, "submit")
    (rec,) = agent_log.submits()
    assert rec["dispatchd_session"] == "auto-2"  # auto-1 was free too: the plugin chose
    assert rec["model"] == "haiku"
    write_task(project, "plain.md", "no tags")
    wait_for(lambda: len(agent_log.submits()) == 2, 30, "second submit")
    assert agent_log.submits()[1]["model"] == "sonnet"  # plugin returned None: default


def test_an_allow_list_loads_only_the_installed_plugins_it_names(plugin_site: Path, make_daemon):
    def status(allow: str) -> str:
        daemon = make_daemon(PYTHONPATH=str(plugin_site), DISPATCHD_PLUGINS=allow)
        rows = {r["name"]: r for r in json.loads(daemon.run_once("plugins", "--json").stdout)}
        assert rows["models"]["status"] == "active (built-in)"  # built-ins are not affected
        return str(rows["test_policy"]["status"])

    assert status("") == "blocked"
    assert status("test_policy, other") == "active"


def test_a_plain_python_file_named_in_the_config_is_a_plugin(tmp_path):
    """A 10-line policy needs no packaging: ``plugins: [policy.py]`` in the config."""
    import json

    from click.testing import CliRunner

    from dispatchd.cli import Context, cli
    from dispatchd.pluginmanager import get_plugin_manager
    from dispatchd.testing import make_session, make_task

    (tmp_path / "policy.py").write_text(
        "import dispatchd\n\n"
        "@dispatchd.hookimpl\n"
        "def select_session(task, candidates):\n"
        "    names = [c.name for c in candidates]\n"
        "    return 'w-2' if 'w-2' in names else None\n")
    (tmp_path / "broken.py").write_text("raise RuntimeError('not today')\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps({"plugins": ["policy.py", "broken.py"],
                               "pool": {"autonomous": {"prefix": "w-", "max": 2}},
                               "dispatcher": {"state_dir": str(tmp_path / "state")}}))
    ctx = Context(get_plugin_manager(entry_points=False), cfg)
    config = ctx.config
    chosen = ctx.pm.hook.select_session(task=make_task(), config=config,
                                        candidates=[make_session("w-1"), make_session("w-2")])
    assert chosen == "w-2"  # the file's policy wins over the built-in default
    listed = CliRunner().invoke(cli, ["-c", str(cfg), "plugins", "--json"],
                                obj=Context(get_plugin_manager(entry_points=False), None))
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["policy"]["status"] == "active (file)"
    assert rows["policy"]["package"] == str(tmp_path / "policy.py")
    assert rows["broken"]["status"].startswith("failed to load: RuntimeError: not today")
    missing = tmp_path / "m.yaml"
    missing.write_text(json.dumps({"plugins": ["nope.py"]}))
    bad = CliRunner().invoke(cli, ["-c", str(missing), "status"],
                             obj=Context(get_plugin_manager(entry_points=False), None))
    assert bad.exit_code == 3 and "plugins[0]:" in bad.output and "is not a .py file" in bad.output
