"""Every hook: its built-in default called directly and through a fresh plugin manager,
overridden by a registered plugin, and falling back to the default when a plugin returns None."""

from __future__ import annotations

import logging
from pathlib import Path

import click
import pytest

import dispatchd
from dispatchd import hookspecs
from dispatchd.config import AgentSettings, Config, DedicatedSession
from dispatchd.hooktypes import AgentLaunch, SessionInfo
from dispatchd.pluginmanager import get_plugin_manager
from dispatchd.plugins import claude, dispatch_log, messages, models, ordering, selection
from dispatchd.task import Task

PROJECT = Path("/srv/p")
CONFIG = Config(dedicated=(DedicatedSession("ded-p", PROJECT),))
AUTO = SessionInfo("auto-1", "autonomous")
DED = SessionInfo("ded-p", "dedicated", PROJECT)
NBSP = "\u00a0"
CLAUDE = claude.ClaudeCode()
CC = {"config": CONFIG, "agent": CLAUDE}


def task(**kw: object) -> Task:
    base: dict[str, object] = {"id": "T1", "name": "t.md", "project": PROJECT,
                               "path": PROJECT / "t.md", "body": "do it"}
    return Task(**{**base, **kw})  # type: ignore[arg-type]


class Nothing:
    """A plugin that implements every one-answer hook and always passes (returns None)."""

    @dispatchd.hookimpl
    def task_sort_key(self, task):  # type: ignore[no-untyped-def]
        return None

    @dispatchd.hookimpl
    def select_session(self, task, candidates, config):  # type: ignore[no-untyped-def]
        return None

    @dispatchd.hookimpl
    def choose_model(self, task, session, config):  # type: ignore[no-untyped-def]
        return None

    @dispatchd.hookimpl
    def build_message(self, task, session, model, config):  # type: ignore[no-untyped-def]
        return None

    @dispatchd.hookimpl
    def agent_command(self, task, session, model, config):  # type: ignore[no-untyped-def]
        return None

    @dispatchd.hookimpl
    def agent_ready(self, screen, task, config):  # type: ignore[no-untyped-def]
        return None

    @dispatchd.hookimpl
    def agent_idle(self, screen, task, session, config):  # type: ignore[no-untyped-def]
        return None


# -- task_sort_key ---------------------------------------------------------
def test_task_sort_key_default_orders_priority_then_arrival(pm):
    tasks = [task(id="a", priority="low", arrival=1), task(id="b", priority="critical", arrival=5),
             task(id="c", priority="high", arrival=3), task(id="d", priority="high", arrival=2)]
    assert [t.id for t in sorted(tasks, key=ordering.task_sort_key)] == ["b", "d", "c", "a"]
    assert [t.id for t in sorted(tasks, key=lambda t: pm.hook.task_sort_key(task=t))] == \
        ["b", "d", "c", "a"]


def test_task_sort_key_override_and_fallback(pm):
    class Newest:
        @dispatchd.hookimpl
        def task_sort_key(self, task):  # type: ignore[no-untyped-def]
            return (-task.arrival,)

    pm.register(Nothing())
    assert pm.hook.task_sort_key(task=task(arrival=7)) == (2, 7, (0, 0), "t.md", "T1")
    pm.register(Newest())
    assert pm.hook.task_sort_key(task=task(arrival=7)) == (-7,)


# -- select_session --------------------------------------------------------
def test_select_session_default_prefers_dedicated_then_autonomous(pm):
    assert selection.select_session(task(), [AUTO, DED], CONFIG) == "ded-p"
    assert pm.hook.select_session(task=task(), candidates=[AUTO, DED], config=CONFIG) == "ded-p"
    other = task(project=Path("/srv/other"))
    assert pm.hook.select_session(task=other, candidates=[DED, AUTO], config=CONFIG) == "auto-1"
    assert pm.hook.select_session(task=other, candidates=[DED], config=CONFIG) is None


def test_select_session_default_honours_a_bound_session(pm):
    bound = task(session="auto-9")
    assert pm.hook.select_session(task=bound, candidates=[AUTO, DED], config=CONFIG) is None
    bound = task(session="auto-1")
    assert pm.hook.select_session(task=bound, candidates=[DED, AUTO], config=CONFIG) == "auto-1"


