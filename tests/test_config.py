"""Config loading: the seed's file unchanged, additions, and errors naming file, key and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatchd.config import ConfigError, load_config, parse_config
from dispatchd.durations import format_duration, parse_duration

SEED_CONFIG = """\
pool:
  dedicated:
    - name: proj-a
      project: /home/u/src/a
  autonomous:
    prefix: ccl-auto-
    start_index: 1
    min: 2
    max: 10
  shared_projects_dir: /home/u/src
dispatcher:
  projects_dir: /home/u/src
  prompt_timeout: 30s
failover:
  anything: goes
"""


def test_seed_config_loads_unchanged(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(SEED_CONFIG)
    cfg = load_config(path)
    assert cfg.dedicated[0].name == "proj-a" and cfg.dedicated[0].project == Path("/home/u/src/a")
    assert cfg.autonomous.names()[0] == "ccl-auto-1" and cfg.autonomous.names()[-1] == "ccl-auto-10"
    assert cfg.session_names()[0] == "proj-a"
    assert cfg.projects_dirs == (Path("/home/u/src"),)
    assert cfg.prompt_timeout == 30 and cfg.cooldown == 300 and cfg.poll_interval == 60
    assert cfg.extra == {"failover": {"anything": "goes"}}


def test_defaults_when_no_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    cfg = load_config()
    assert cfg.source == "<defaults>" and cfg.agent_command == () and not cfg.agents
    assert cfg.projects_dirs == (Path.home() / "projects",)
    assert cfg.session_names() == ["ccl-auto-1", "ccl-auto-2", "ccl-auto-3", "ccl-auto-4"]
    assert cfg.state_dir == tmp_path / "state" / "dispatchd"


def test_explicit_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(("doc", "key", "reason"), [
    ({"pool": {"autonomous": {"max": "ten"}}}, "pool.autonomous.max", "integer"),
    ({"pool": {"autonomous": {"min": 5, "max": 2}}}, "pool.autonomous.min", "larger than max"),
    ({"pool": {"dedicated": [{"name": "a.b", "project": "/x"}]}}, "pool.dedicated[0].name",
     "no '.' or ':'"),
    ({"pool": {"dedicated": [{"name": "a"}]}}, "pool.dedicated[0]", "needs both"),
    ({"pool": {"dedicated": [{"name": "ccl-auto-1", "project": "/x"}]}}, "pool",
     "used twice"),
    ({"dispatcher": {"prompt_timeout": "soon"}}, "dispatcher.prompt_timeout", "duration"),
    ({"dispatcher": {"agent_command": []}}, "dispatcher.agent_command", "argv"),
    ({"dispatcher": {"agent_env": {"1BAD": "x"}}}, "dispatcher.agent_env.1BAD", "NAME"),
    ({"tmux": {"socket_name": "a", "socket_path": "/b"}}, "tmux", "not both"),
    (["not", "a", "mapping"], "<top>", "mapping"),
])
def test_invalid_config_names_file_key_and_reason(doc, key, reason):
    with pytest.raises(ConfigError) as err:
        parse_config(doc, "cfg.yaml", Path("/"))
    assert err.value.source == "cfg.yaml" and err.value.key == key
    assert reason in err.value.reason
    assert str(err.value).startswith(f"cfg.yaml: {key}: ")


def test_invalid_yaml_and_unknown_keys(tmp_path, caplog):
    path = tmp_path / "c.yaml"
    path.write_text("pool: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)
    path.write_text("dispatcher:\n  promt_timeout: 3s\n")  # a typo is an error that names the key
    with pytest.raises(ConfigError, match=r"dispatcher\.promt_timeout: unknown key; did you mean "
                                          r"'prompt_timeout'"):
        load_config(path)
    path.write_text("dispatch:\n  prompt_timeout: 3s\n")
    with pytest.raises(ConfigError, match="dispatch: unknown key; did you mean 'dispatcher'"):
        load_config(path)
    path.write_text("dispatcher:\n  log_level: debug\n")
    with pytest.raises(ConfigError, match=r"dispatcher\.log_level: unknown key \(known: "):
        load_config(path)
    path.write_text("notify:\n  x: 1\n")  # other sections are for plugins (or other tools)
    assert load_config(path).extra == {"notify": {"x": 1}}


def test_relative_paths_are_relative_to_the_config_file(tmp_path):
    cfg = parse_config({"pool": {"shared_projects_dir": "projects"},
                        "tmux": {"socket_path": "sock"}}, "c", tmp_path)
    assert cfg.projects_dirs == (tmp_path / "projects",)
    assert cfg.tmux.socket_path == tmp_path / "sock"


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("5m", 300), ("1h30m", 5400),
                                               ("500ms", 0.5), (12, 12), ("2.5", 2.5)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "5 minutes", "-1s", True, None, "1x"])
def test_bad_durations(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_format_duration():
    assert [format_duration(s) for s in (0.25, 30, 90, 3600)] == ["250ms", "30s", "1m30s", "1h"]


def test_tmux_server_choice(monkeypatch):
    from dispatchd.config import TmuxServer
    from dispatchd.tmux import tmux_base

    monkeypatch.setenv("TMUX", "/tmp/tmux-0/default,1,0")
    assert tmux_base(TmuxServer()) == ["tmux"]  # inside tmux: that server, as plain tmux does
    assert tmux_base(TmuxServer(socket_name="agents")) == ["tmux", "-L", "agents"]
    assert tmux_base(TmuxServer(socket_path=Path("/run/s"))) == ["tmux", "-S", "/run/s"]
