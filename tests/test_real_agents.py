"""The real Claude Code and the real Codex CLI, driven end to end by the daemon, offline.

Both CLIs run unmodified in panes of a private tmux server and talk to
``tests/fakemodel.py`` on 127.0.0.1 instead of a real model, so every check is
made twice: on disk (``done/``, the journal) and on the wire (the fake
server's request log: each task reached the model exactly once, with the
right model, in the right order).

The CLIs are found through ``DISPATCHD_REAL_AGENTS``, a folder holding
``claude`` and ``codex`` (``scripts/test`` installs them with npm and sets it:
``<dir>/node_modules/.bin``). Without it the tests are skipped, unless
``DISPATCHD_REQUIRE_REAL_AGENTS=1`` (``.ci/run``), which makes them fail.

Run with ``-s`` to see the launch-to-ready and submit-to-idle times measured
from the journal.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakemodel import FakeModelServer, Outage
from harness import Daemon, TmuxServer, wait_for, write_task

# Real tmux and real agent CLIs on a shared 2-core machine: a test that timed out once is run
# once more (the rerun shows as "R" in the output; look into any that do).
pytestmark = pytest.mark.flaky(reruns=1, only_rerun=["timed out"])

CLAUDE_VERSION, CODEX_VERSION = "2.1.330", "0.169.0"
MODEL_DELAY = 0.3
"""Seconds the fake model takes to answer a turn that names no ``SLEEP=``."""
TIMINGS: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
"""agent → (claimed→sent, sent→done minus the model's delay) per task, for the summary."""


# -- finding the CLIs ------------------------------------------------------------------------

def _agents_dir() -> Path:
    where = os.environ.get("DISPATCHD_REAL_AGENTS", "")
    required = os.environ.get("DISPATCHD_REQUIRE_REAL_AGENTS") == "1"
    missing = [name for name in ("claude", "codex")
               if not where or not os.access(Path(where) / name, os.X_OK)]
    if missing:
        why = (f"the real agent CLIs ({', '.join(missing)}) are not in DISPATCHD_REAL_AGENTS="
               f"{where!r}: set it to a folder holding claude and codex (scripts/test installs "
               f"@anthropic-ai/claude-code@{CLAUDE_VERSION} and @openai/codex@{CODEX_VERSION} "
               f"with npm and sets it)")
        if required:
            pytest.fail(f"DISPATCHD_REQUIRE_REAL_AGENTS=1, but {why}", pytrace=False)
        pytest.skip(why)
    return Path(where)


@pytest.fixture(scope="module")
def bins() -> Path:
    return _agents_dir()


@pytest.fixture(scope="module")
def srv(bins: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeModelServer]:
    """One fake model server for the whole module; each test looks at its own turns only."""
    with FakeModelServer(log_path=tmp_path_factory.mktemp("model") / "model.jsonl",
                         delay=MODEL_DELAY) as server:
        yield server
    _print_summary()


# -- helpers ---------------------------------------------------------------------------------

class Turns:
    """The fake server's user turns since this object was made (the server is shared)."""

    def __init__(self, server: FakeModelServer) -> None:
        self.server, self.start = server, len(server.records())

    def __call__(self) -> list[dict[str, Any]]:
        return [r for r in self.server.records()[self.start:] if r.get("kind") == "turn"]

    def by_task(self) -> collections.Counter[str]:
        """How many turns each task's first line (``[name.md] …``) started."""
        return collections.Counter(_task_name(r["first_line"]) for r in self())


def _task_name(first_line: str) -> str:
    return first_line.split("]", 1)[0].lstrip("[") if first_line.startswith("[") else first_line


def _project(tmp_path: Path, name: str = "p") -> Path:
    project = tmp_path / "projects" / name
    project.mkdir(parents=True)
    return project.resolve()


def _pool(n: int, **extra: Any) -> dict[str, Any]:
    return {"autonomous": {"prefix": "auto-", "start_index": 1, "min": 0, "max": n, **extra},
            "shared_projects_dir": "projects"}


def _sessions(tmux: TmuxServer, n: int) -> None:
    for i in range(1, n + 1):
        tmux.new_session(f"auto-{i}")


def _claude_config(tmp_path: Path, trusted: list[Path]) -> Path:
    """A private CLAUDE_CONFIG_DIR: onboarding done, the ``trusted`` projects' folder trust given."""
    folder = tmp_path / "claude-config"
    folder.mkdir(exist_ok=True)
    state: dict[str, Any] = {"hasCompletedOnboarding": True}
    if trusted:
        state["projects"] = {str(p): {"hasTrustDialogAccepted": True} for p in trusted}
    (folder / ".claude.json").write_text(json.dumps(state))
    return folder


def _claude(bins: Path, srv: FakeModelServer, tmp_path: Path, config_dir: Path,
            **options: Any) -> dict[str, Any]:
    """``agents.claude`` for the real Claude Code against the fake server."""
    return {"command": [str(bins / "claude")],
            "env": {"CLAUDE_CONFIG_DIR": str(config_dir), "HOME": str(tmp_path / "home"),
                    "ANTHROPIC_BASE_URL": srv.url, "ANTHROPIC_AUTH_TOKEN": "fake",
                    "DISABLE_AUTOUPDATER": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"},
            **options}


def _codex(bins: Path, srv: FakeModelServer, tmp_path: Path, **options: Any) -> dict[str, Any]:
    """``agents.codex``: the fake provider as ``-c`` overrides, a private CODEX_HOME."""
    home = tmp_path / "codex-home"
    home.mkdir(exist_ok=True)
    provider = (f'model_providers.fake={{name="fake",base_url="{srv.url}/v1",'
                f'env_key="FAKE_API_KEY",wire_api="responses"}}')
    overrides = ['model="fake-model"', 'model_provider="fake"', provider,
                 "tui.screen_reader_detection_done=true"]
    return {"command": [str(bins / "codex"), *(x for o in overrides for x in ("-c", o))],
            "env": {"CODEX_HOME": str(home), "HOME": str(tmp_path / "home"),
                    "FAKE_API_KEY": "fake"},
            **options}


def _daemon(make_daemon: Callable[..., Daemon], pool: dict[str, Any],
            agents: dict[str, Any], **dispatcher: Any) -> Daemon:
    # The real agents start in about a second, but three at once on a busy 2-core machine take
    # longer. completion_poll stays at its default (2s): hook events are read at once (the
    # events folder is watched), and a short poll ends tasks early from the screen: after the
    # UserPromptSubmit hook, Claude Code shows an empty input box and no busy sign for up to
    # ~1 s under load, which three 200 ms polls in a row take for "idle".
    settings = {"prompt_timeout": "20s", "completion_poll": "2s", **dispatcher}
    return make_daemon({"pool": pool, "agents": agents, "dispatcher": settings}).start()


def _journal(project: Path) -> list[dict[str, Any]]:
    path = project / ".agent-queue" / "journal.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _files(project: Path, folder: str) -> list[Path]:
    return sorted((project / ".agent-queue" / folder).glob("*"))


def _done(project: Path) -> list[Path]:
    return [p for p in _files(project, "done") if p.suffix == ".md"]


def _assert_done_by_hook(project: Path, names: set[str]) -> None:
    """Every task in done/, none with a ``.reason`` (the Stop hook ended it, not the screen)."""
    done = _done(project)
    assert {p.name.split(".", 1)[1] for p in done} == names
    assert not [p for p in _files(project, "done") if p.suffix == ".reason"], \
        [p.read_text() for p in _files(project, "done") if p.suffix == ".reason"]
    for folder in ("inbox", "claimed", "sent", "failed", "indoubt"):
        assert not _files(project, folder), (folder, _files(project, folder))


def _record_timings(agent: str, project: Path, delays: dict[str, float]) -> None:
    """Launch to ready (claimed → sent) and submit to idle (sent → done, less the model's
    delay) of every task of ``project``, from its journal; printed and kept for the summary."""
    first: dict[tuple[str, str], float] = {}
    names: dict[str, str] = {}
    for rec in _journal(project):
        first.setdefault((rec["task"], rec["event"]), rec["ts"])
        names[rec["task"]] = rec["name"]
    for task, name in names.items():
        claimed = max((r["ts"] for r in _journal(project)
                       if r["task"] == task and r["event"] == "claimed"), default=None)
        sent, done = first.get((task, "sent")), first.get((task, "done"))
        if claimed is None or sent is None or done is None:
            continue
        ready, idle = sent - claimed, done - sent - delays.get(name, MODEL_DELAY)
        TIMINGS[agent].append((ready, idle))
        print(f"  {agent} {name}: launch to ready {ready:.2f}s, submit to idle {idle:.2f}s "
              f"(model delay {delays.get(name, MODEL_DELAY):g}s excluded)")


def _print_summary() -> None:
    if not TIMINGS:
        return
    print("\nreal agents, from the journal (claimed→sent; sent→done minus the model's delay):")
    for agent, rows in sorted(TIMINGS.items()):
        for label, values in (("launch to ready", [r for r, _ in rows]),
                              ("submit to idle", [i for _, i in rows])):
            print(f"  {agent:6} {label:15} n={len(values)} min {min(values):.2f}s "
                  f"median {statistics.median(values):.2f}s max {max(values):.2f}s")


def _kill_leftovers(marker: str) -> None:
    """SIGKILL any process whose environment mentions ``marker`` (this test's private folder):
    Codex may leave app-server processes behind, re-parented away from tmux."""
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in environ:
            with contextlib.suppress(OSError):
                os.kill(int(entry.name), signal.SIGKILL)


@pytest.fixture
def reaper(tmp_path: Path) -> Iterator[None]:
    """Ask for it before ``tmux``: it then tears down after the tmux server is gone."""
    yield
    _kill_leftovers(str(tmp_path / "codex-home"))


# -- Claude Code -----------------------------------------------------------------------------

def test_claude_six_tasks_on_three_sessions_each_received_once(
        bins: Path, srv: FakeModelServer, tmp_path: Path, tmux: TmuxServer, make_daemon):
    project = _project(tmp_path)
    turns = Turns(srv)
    _sessions(tmux, 3)
    agents = {"claude": _claude(bins, srv, tmp_path, _claude_config(tmp_path, [project]))}
    daemon = _daemon(make_daemon, _pool(3), agents)
    names = {f"six-{i}.md" for i in range(6)}
    for i in range(6):
        write_task(project, f"six-{i}.md", f"Body of task {i}.\nSecond line.")

    wait_for(lambda: len(_done(project)) == 6, 60, "6 tasks done")
    assert turns.by_task() == {name: 1 for name in names}, turns()
    _assert_done_by_hook(project, names)
    journal = _journal(project)
    acked = collections.Counter(r["name"] for r in journal if r["event"] == "acknowledged")
    assert acked == {name: 1 for name in names}, journal
    sessions = {r["session"] for r in journal if r["event"] == "sent"}
    assert sessions == {"auto-1", "auto-2", "auto-3"}
    assert "LAUNCH-FAILED" not in daemon.log()
    _record_timings("claude", project, {})


def _through_outage(srv: FakeModelServer, project: Path, outage: Outage, names: list[str],
                    text: str, timeout: float) -> collections.Counter[str]:
    """Write ``names`` during ``outage``, wait until all are done, end the outage in any case;
    how many turns the model worked on (not refused) per task."""
    turns = Turns(srv)
    try:
        for name in names:
            write_task(project, name, f"{text} ({name})")
        wait_for(lambda: len(_done(project)) == len(names), timeout, "every task done")
    finally:
        srv.end_outage()
    return collections.Counter(_task_name(r["first_line"]) for r in turns()
                               if not r.get("rejected"))


@pytest.mark.timeout(400)
def test_claude_rate_limited_for_90s_holds_the_account_and_loses_no_task(
        bins: Path, srv: FakeModelServer, tmp_path: Path, tmux: TmuxServer, make_daemon):
    """The field report: a 429 that lasts 90 s, which Claude Code does not wait out. Before
    account holds, 6 of 6 tasks were in failed/ within 3 s."""
    project = _project(tmp_path)
    _sessions(tmux, 3)
    agents = {"claude": _claude(bins, srv, tmp_path, _claude_config(tmp_path, [project]))}
    daemon = _daemon(make_daemon, _pool(3), agents, hold_backoff="20s")
    outage = srv.outage(429, 90)
    names = [f"limited-{i}.md" for i in range(6)]
    worked = _through_outage(srv, project, outage, names, "A task under a rate limit", 300)
    assert worked == {name: 1 for name in names}  # each worked on exactly once
    _assert_done_by_hook(project, set(names))
    # 3 refused at first, then one probe per back-off (20 s, 40 s, 80 s, ±20 %): not one per task
    assert 3 <= outage.rejected <= 7, outage.rejected
    released = [r for r in _journal(project) if r["event"] == "released"]
    assert len(released) >= 3 and all(r["attempts"] == 0 for r in released)
    log = daemon.log()
    assert "held: rate limit" in log and "the account works again" in log


@pytest.mark.timeout(200)
def test_claude_overloaded_for_20s_waits_it_out_and_nothing_fails(
        bins: Path, srv: FakeModelServer, tmp_path: Path, tmux: TmuxServer, make_daemon):
    """A 529 with no retry-after that clears after 20 s: Claude Code retries by itself (ten
    times, backing off), each task is a long turn, and dispatchd holds nothing."""
    project = _project(tmp_path)
    _sessions(tmux, 3)
    agents = {"claude": _claude(bins, srv, tmp_path, _claude_config(tmp_path, [project]))}
    daemon = _daemon(make_daemon, _pool(3), agents)
    outage = srv.outage(529, 20, retry_after=False)
    names = [f"overloaded-{i}.md" for i in range(3)]
    worked = _through_outage(srv, project, outage, names, "A task while the API is overloaded", 150)
    assert worked == {name: 1 for name in names}
    assert outage.rejected >= 3  # each agent met the overload at least once
    _assert_done_by_hook(project, set(names))
    assert not [r for r in _journal(project) if r["event"] == "released"]
    assert "held:" not in daemon.log()


def test_claude_model_follows_priority(bins: Path, srv: FakeModelServer, tmp_path: Path,
                                       tmux: TmuxServer, make_daemon):
    project = _project(tmp_path)
    turns = Turns(srv)
    _sessions(tmux, 2)
    agents = {"claude": _claude(bins, srv, tmp_path, _claude_config(tmp_path, [project]))}
    _daemon(make_daemon, _pool(2), agents)
    write_task(project, "urgent.md", "An urgent task.", priority="critical")
    write_task(project, "later.md", "A task for later.", priority="low")

    wait_for(lambda: len(_done(project)) == 2, 40, "2 tasks done")
    models = {_task_name(r["first_line"]): r["model"] for r in turns()}
    assert len(turns()) == 2, turns()
    assert "opus" in models["urgent.md"], models
    assert "sonnet" in models["later.md"], models
    _assert_done_by_hook(project, {"urgent.md", "later.md"})
    _record_timings("claude", project, {})


def test_claude_task_waits_while_busy_and_goes_out_after_stop(
        bins: Path, srv: FakeModelServer, tmp_path: Path, tmux: TmuxServer, make_daemon):
    project = _project(tmp_path)
    turns = Turns(srv)
    _sessions(tmux, 1)
    agents = {"claude": _claude(bins, srv, tmp_path, _claude_config(tmp_path, [project]))}
    _daemon(make_daemon, _pool(1), agents)
    write_task(project, "slow.md", "A slow task.\nSLEEP=4")
    time.sleep(0.05)  # a later arrival: it goes second
    write_task(project, "next.md", "The next task.")

    first = wait_for(lambda: turns.by_task()["slow.md"] and turns()[0], 20, "the slow turn")
    time.sleep(1.0)  # the agent is busy with the slow turn: the next task waits in its inbox
    assert (project / ".agent-queue" / "inbox" / "next.md").exists()
    assert turns.by_task()["next.md"] == 0
    wait_for(lambda: len(_done(project)) == 2, 40, "2 tasks done")

    assert turns.by_task() == {"slow.md": 1, "next.md": 1}, turns()
    second = next(r for r in turns() if _task_name(r["first_line"]) == "next.md")
    assert first["delay"] == 4
    assert second["time"] >= first["time"] + first["delay"], (first, second)
    _assert_done_by_hook(project, {"slow.md", "next.md"})
    _record_timings("claude", project, {"slow.md": 4.0})


def test_claude_folder_trust_dialog_waits_for_a_person(
        bins: Path, srv: FakeModelServer, tmp_path: Path, tmux: TmuxServer, make_daemon):
    project = _project(tmp_path)
    turns = Turns(srv)
    _sessions(tmux, 1)
    config_dir = _claude_config(tmp_path, [])  # onboarding done, this folder never trusted
    agents = {"claude": _claude(bins, srv, tmp_path, config_dir)}
    daemon = _daemon(make_daemon, _pool(1), agents, prompt_timeout="4s", cooldown="2s")
    write_task(project, "trusted-later.md", "Deliver me once the folder is trusted.")

    wait_for(lambda: "waits at its folder trust dialog" in daemon.log(), 30, "the dialog")
    time.sleep(5)  # past prompt_timeout: held, not failed, nothing typed into the dialog
    log = daemon.log()
    assert "LAUNCH-FAILED" not in log and "trust_projects" in log
    assert not (project / ".agent-queue" / "inbox" / "trusted-later.md").exists()  # held
    assert turns() == []
    screen = tmux.screen("auto-1")
    assert "Yes, I trust this folder" in screen, screen
    # a person answers the dialog in the session: down to "Yes, I trust this folder", Enter
    tmux("send-keys", "-t", "=auto-1:", "Down")
    time.sleep(0.3)
    tmux("send-keys", "-t", "=auto-1:", "Enter")

    wait_for(lambda: _done(project), 40, "the same task done after the answer")
    assert turns.by_task() == {"trusted-later.md": 1}, turns()
    _assert_done_by_hook(project, {"trusted-later.md"})
    journal = _journal(project)
    assert not [r for r in journal if r["event"] == "released"], journal  # no attempt counted
    assert "LAUNCH-FAILED" not in daemon.log()


def test_claude_with_hooks_disabled_delivers_every_task(
        bins: Path, srv: FakeModelServer, tmp_path: Path, tmux: TmuxServer, make_daemon):
    project = _project(tmp_path)
    turns = Turns(srv)
    _sessions(tmux, 2)
    config_dir = _claude_config(tmp_path, [project])
    (config_dir / "settings.json").write_text(json.dumps({"disableAllHooks": True}))
    agents = {"claude": _claude(bins, srv, tmp_path, config_dir)}
    daemon = _daemon(make_daemon, _pool(2), agents)
    names = {f"nohook-{i}.md" for i in range(4)}
    for name in sorted(names):
        write_task(project, name, f"Task {name}, with no hook to report it.\nSecond line.")

    wait_for(lambda: len(_done(project)) == 4, 90, "4 tasks done with hooks disabled")
    assert turns.by_task() == {name: 1 for name in names}, turns()
    for folder in ("inbox", "claimed", "sent", "failed", "indoubt"):
        assert not _files(project, folder), (folder, _files(project, folder))
    journal = _journal(project)
    assert not [r for r in journal if r["event"] == "acknowledged"]  # no hook ran
    confirmed = [r for r in journal if r.get("confirmed") == "screen"]
    assert {r["name"] for r in confirmed} == names, journal
    assert daemon.log().count("ran none of dispatchd's hooks") <= 2  # once per session


def test_claude_trust_projects_preaccepts_the_folder(
        bins: Path, srv: FakeModelServer, tmp_path: Path, tmux: TmuxServer, make_daemon):
    project = _project(tmp_path)
    turns = Turns(srv)
    _sessions(tmux, 1)
    config_dir = _claude_config(tmp_path, [])
    agents = {"claude": _claude(bins, srv, tmp_path, config_dir, trust_projects=True)}
    daemon = _daemon(make_daemon, _pool(1), agents, prompt_timeout="10s")
    write_task(project, "pretrusted.md", "No dialog for me.")

    wait_for(lambda: _done(project), 30, "the task done")
    assert turns.by_task() == {"pretrusted.md": 1}, turns()
    _assert_done_by_hook(project, {"pretrusted.md"})
    assert "LAUNCH-FAILED" not in daemon.log()
    state = json.loads((config_dir / ".claude.json").read_text())
    assert state["projects"][str(project)]["hasTrustDialogAccepted"] is True
    assert state["hasCompletedOnboarding"] is True  # the rest of the file is kept


# -- Codex -----------------------------------------------------------------------------------

def _git_project(tmp_path: Path) -> Path:
    """A project that is a git repository: Codex asks whether to trust such a folder."""
    project = _project(tmp_path)
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    return project


def test_codex_tasks_on_two_sessions_each_received_once(
        bins: Path, srv: FakeModelServer, tmp_path: Path, reaper, tmux: TmuxServer, make_daemon):
    project = _git_project(tmp_path)  # trusted for the run by trust_projects (-c projects=…)
    turns = Turns(srv)
    _sessions(tmux, 2)
    agents = {"codex": _codex(bins, srv, tmp_path, trust_projects=True)}
    daemon = _daemon(make_daemon, _pool(2, agent="codex"), agents)
    names = {f"cx-{i}.md" for i in range(3)}
    write_task(project, "cx-0.md", "Codex task 0.\nSecond line.")
    write_task(project, "cx-1.md", "Codex task 1.\nSecond line.", agent="codex")
    write_task(project, "cx-2.md", "Codex task 2.\nSecond line.")

    wait_for(lambda: len(_done(project)) == 3, 60, "3 codex tasks done")
    records = turns()
    assert turns.by_task() == {name: 1 for name in names}, records
    assert {r["api"] for r in records} == {"responses"}
    assert {r["model"] for r in records} == {"fake-model"}
    _assert_done_by_hook(project, names)
    journal = _journal(project)
    acked = collections.Counter(r["name"] for r in journal if r["event"] == "acknowledged")
    assert acked == {name: 1 for name in names}, journal
    assert {r["session"] for r in journal if r["event"] == "sent"} == {"auto-1", "auto-2"}
    assert "LAUNCH-FAILED" not in daemon.log()
    _record_timings("codex", project, {})


def test_codex_folder_trust_dialog_waits_for_a_person(
        bins: Path, srv: FakeModelServer, tmp_path: Path, reaper, tmux: TmuxServer, make_daemon):
    project = _git_project(tmp_path)
    turns = Turns(srv)
    _sessions(tmux, 1)
    agents = {"codex": _codex(bins, srv, tmp_path)}  # no trust_projects
    daemon = _daemon(make_daemon, _pool(1, agent="codex"), agents, prompt_timeout="3s",
                     cooldown="1m")
    write_task(project, "untrusted.md", "Codex must not get this.")

    wait_for(lambda: "waits at its folder trust dialog" in daemon.log(), 30, "the dialog")
    time.sleep(4)  # past prompt_timeout: held, no attempt counted, nothing typed
    assert "LAUNCH-FAILED" not in daemon.log() and "trust_projects" in daemon.log()
    assert not (project / ".agent-queue" / "inbox" / "untrusted.md").exists()  # held
    assert turns() == []
    saved = tmp_path / "codex-home" / "config.toml"  # Codex saves a trust answer here
    assert "trust_level" not in (saved.read_text() if saved.exists() else "")