def test_select_session_override_and_fallback(pm):
    class Last:
        @dispatchd.hookimpl
        def select_session(self, task, candidates, config):  # type: ignore[no-untyped-def]
            return candidates[-1].name if "docs" in task.tags else None

    pm.register(Nothing())
    pm.register(Last())
    assert pm.hook.select_session(task=task(tags=("docs",)), candidates=[DED, AUTO],
                                  config=CONFIG) == "auto-1"
    assert pm.hook.select_session(task=task(), candidates=[AUTO, DED], config=CONFIG) == "ded-p"


# -- choose_model ----------------------------------------------------------
@pytest.mark.parametrize(("priority", "model"), [("critical", "opus"), ("high", "sonnet"),
                                                 ("default", "sonnet"), ("low", "sonnet")])
def test_choose_model_default_maps_priority(pm, priority, model):
    assert models.choose_model(task(priority=priority), CLAUDE) == model
    assert pm.hook.choose_model(task=task(priority=priority), session=AUTO, **CC) == model


def test_choose_model_task_field_wins_and_plugins_override(pm):
    assert pm.hook.choose_model(task=task(model="haiku"), session=AUTO, **CC) == "haiku"

    class Cheap:
        @dispatchd.hookimpl
        def choose_model(self, task, session, config):  # type: ignore[no-untyped-def]
            return "haiku" if task.priority == "low" else None

    pm.register(Nothing())
    pm.register(Cheap())
    assert pm.hook.choose_model(task=task(priority="low"), session=AUTO, **CC) == "haiku"
    assert pm.hook.choose_model(task=task(priority="critical"), session=AUTO,
                                config=CONFIG, agent=CLAUDE) == "opus"


# -- build_message ---------------------------------------------------------
def test_build_message_default_is_the_seed_format(pm):
    text = pm.hook.build_message(task=task(), session=AUTO, model="sonnet", config=CONFIG)
    assert text == messages.build_message(task(), AUTO, "sonnet", CONFIG)
    assert text.startswith("[t.md] do it\n\n") and "carry out" in text
    empty = pm.hook.build_message(task=task(body=""), session=AUTO, model="m", config=CONFIG)
    assert empty.startswith(f"[t.md] {messages.EMPTY_BODY}")


def test_build_message_override_and_fallback(pm):
    class Terse:
        @dispatchd.hookimpl
        def build_message(self, task, session, model, config):  # type: ignore[no-untyped-def]
            return task.body if "terse" in task.tags else None

    pm.register(Nothing())
    pm.register(Terse())
    assert pm.hook.build_message(task=task(tags=("terse",)), session=AUTO, model="m",
                                 config=CONFIG) == "do it"
    assert pm.hook.build_message(task=task(), session=AUTO, model="m",
                                 config=CONFIG).startswith("[t.md]")


