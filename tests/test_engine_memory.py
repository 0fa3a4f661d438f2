"""The real engine on the in-memory store and the fake transport: no tmux, no task files.

``dispatchd.testing.run_engine`` runs the same engine the daemon runs; what differs is
only the store and the transport behind the seams, so these tests take seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import dispatchd
from dispatchd.config import AutonomousPool, Config
from dispatchd.hooktypes import SessionInfo
from dispatchd.testing import (
    EchoAgent,
    FakeTransport,
    MemoryStore,
    decide,
    make_session,
    make_task,
    plugin_manager,
    run_engine,
)

STEP = 0.02


def _config(tmp_path: Path, sessions: int) -> Config:
    # No hooks: the fake agent reports nothing, its screen tells delivery and completion.
    return Config(autonomous=AutonomousPool(prefix="s-", start_index=1, min=0, max=sessions),
                  projects_dirs=(tmp_path / "projects",), state_dir=tmp_path / "state",
                  agent_hooks=False, settle_time=0.0, completion_poll=0.1, submit_delay=0.0,
                  prompt_timeout=5.0)


def _project(tmp_path: Path) -> Path:
    """The project's folder: where the agent works (its tasks live in the store)."""
    project = tmp_path / "projects" / "p"
    project.mkdir(parents=True)
    return project


