"""The command line: validate, enqueue, status, plugins, config errors and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from harness import write_task

from dispatchd.cli import EXIT_CONFIG, Context, cli
from dispatchd.config import load_config
from dispatchd.pluginmanager import get_plugin_manager


def invoke(*args: str, input: str | None = None):
    ctx = Context(get_plugin_manager(entry_points=False), None)
    return CliRunner().invoke(cli, list(args), obj=ctx, input=input)


def config(tmp_path: Path, **dispatcher: object) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps({"pool": {"autonomous": {"prefix": "w-", "max": 2},
                                         "shared_projects_dir": str(tmp_path / "projects")},
                                "dispatcher": {"state_dir": str(tmp_path / "state"),
                                               **dispatcher}}))
    return str(path)


def test_validate_reports_each_file_and_exits_1_on_any_invalid(tmp_path):
    good = tmp_path / "good.md"
    good.write_text("---\npriority: critical\nmodel: opus\n---\nbody")
    bad = tmp_path / "bad.md"
    bad.write_text("---\npriority: whenever\n---\nbody")
    plain = tmp_path / "plain.md"
    plain.write_text("no frontmatter at all")
    ok = invoke("validate", str(good), str(plain))
    assert ok.exit_code == 0 and "ok       " in ok.output and "warning  " in ok.output
    res = invoke("validate", str(good), str(bad))
    assert res.exit_code == 1
    assert f"invalid  {bad}: invalid field priority: 'whenever'" in res.output


def test_validate_fails_a_file_that_would_lose_its_fields(tmp_path):
    broken = tmp_path / "broken.md"
    broken.write_text("---\npriority: high\ntitle: [x\n---\nbody")
    typo = tmp_path / "typo.md"
    typo.write_text("---\npriorty: high\njira: ABC-1\n---\nbody")  # jira: a plugin's field
    res = invoke("validate", str(broken), str(typo))
    assert res.exit_code == 1
    assert f"invalid  {broken}: fields it sets would be lost: frontmatter is not valid" in res.output
    assert ("unknown field 'priorty', ignored; did you mean 'priority'?" in res.output
            and "jira" not in res.output)


def test_validate_takes_folders_and_projects(tmp_path):
    inbox = tmp_path / "p" / ".agent-queue" / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "a.md").write_text("---\npriority: low\n---\nbody")
    (inbox / ".hidden.md").write_text("not a task")
    folder = tmp_path / "drafts"
    folder.mkdir()
    (folder / "b.md").write_text("---\npriority: whenever\n---\nbody")
    res = invoke("validate", str(tmp_path / "p"), str(folder))
    assert res.exit_code == 1, res.output
    assert f"ok       {inbox / 'a.md'}: priority=low" in res.output
    assert f"invalid  {folder / 'b.md'}" in res.output and "hidden" not in res.output


def test_enqueue_writes_atomically_and_never_overwrites(tmp_path):
    project = tmp_path / "p"
    project.mkdir()
    res = invoke("enqueue", str(project), "--force", "--title", "Fix the build", "--priority",
                 "high", "--name", "fix.md", input="Make CI green.\n")
    assert res.exit_code == 0, res.output
    path = project / ".agent-queue" / "inbox" / "fix.md"
    assert res.output.strip() == str(path)
    assert "priority: high" in path.read_text() and "Make CI green." in path.read_text()
    again = invoke("enqueue", str(project), "--force", "--name", "fix.md", input="other")
    assert again.exit_code == 1 and "already exists" in again.output
    bad = invoke("enqueue", str(project), "--force", "--model", "--evil", input="x")
    assert bad.exit_code == 1 and "invalid field model" in bad.output
    assert not list((project / ".agent-queue" / "tmp").iterdir())
    tagged = invoke("enqueue", str(project), "--force", "--tag", "docs", "--tag", "api",
                    "--agent", "codex", "--name", "t.md", input="Document it.")
    assert tagged.exit_code == 0, tagged.output
    text = (project / ".agent-queue" / "inbox" / "t.md").read_text()
    assert "tags:\n- docs\n- api\n" in text and "agent: codex" in text


def test_status_without_a_daemon_counts_tasks_per_project(tmp_path):
    project = tmp_path / "projects" / "p"
    write_task(project, "a.md", "x")
    write_task(project, "b.md", "y")
    cfg = config(tmp_path)
    res = invoke("-c", cfg, "status", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["daemon"]["running"] is False
    assert [s["name"] for s in data["sessions"]] == ["w-1", "w-2"]
    (proj,) = data["projects"]
    assert proj["path"] == str(project) and proj["counts"]["inbox"] == 2
    text = invoke("-c", cfg, "status").output
    assert "daemon: not running" in text and "INBOX" in text and str(project) in text
    indoubt = project / ".agent-queue" / "indoubt"
    indoubt.mkdir()
    (indoubt / "20260101T000000-aaaaaaaaaaaa.c.md").write_text("z")
    (indoubt / "20260101T000000-aaaaaaaaaaaa.c.md.reason").write_text("unknown\n")
    (proj,) = json.loads(invoke("-c", cfg, "status", "--json").output)["projects"]
    assert proj["counts"]["indoubt"] == 1  # in doubt is visible, for a person to resolve
    assert "INDOUBT" in invoke("-c", cfg, "status").output


def test_plugins_lists_builtins_with_their_hooks():
    res = invoke("plugins")
    assert res.exit_code == 0
    assert "models" in res.output and "choose_model" in res.output
    rows = json.loads(invoke("plugins", "--json").output)
    assert {r["name"] for r in rows} >= {"ordering", "selection", "models", "messages", "claude"}
    agents = {r["name"]: r["agents"] for r in rows if r["agents"]}
    assert agents == {"claude": ["claude"], "codex": ["codex"], "gemini": ["gemini"],
                      "aider": ["aider"]}
    assert "AGENTS" in res.output


def test_invalid_config_exits_3_with_file_key_and_reason(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("pool:\n  autonomous:\n    max: lots\n")
    res = invoke("-c", str(path), "run")
    assert res.exit_code == EXIT_CONFIG
    assert f"{path}: pool.autonomous.max: expected an integer" in res.output


def test_hook_command_leaves_an_event_for_the_daemon(tmp_path):
    res = invoke("hook", "stop", "--state-dir", str(tmp_path), "--session", "s", "--task", "T",
                 input='{"hook_event_name": "Stop"}')
    assert res.exit_code == 0, res.output
    from dispatchd.callbacks import take_events

    (event,) = take_events(tmp_path)
    assert (event.event, event.session, event.task_id) == ("stop", "s", "T")
    assert event.payload == {"hook_event_name": "Stop"}
    assert not list((tmp_path / "events").iterdir())


def test_status_table_never_prints_raw_escape_sequences():
    from dispatchd.status import render_status

    evil = "\x1b]52;c;aGk=\x07x.md"
    data = {"daemon": {"running": True, "pid": 1},
            "sessions": [{"name": "s", "kind": "autonomous", "state": "working", "task": evil,
                          "model": "m", "since": None}],
            "projects": [{"path": "/p\x1b[2J", "counts": dict.fromkeys(
                ["inbox", "claimed", "sent", "done", "failed", "indoubt"], 0)}],
            "waiting": [{"priority": "low", "name": evil, "project": "/p"}]}
    assert "\x1b" not in render_status(data) and "\x07" not in render_status(data)


def test_the_agent_hook_shell_command_leaves_the_same_event(tmp_path):
    import subprocess

    from dispatchd.callbacks import hook_command, take_events

    (tmp_path / "events").mkdir()
    cmd = hook_command(tmp_path, "auto-1", "20260101T000000-abcdef", "prompt-submit")
    subprocess.run(cmd, shell=True, input='{"prompt": "[t.md] x"}', text=True, check=True)
    (event,) = take_events(tmp_path)
    assert (event.event, event.session, event.task_id) == (
        "prompt-submit", "auto-1", "20260101T000000-abcdef")
    assert event.payload == {"prompt": "[t.md] x"}


def test_status_watch_repeats_the_table_when_not_a_terminal(tmp_path):
    write_task(tmp_path / "projects" / "p", "a.md", "x")
    res = invoke("-c", config(tmp_path), "status", "--watch", "--interval", "100ms",
                 "--count", "3")
    assert res.exit_code == 0, res.output
    assert res.output.count("daemon: not running") == 3 and res.output.count("--- ") == 3


def test_log_lines_as_json(tmp_path):
    import subprocess
    import sys

    cfg = config(tmp_path)
    write_task(tmp_path / "projects" / "p\x1b[31m", "a.md", "x")  # a name to escape, too
    res = subprocess.run([sys.executable, "-m", "dispatchd", "--log-format", "json", "-c", cfg,
                          "run", "--dry-run"], capture_output=True, text=True, timeout=60)
    lines = [json.loads(line) for line in res.stderr.splitlines() if line.strip()]
    assert lines and all({"ts", "level", "logger", "message"} <= set(e) for e in lines)
    assert any("watching project" in e["message"] for e in lines) and "\x1b" not in res.stderr


def test_shell_completion_is_generated():
    import os
    import subprocess
    import sys

    env = {**os.environ, "_DISPATCHD_COMPLETE": "bash_source"}
    res = subprocess.run([sys.executable, "-m", "dispatchd"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert "_dispatchd_completion" in res.stdout


def test_config_is_accepted_before_or_after_any_subcommand_and_from_the_environment(
        tmp_path, monkeypatch):
    cfg = config(tmp_path)
    before = invoke("-c", cfg, "status", "--json")
    after = invoke("status", "--json", "--config", cfg)
    assert before.exit_code == after.exit_code == 0, after.output
    names = [s["name"] for s in json.loads(after.output)["sessions"]]
    assert names == ["w-1", "w-2"] == [s["name"] for s in json.loads(before.output)["sessions"]]
    nested = invoke("pool", "down", "-c", str(tmp_path / "nope.yaml"))
    assert nested.exit_code == EXIT_CONFIG and "nope.yaml" in nested.output
    bad = invoke("run", "--config", str(tmp_path / "nope.yaml"))
    assert bad.exit_code == EXIT_CONFIG and "nope.yaml" in bad.output
    monkeypatch.setenv("DISPATCHD_CONFIG", cfg)
    from_env = invoke("status", "--json")
    assert [s["name"] for s in json.loads(from_env.output)["sessions"]] == ["w-1", "w-2"]


def test_durations_on_the_command_line_are_checked_not_tracebacks(tmp_path):
    cfg = config(tmp_path)
    for bad, says in (("5x", "expected a duration"), ("-1s", "expected a duration"),
                      ("0", "at least 100ms")):
        res = invoke("-c", cfg, "status", "--watch", "--count", "1", "--interval", bad)
        assert res.exit_code == 2, (bad, res.output)
        assert says in res.output and "Traceback" not in res.output
    ok = invoke("-c", cfg, "status", "--watch", "--count", "1", "--interval", "100ms")
    assert ok.exit_code == 0, ok.output


def test_resolve_refuses_retry_and_drop_together(tmp_path):
    res = invoke("-c", config(tmp_path), "resolve", "20260101T000000-abc", "--retry", "--drop")
    assert res.exit_code == 2 and "either --retry or --drop" in res.output
    neither = invoke("-c", config(tmp_path), "resolve", "20260101T000000-abc")
    assert neither.exit_code == 2 and "--retry or --drop" in neither.output


def test_enqueue_takes_an_inbox_for_its_project_and_refuses_unread_projects(tmp_path):
    cfg = config(tmp_path)
    project = tmp_path / "projects" / "demo"
    project.mkdir(parents=True)
    inbox = project / ".agent-queue" / "inbox"
    inbox.mkdir(parents=True)
    res = invoke("-c", cfg, "enqueue", str(inbox), "--name", "a.md", input="via the inbox")
    assert res.exit_code == 0, res.output
    assert (inbox / "a.md").exists()
    assert not (inbox / ".agent-queue").exists()  # never inbox/.agent-queue/inbox/a.md
    elsewhere = tmp_path / "unwatched"
    elsewhere.mkdir()
    refused = invoke("-c", cfg, "enqueue", str(elsewhere), input="waits forever")
    assert refused.exit_code == 1 and "no daemon with this config reads" in refused.output
    assert "--force" in refused.output and not (elsewhere / ".agent-queue").exists()
    forced = invoke("-c", cfg, "enqueue", str(elsewhere), "--force", input="on purpose")
    assert forced.exit_code == 0, forced.output


def test_session_states_are_a_fixed_documented_set():
    """status --json gives a state from SESSION_STATES (the words in brackets go to detail),
    and docs/cli.md explains every one."""
    from dispatchd.hooktypes import SESSION_STATES, SessionInfo
    from dispatchd.pool import Session

    docs = (Path(__file__).parent.parent / "docs" / "cli.md").read_text()
    for state in SESSION_STATES:
        assert f"| `{state}` |" in docs, state
    session = Session("s", "autonomous")
    seen = {session.info().state}
    session.present = False
    seen.add(session.info().state)
    session.present, session.unavailable = True, ("busy", "not dispatchd's: make")
    seen.add(session.info().state)
    assert session.info().label() == "busy (not dispatchd's: make)"
    session.unavailable = ("agent_missing", "claude")
    assert session.info().label() == "agent missing (claude)"
    session.state, session.waiting_for = "launching", "folder trust"
    info = session.info()
    assert (info.state, info.detail) == ("waiting_for_person", "folder trust dialog")
    assert seen | {info.state} <= set(SESSION_STATES)
    assert SessionInfo("x", "autonomous", state="unknown",
                       detail="daemon not running").label() == "unknown (daemon not running)"


def test_every_command_checks_the_agents_the_config_names(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps({"agents": {"default": "claud"},
                                "dispatcher": {"state_dir": str(tmp_path / "state")}}))
    for args in (["status"], ["explain", "x.md"], ["resume"], ["stop"]):
        res = invoke("-c", str(path), *args)
        assert res.exit_code == 3, (args, res.output)
        assert "agents.default: unknown agent 'claud'" in res.output, res.output


def test_resolve_takes_an_id_prefix_or_a_file_name(tmp_path):
    cfg = config(tmp_path)
    failed = tmp_path / "projects" / "p" / ".agent-queue" / "failed"
    failed.mkdir(parents=True)
    (tmp_path / "projects" / "p" / ".agent-queue" / "inbox").mkdir()
    for task_id, name in (("20260101T000000-aaaa11", "fix.md"), ("20260101T000000-aaaa22", "b.md"),
                          ("20260102T000000-cccc33", "c.md")):
        (failed / f"{task_id}.{name}").write_text("x")
    ambiguous = invoke("-c", cfg, "requeue", "aaaa")
    assert ambiguous.exit_code == 1 and "matches 2 tasks" in ambiguous.output
    for vague in ("2026", "20260101T000000-aaa", "aaa"):  # the time alone, or too little: no
        res = invoke("-c", cfg, "requeue", vague)
        assert res.exit_code == 1 and "no task" in res.output, vague
    by_prefix = invoke("-c", cfg, "requeue", "20260101T000000-aaaa1")
    assert by_prefix.exit_code == 0 and by_prefix.output.strip().endswith("inbox/fix.md")
    by_random = invoke("-c", cfg, "requeue", "aaaa2")
    assert by_random.exit_code == 0 and by_random.output.strip().endswith("inbox/b.md")
    by_name = invoke("-c", cfg, "requeue", "c.md")
    assert by_name.exit_code == 0 and by_name.output.strip().endswith("inbox/c.md")


def test_enqueue_writes_a_title_merges_frontmatter_and_refuses_what_it_cannot_write(tmp_path):
    project = tmp_path / "p"
    project.mkdir()
    inbox = project / ".agent-queue" / "inbox"
    plain = invoke("enqueue", str(project), "--force", "--name", "a.md",
                   "-m", "# Fix the login page", "-m", "It times out.")
    assert plain.exit_code == 0, plain.output
    text = (inbox / "a.md").read_text()
    assert text.startswith("---\ntitle: Fix the login page\n---\n# Fix the login page\n\nIt times")
    from dispatchd.task import parse_task_text

    assert not parse_task_text(text, id="-", name="a.md", project=project,
                               path=inbox / "a.md").warnings  # nothing for the daemon to warn about
    merged = invoke("enqueue", str(project), "--force", "--name", "b.md", "--priority", "HIGH",
                    "--session", "ccl-auto-1",
                    input="---\ntitle: Own title\ntags: [x]\n---\nBody.\n")
    assert merged.exit_code == 0, merged.output
    fields = parse_task_text((inbox / "b.md").read_text(), id="-", name="b.md", project=project,
                             path=inbox / "b.md")
    assert (fields.title, fields.priority, fields.session, fields.tags) == (
        "Own title", "high", "ccl-auto-1", ("x",))
    clash = invoke("enqueue", str(project), "--force", "--priority", "low",
                   input="---\npriority: high\n---\nBody.\n")
    assert clash.exit_code == 1 and "--priority 'low' disagrees with the text's own priority: " \
        "'high'" in clash.output
    flow = invoke("enqueue", str(project), "--force", "--name", "c.md", "--priority", "high",
                  "--tag", "a", input="---\n{priority: High, tags: a}\n---\nFlow style.\n")
    assert flow.exit_code == 0, flow.output  # the same values, written another way
    task = parse_task_text((inbox / "c.md").read_text(), id="-", name="c.md", project=project,
                           path=inbox / "c.md")
    assert (task.title, task.priority, task.tags, task.lossy) == ("Flow style.", "high", ("a",),
                                                                  False)
    unclosed = invoke("enqueue", str(project), "--force", input="---\npriority: high\nBody.\n")
    assert unclosed.exit_code == 1 and "frontmatter would be lost" in unclosed.output
    empty = invoke("enqueue", str(project), "--force", input="---\ntitle: t\n---\n\n")
    assert empty.exit_code == 1 and "the task has no text" in empty.output
    both = invoke("enqueue", str(project), "--force", "-m", "x", "--file", "-", input="y")
    assert both.exit_code == 2 and "one way" in both.output


def test_enqueue_on_a_terminal_says_how_to_give_the_text(tmp_path):
    """Run as a person does, stdin a terminal: no silent wait for input."""
    import os
    import pty
    import subprocess
    import sys

    project = tmp_path / "p"
    project.mkdir()
    master, slave = pty.openpty()
    try:
        res = subprocess.run([sys.executable, "-m", "dispatchd", "enqueue", str(project),
                              "--force"], stdin=slave, capture_output=True, text=True, timeout=30,
                             env={**os.environ, "DISPATCHD_CONFIG": config(tmp_path)})
    finally:
        os.close(master)
        os.close(slave)
    assert res.returncode == 2 and "no text: give it with -m TEXT" in res.stderr


def test_status_and_explain_without_a_daemon_say_what_is_on_disk(tmp_path):
    cfg = config(tmp_path)
    project = tmp_path / "projects" / "p"
    write_task(project, "low.md", "x", priority="low")
    write_task(project, "high.md", "y", priority="high")
    state = tmp_path / "state"
    state.mkdir()
    (state / "inflight.json").write_text(json.dumps({"w-1": {
        "task": "20260101T000000-abcdef", "name": "busy.md", "phase": "working",
        "since": 1.0, "model": "sonnet"}}))
    data = json.loads(invoke("-c", cfg, "status", "--json").output)
    assert data["live"] is False and data["daemon"]["state"] == "not running"
    (w1,) = [s for s in data["sessions"] if s["name"] == "w-1"]
    assert (w1["task"], w1["task_id"], w1["phase"]) == ("busy.md", "20260101T000000-abcdef",
                                                       "working")
    assert [t["name"] for t in data["waiting"]] == ["high.md", "low.md"]
    table = invoke("-c", cfg, "status").output
    assert "not live" in table and "busy.md" in table and "high.md" in table
    from dispatchd.explain import explain

    lines = explain(load_config(Path(cfg)), get_plugin_manager(entry_points=False), "abcd")
    assert lines[0].startswith("task busy.md (id 20260101T000000-abcdef) is not waiting: session "
                               "w-1 has it, working, for ")
    assert "from inflight.json" in lines[1]