# -- agent_command ---------------------------------------------------------
def test_agent_command_default_launches_claude(pm, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    launch = pm.hook.agent_command(task=task(), session=AUTO, model="opus", config=CONFIG, agent=CLAUDE)
    assert launch.argv[:4] == ("claude", "--model", "opus", "--dangerously-skip-permissions")
    assert "--resume" not in launch.argv
    settings = launch.argv[launch.argv.index("--settings") + 1]
    assert '"Stop"' in settings and ".stop.auto-1.T1.json" in settings
    assert launch.env["CLAUDECODE"] is None


def test_agent_command_default_consumes_the_resume_id_once(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    resume = tmp_path / ".claude-context" / "auto-1-resume-id.txt"
    resume.parent.mkdir()
    resume.write_text("3f2b8c1e-1111-2222-3333-444455556666\n")
    first = CLAUDE.command(task(), AUTO, "sonnet", CONFIG, AgentSettings())
    assert first.argv[4:6] == ("--resume", "3f2b8c1e-1111-2222-3333-444455556666")
    assert not resume.exists()
    assert "--resume" not in CLAUDE.command(task(), AUTO, "sonnet", CONFIG, AgentSettings()).argv
    resume.write_text("--settings=evil.json")
    assert "--resume" not in CLAUDE.command(task(), AUTO, "sonnet", CONFIG, AgentSettings()).argv


def test_agent_command_override_and_fallback(pm):
    class Aider:
        @dispatchd.hookimpl
        def agent_command(self, task, session, model, config):  # type: ignore[no-untyped-def]
            return AgentLaunch(("aider", "--model", model)) if task.agent == "aider" else None

    pm.register(Nothing())
    pm.register(Aider())
    assert pm.hook.agent_command(task=task(agent="aider"), session=AUTO, model="m",
                                 config=CONFIG, agent=CLAUDE).argv == ("aider", "--model", "m")
    assert pm.hook.agent_command(task=task(), session=AUTO, model="m",
                                 config=CONFIG, agent=CLAUDE).argv[0] == "claude"


# -- agent_ready / agent_idle ---------------------------------------------
READY = f"header\n❯ old message\n{'─' * 20}\n❯{NBSP}\n{'─' * 20}\n  ? for shortcuts"
BUSY = READY.replace("? for shortcuts", "esc to interrupt")
DIALOG = " Do you trust the files in this folder?\n ❯ 1. Yes, I trust this folder\n   2. No"
SHELL = "user@host ~ ❯ \n"


@pytest.mark.parametrize(("screen", "ready"), [(READY, True), (BUSY, False), (DIALOG, False),
                                               (SHELL, False), ("❯ past message only", False),
                                               ("", False)])
def test_agent_ready_default_reads_claude_screens(pm, screen, ready):
    assert CLAUDE.ready(screen) is ready
    assert pm.hook.agent_ready(screen=screen, task=task(), config=CONFIG, agent=CLAUDE) is ready


def test_agent_ready_override_and_fallback(pm):
    class Repl:
        @dispatchd.hookimpl
        def agent_ready(self, screen, task, config):  # type: ignore[no-untyped-def]
            return screen.rstrip().endswith(">>>") or None

    pm.register(Nothing())
    pm.register(Repl())
    assert pm.hook.agent_ready(screen="Python\n>>>", task=task(), config=CONFIG, agent=CLAUDE) is True
    assert pm.hook.agent_ready(screen=READY, task=task(), config=CONFIG, agent=CLAUDE) is True
    assert pm.hook.agent_ready(screen=BUSY, task=task(), config=CONFIG, agent=CLAUDE) is False


def test_agent_idle_default_and_override(pm):
    assert CLAUDE.idle(READY) is True
    assert pm.hook.agent_idle(screen=BUSY, task=task(), session=AUTO, config=CONFIG, agent=CLAUDE) is False

    class Never:
        @dispatchd.hookimpl
        def agent_idle(self, screen, task, session, config):  # type: ignore[no-untyped-def]
            return False

    pm.register(Nothing())
    assert pm.hook.agent_idle(screen=READY, task=task(), session=AUTO, config=CONFIG, agent=CLAUDE) is True
    pm.register(Never())
    assert pm.hook.agent_idle(screen=READY, task=task(), session=AUTO, config=CONFIG, agent=CLAUDE) is False


# -- notification hooks ------------------------------------------------------
class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    @dispatchd.hookimpl
    def on_dispatched(self, task, session, model):  # type: ignore[no-untyped-def]
        self.calls.append(("dispatched", (task.name, session.name, model)))

    @dispatchd.hookimpl
    def on_task_finished(self, task, session, outcome, reason):  # type: ignore[no-untyped-def]
        self.calls.append(("finished", (task.name, outcome, reason)))

    @dispatchd.hookimpl
    def on_launch_failed(self, task, session, reason):  # type: ignore[no-untyped-def]
        self.calls.append(("launch_failed", (task.name, reason)))


def test_on_dispatched_logs_the_seed_line_and_reaches_plugins(pm, caplog):
    rec = Recorder()
    pm.register(rec)
    with caplog.at_level(logging.INFO, logger="dispatchd"):
        pm.hook.on_dispatched(task=task(), session=AUTO, model="opus")
    assert "DISPATCHED session=auto-1 task=t.md model=opus" in caplog.text
    assert rec.calls == [("dispatched", ("t.md", "auto-1", "opus"))]
    dispatch_log.on_dispatched(task(name="x\x1b.md"), AUTO, "m")
    assert "\x1b" not in caplog.text


def test_on_task_finished_logs_and_reaches_plugins(pm, caplog):
    rec = Recorder()
    pm.register(rec)
    with caplog.at_level(logging.WARNING, logger="dispatchd"):  # seen with -q too
        pm.hook.on_task_finished(task=task(), session=None, outcome="failed", reason="broken")
        pm.hook.on_task_finished(task=task(), session=AUTO, outcome="indoubt", reason="cut")
        pm.hook.on_task_finished(task=task(), session=AUTO, outcome="done", reason=None)
    t = task()
    assert f"FAILED task=t.md id={t.id} reason=broken" in caplog.text
    assert f"INDOUBT session=auto-1 task=t.md id={t.id} reason=cut" in caplog.text
    assert "DONE" not in caplog.text  # done is news, not a warning
    assert rec.calls[0] == ("finished", ("t.md", "failed", "broken"))


def test_on_launch_failed_logs_and_reaches_plugins(pm, caplog):
    rec = Recorder()
    pm.register(rec)
    with caplog.at_level(logging.INFO, logger="dispatchd"):
        pm.hook.on_launch_failed(task=task(), session=AUTO, reason="timeout")
    assert "LAUNCH-FAILED session=auto-1 task=t.md reason=timeout" in caplog.text
    assert rec.calls == [("launch_failed", ("t.md", "timeout"))]


def test_register_commands_adds_cli_commands(pm):
    class Cmd:
        @dispatchd.hookimpl
        def register_commands(self, cli):  # type: ignore[no-untyped-def]
            @cli.command(name="hello")
            def hello() -> None:
                click.echo("hi")

    group = click.Group()
    pm.register(Cmd())
    pm.hook.register_commands(cli=group)
    assert "hello" in group.commands


# -- the plugin manager --------------------------------------------------------
def test_manager_is_fresh_each_time_and_blocks_by_name(monkeypatch):
    a, b = get_plugin_manager(entry_points=False), get_plugin_manager(entry_points=False)
    assert a is not b and a.get_plugin("models") is not None
    monkeypatch.setenv("DISPATCHD_DISABLE_PLUGINS", "models, claude")
    blocked = get_plugin_manager(entry_points=False)
    assert blocked.is_blocked("models") and blocked.get_plugin("models") is None
    assert blocked.hook.choose_model(task=task(), session=AUTO, config=CONFIG, agent=CLAUDE) is None


def test_a_plugin_that_fails_to_import_is_logged_and_skipped(tmp_path, monkeypatch, caplog):
    dist = tmp_path / "broken_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[dispatchd]\nbroken = no_such_module_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with caplog.at_level(logging.ERROR):
        pm = get_plugin_manager()
    assert "plugin 'broken' (from broken-plugin) failed to load" in caplog.text
    assert [f.name for f in pm.load_failures] == ["broken"]
    assert pm.hook.choose_model(task=task(), session=AUTO, config=CONFIG, agent=CLAUDE) == "sonnet"


def test_every_hook_has_a_test_and_a_docs_entry():
    names = [n for n in dir(hookspecs) if not n.startswith("_")
             and hasattr(getattr(hookspecs, n), "dispatchd_spec")]
    assert len(names) >= 10
    here = Path(__file__).read_text()
    docs = (Path(__file__).parents[1] / "docs" / "hooks.md").read_text()
    for name in names:
        assert f"def test_{name}" in here, f"hook {name} has no test named after it"
        assert f"### `{name}(" in docs, f"hook {name} has no entry in docs/hooks.md"


def test_core_never_imports_a_builtin_plugin():
    core = Path(__file__).parents[1] / "core"
    for path in core.glob("*.py"):
        text = path.read_text()
        assert "from .plugins" not in text and "import dispatchd.plugins" not in text, path
        assert "from dispatchd.plugins" not in text, path


# -- backends ------------------------------------------------------------------
def test_task_store_default_is_the_file_store_and_can_be_replaced(pm):
    from dispatchd.engine import Engine
    from dispatchd.store import FileStore

    assert isinstance(pm.hook.task_store(config=CONFIG), FileStore)

    class Shared(FileStore):
        pass

    class SharedQueue:
        @dispatchd.hookimpl
        def task_store(self, config):  # type: ignore[no-untyped-def]
            return Shared()

    pm.register(SharedQueue())
    assert isinstance(Engine(CONFIG, pm).store, Shared)


def test_session_transport_default_is_local_tmux_and_can_be_replaced(pm):
    from dispatchd.engine import Engine
    from dispatchd.tmux import TmuxTransport

    assert isinstance(pm.hook.session_transport(config=CONFIG), TmuxTransport)
    remote = object()

    class Remote:
        @dispatchd.hookimpl
        def session_transport(self, config):  # type: ignore[no-untyped-def]
            return remote

    pm.register(Remote())
    assert Engine(CONFIG, pm).transport is remote


def test_agent_input_pending_default_and_override(pm):
    pending = READY.replace(f"❯{NBSP}\n", f"❯{NBSP}[Pasted text #1 +4 lines]\n")
    assert CLAUDE.input_pending(pending) is True
    assert pm.hook.agent_input_pending(screen=READY, task=task(), config=CONFIG, agent=CLAUDE) is False
    placeholder = READY.replace(f"❯{NBSP}\n", f"❯{NBSP}Once fixed, resend your message\n")
    assert pm.hook.agent_input_pending(screen=placeholder, task=task(), config=CONFIG, agent=CLAUDE) is False

    class Always:
        @dispatchd.hookimpl
        def agent_input_pending(self, screen, task, config):  # type: ignore[no-untyped-def]
            return True

    pm.register(Always())
    assert pm.hook.agent_input_pending(screen=READY, task=task(), config=CONFIG, agent=CLAUDE) is True


def test_agent_command_without_agent_hooks_does_not_claim_acknowledgements(pm, tmp_path,
                                                                             monkeypatch):
    from dataclasses import replace

    monkeypatch.setenv("HOME", str(tmp_path))
    launch = pm.hook.agent_command(task=task(), session=AUTO, model="m", config=CONFIG, agent=CLAUDE)
    assert launch.acknowledges and "UserPromptSubmit" in launch.argv[-1]
    quiet = pm.hook.agent_command(task=task(), session=AUTO, model="m",
                                  config=replace(CONFIG, agent_hooks=False), agent=CLAUDE)
    assert not quiet.acknowledges and "hooks" not in quiet.argv[-1]
    assert '"skipDangerousModePermissionPrompt":true' in quiet.argv[-1]  # never the bypass dialog


def test_agent_usage_limit_default_and_override(pm):
    import time

    limited = READY.replace(f"❯{NBSP}\n", f"  ⎿  You've hit your limit · resets 4:30pm (UTC)\n❯{NBSP}\n")
    until = pm.hook.agent_usage_limit(screen=limited, task=task(), config=CONFIG, agent=CLAUDE)
    assert until is not None and time.gmtime(until)[3:5] == (16, 30)
    assert 0 <= until - time.time() <= 86400
    assert pm.hook.agent_usage_limit(screen=READY, task=task(), config=CONFIG, agent=CLAUDE) is None
    # a task that only talks about limits, shown as the user's own message, is not a limit
    echo = READY.replace(f"❯{NBSP}\n", "❯ fix 'rate limit reached, resets 5pm'\n" + f"❯{NBSP}\n")
    assert pm.hook.agent_usage_limit(screen=echo, task=task(), config=CONFIG, agent=CLAUDE) is None
    vague = READY.replace(f"❯{NBSP}\n", f"  ⎿  Claude usage limit reached.\n❯{NBSP}\n")
    hold = pm.hook.agent_usage_limit(screen=vague, task=task(), config=CONFIG, agent=CLAUDE)
    assert hold is not None and abs(hold - time.time() - claude.LIMIT_DEFAULT_HOLD) < 60

    class Quota:
        @dispatchd.hookimpl
        def agent_usage_limit(self, screen, task, config):  # type: ignore[no-untyped-def]
            return 42.0 if "quota exhausted" in screen else None

    pm.register(Quota())
    assert pm.hook.agent_usage_limit(screen="quota exhausted", task=task(), **CC) == 42.0
    assert pm.hook.agent_usage_limit(screen=limited, task=task(), config=CONFIG, agent=CLAUDE) == until


def test_agent_setback_default_and_override(pm):
    from dispatchd.setback import Setback

    report = {"error": "overloaded", "last_assistant_message": "API Error: 529"}
    found = pm.hook.agent_setback(screen=READY, report=report, task=task(), config=CONFIG,
                                  agent=CLAUDE)
    assert found == Setback("outage", "API overloaded", None, None)  # no transcript to read
    own = {"error": "invalid_request", "last_assistant_message": "API Error: 400"}
    assert pm.hook.agent_setback(screen=READY, report=own, task=task(), config=CONFIG,
                                 agent=CLAUDE) is None
    assert pm.hook.agent_setback(screen=READY, report=None, task=task(), config=CONFIG,
                                 agent=CLAUDE) is None

    class Quota:
        @dispatchd.hookimpl
        def agent_setback(self, report):  # type: ignore[no-untyped-def]
            if report and report.get("error") == "quota_exhausted":
                return Setback("limit", "quota", worked=False)
            return None

    pm.register(Quota())
    quota = pm.hook.agent_setback(screen="", report={"error": "quota_exhausted"}, task=task(),
                                  config=CONFIG, agent=CLAUDE)
    assert quota == Setback("limit", "quota", worked=False)
    assert pm.hook.agent_setback(screen=READY, report=report, task=task(), config=CONFIG,
                                 agent=CLAUDE) == found


def test_register_agents_adds_an_agent_that_tasks_and_sessions_can_pick(pm):
    from dispatchd.agents import AgentProfile, AgentRegistry

    class Echo(AgentProfile):
        name = "echo"
        program = ("llm", "chat", "-m", "echo")

        def prompt(self, screen: str) -> bool:
            return screen.rstrip().endswith(">")

    class EchoPlugin:
        @dispatchd.hookimpl
        def register_agents(self, register):  # type: ignore[no-untyped-def]
            register(Echo())

    profiles: list[AgentProfile] = []
    pm.hook.register_agents(register=profiles.append)
    assert "claude" in [p.name for p in profiles]
    pm.register(EchoPlugin())
    profiles.clear()
    pm.hook.register_agents(register=profiles.append)
    registry = AgentRegistry(profiles)
    assert registry.default == "claude" and isinstance(registry.get("echo"), Echo)
    echo = registry.get("echo")
    assert pm.hook.agent_ready(screen="hi\n>", task=task(), config=CONFIG, agent=echo) is True
    assert pm.hook.agent_ready(screen=READY, task=task(), config=CONFIG, agent=echo) is False
    launch = pm.hook.agent_command(task=task(agent="echo"), session=AUTO, model="",
                                   config=CONFIG, agent=echo)
    assert launch.argv == ("llm", "chat", "-m", "echo")
    assert pm.hook.choose_model(task=task(), session=AUTO, config=CONFIG, agent=echo) == ""
    with pytest.raises(LookupError, match=r"unknown agent 'nope' \(installed: aider, claude, "
                                          r"codex, echo, gemini\)"):
        registry.get("nope")


def test_the_types_a_plugin_needs_come_from_the_package_root():
    import dispatchd
    from dispatchd import AgentLaunch, AgentProfile, SessionInfo, Setback, Task, hookimpl
    from dispatchd.agents import AgentProfile as Profile
    from dispatchd.hooktypes import AgentLaunch as Launch
    from dispatchd.hooktypes import SessionInfo as Info
    from dispatchd.setback import Setback as Back
    from dispatchd.task import Task as TaskType

    assert (Task, SessionInfo, AgentProfile, AgentLaunch, Setback) == (TaskType, Info, Profile,
                                                                      Launch, Back)
    assert hookimpl is dispatchd.hookimpl
    with pytest.raises(AttributeError):
        dispatchd.Nothing  # noqa: B018


def test_agent_account_default_and_override(pm):
    assert pm.hook.agent_account(agent=CLAUDE, config=CONFIG) == "claude"

    class Team:
        @dispatchd.hookimpl
        def agent_account(self, agent):  # type: ignore[no-untyped-def]
            return f"{agent.name}-team-a"

    pm.register(Team())
    assert pm.hook.agent_account(agent=CLAUDE, config=CONFIG) == "claude-team-a"