async def _until(cond: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(STEP)


def _agents(fake: FakeTransport) -> list[EchoAgent]:
    return [p.agent for p in fake.sessions.values() if isinstance(p.agent, EchoAgent)]


def test_tasks_go_out_once_each_in_priority_order_and_end_in_done(tmp_path: Path):
    project = _project(tmp_path)
    store, fake = MemoryStore(), FakeTransport()
    fake.add_session("s-1")
    past = time.time() - 60
    store.put(project, "low.md", "---\npriority: low\n---\nlast", past)
    store.put(project, "crit.md", "---\npriority: critical\n---\nfirst", past + 1)
    store.put(project, "mid.md", "in between", past + 2)

    async def scenario() -> None:
        async with run_engine(_config(tmp_path, 1), store=store, transport=fake):
            await _until(lambda: len(store.names(project, "done")) == 3)

    asyncio.run(scenario())
    pasted = [text.split("\n", 1)[0] for _, kind, text in fake.keys if kind == "paste"]
    assert pasted == ["[crit.md] first", "[mid.md] in between", "[low.md] last"]
    assert store.names(project, "inbox") == store.names(project, "failed") == []
    events = [r["event"] for r in store.journal(project)]
    assert events.count("sent") == 3 and events.count("done") == 3


def test_a_persons_pane_is_never_used_and_the_other_session_takes_the_work(tmp_path: Path):
    project = _project(tmp_path)
    store, fake = MemoryStore(), FakeTransport()
    fake.add_session("s-1").job = "vim notes.txt"
    fake.add_session("s-2")
    for i in range(2):
        store.put(project, f"t{i}.md", f"task {i}", time.time() - 60 + i)

    async def scenario() -> None:
        async with run_engine(_config(tmp_path, 2), store=store, transport=fake):
            await _until(lambda: len(store.names(project, "done")) == 2)

    asyncio.run(scenario())
    assert {pane for pane, kind, _ in fake.keys} == {fake.sessions["s-2"].ref.pane_id}
    assert fake.sessions["s-1"].job == "vim notes.txt"


def test_a_restart_on_the_same_store_finishes_what_was_waiting(tmp_path: Path):
    project = _project(tmp_path)
    store, fake = MemoryStore(), FakeTransport()
    fake.add_session("s-1")
    store.put(project, "a.md", "first", time.time() - 60)

    async def first_run() -> None:
        async with run_engine(_config(tmp_path, 1), store=store, transport=fake):
            await _until(lambda: store.names(project, "done"))

    asyncio.run(first_run())
    store.put(project, "b.md", "second", time.time() - 30)

    async def second_run() -> None:
        async with run_engine(_config(tmp_path, 1), store=store.restarted(), transport=fake):
            await _until(lambda: len(store.names(project, "done")) == 2)

    asyncio.run(second_run())
    pasted = [text.split("\n", 1)[0] for _, kind, text in fake.keys if kind == "paste"]
    assert pasted == ["[a.md] first", "[b.md] second"]


def test_a_task_bound_to_a_session_that_is_not_free_holds_back_nothing_behind_it(
        tmp_path: Path):
    project = _project(tmp_path)
    store, fake = MemoryStore(), FakeTransport()
    fake.add_session("s-1").job = "make"  # a person's job: s-1 takes nothing meanwhile
    fake.add_session("s-2")
    store.put(project, "bound.md", "---\nsession: s-1\n---\nonly for s-1", time.time() - 60)
    store.put(project, "free.md", "anyone may take it", time.time() - 30)

    async def scenario() -> None:
        async with run_engine(_config(tmp_path, 2), store=store, transport=fake):
            await _until(lambda: store.names(project, "done"))
            await asyncio.sleep(0.3)

    asyncio.run(scenario())
    assert [n.split(".", 1)[1] for n in store.names(project, "done")] == ["free.md"]
    assert store.names(project, "inbox") == ["bound.md"]  # it waits for its own session


class RefusingAgent(EchoAgent):
    """Claude Code while the API refuses every turn with a 429 it does not wait out (the
    screen recorded with 2.1.330: the error as its last output, the input box's
    placeholder), until ``refuse_until``; then an ordinary agent."""

    refuse_until = 0.0

    def screen(self) -> str:
        text = super().screen()
        return text.replace("❯\u00a0\n", "❯\u00a0Resend your message to try again\n") \
            if self.transcript and self.transcript[-1].startswith("● API Error") else text

    def key(self, key: str) -> None:
        if key == "Enter" and self.box.strip() and time.time() < self.refuse_until:
            self.submitted.append(self.box)
            self.transcript += [f"❯ {self.box.splitlines()[0]}",
                                "● API Error: Request rejected (429) · This request would exceed "
                                "your account's rate limit."]
            self.box = ""
            return
        super().key(key)


def test_a_rate_limit_holds_the_account_and_no_task_fails(tmp_path: Path):
    project = _project(tmp_path)
    store = MemoryStore()
    fake = FakeTransport({"claude": RefusingAgent})
    RefusingAgent.refuse_until = time.time() + 0.6
    for name in ("s-1", "s-2"):
        fake.add_session(name)
    for i in range(3):
        store.put(project, f"t{i}.md", f"task {i}", time.time() - 60 + i)
    config = replace(_config(tmp_path, 2), hold_backoff=0.3)

    class TeamAccount:  # whose credentials the agent runs on: the account that is held
        @staticmethod
        @dispatchd.hookimpl
        def agent_account(agent: object) -> str:
            return "claude-team-a"

    async def scenario() -> None:
        async with run_engine(config, store=store, transport=fake,
                              pm=plugin_manager(TeamAccount())) as engine:
            await _until(lambda: engine.accounts.holds.holds)
            assert set(engine.accounts.holds.holds) == {"claude-team-a"}
            await _until(lambda: len(store.names(project, "done")) == 3, 20)
            assert not engine.accounts.holds.holds

    asyncio.run(scenario())
    assert store.names(project, "failed") == []
    released = [r for r in store.journal(project) if r["event"] == "released"]
    assert released and all(r["attempts"] == 0 and "before the model did any work"
                            in str(r["reason"]) for r in released)


class FirstCandidate:
    """A policy that ignores bindings (as one built from an older template did)."""

    @staticmethod
    @dispatchd.hookimpl
    def select_session(candidates: list[SessionInfo]) -> str | None:
        return candidates[0].name if candidates else None


def test_a_bound_task_goes_to_its_session_whatever_the_policy_plugin_does(tmp_path: Path):
    project = _project(tmp_path)
    store, fake = MemoryStore(), FakeTransport()
    for name in ("s-1", "s-2"):
        fake.add_session(name)
    store.put(project, "bound.md", "---\nsession: s-2\n---\nonly for s-2", time.time() - 60)
    pm = plugin_manager(FirstCandidate())

    async def scenario() -> None:
        async with run_engine(_config(tmp_path, 2), store=store, transport=fake, pm=pm):
            await _until(lambda: store.names(project, "done"))

    asyncio.run(scenario())
    assert {pane for pane, _, _ in fake.keys} == {fake.sessions["s-2"].ref.pane_id}
    bound = make_task(session="s-2")
    assert decide(pm, bound, [make_session("s-1"), make_session("s-2")]).session == "s-2"
    assert decide(pm, bound, [make_session("s-1")]).session is None
