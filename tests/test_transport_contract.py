"""The session transport contract: what the engine may rely on from any ``session_transport``.

One suite, run over tmux (a private server, the fake agent in a real shell) and over
``dispatchd.testing.FakeTransport`` (panes in memory, an agent played in Python):
sessions are known by ids that change when a session is re-created; a pane is free
only while its shell idles; an agent starts from that shell, takes a paste and an
Enter, and when stopped leaves its exit line and the shell; a program the shell does
not find is reported, not started. An SSH transport joins by adding a kit.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from harness import FAKEAGENT, TmuxServer, wait_for

from dispatchd.config import TmuxServer as TmuxConfig
from dispatchd.hooktypes import AgentLaunch
from dispatchd.launcher import agent_exited, exit_marker
from dispatchd.occupant import OURS, PERSON, SHELL
from dispatchd.plugins.claude import ClaudeCode
from dispatchd.testing import FakeTransport
from dispatchd.tmux import TmuxTransport
from dispatchd.transport import PaneRef, PaneTaken, ProgramNotFound, SessionTransport

T = TypeVar("T")
CLAUDE = ClaudeCode()


@dataclass
class Kit:
    transport: SessionTransport
    new_session: Callable[[str], None]
    kill_session: Callable[[str], None]
    person_job: Callable[[str], None]
    type_text: Callable[[str, str], None]
    agent: AgentLaunch
    """An agent that looks like Claude Code to its profile."""

    def run(self, coro: Awaitable[T]) -> T:
        return asyncio.run(coro)  # type: ignore[arg-type]

    def pane(self, name: str) -> PaneRef:
        return self.run(self.transport.panes())[name].active

    def screen(self, name: str) -> str:
        return self.run(self.transport.capture(self.pane(name)))


def _tmux_kit(tmp_path: Path, tmux: TmuxServer) -> Kit:
    def new_session(name: str) -> None:
        tmux.new_session(name)
        tmux.wait_for_prompt(name)

    def person_job(name: str) -> None:
        tmux("send-keys", "-t", f"={name}:", "sleep 60", "Enter")
        wait_for(lambda: tmux.foreground(name) == "sleep", 10, "the job in the foreground")

    def type_text(name: str, text: str) -> None:
        tmux("send-keys", "-t", f"={name}:", "-l", text)
        wait_for(lambda: text in tmux.screen(name), 10, "the typed text")

    transport = TmuxTransport(TmuxConfig(socket_path=tmux.socket), tmp_path / "state")
    return Kit(transport, new_session, lambda name: tmux("kill-session", "-t", f"={name}") and None,
               person_job, type_text,
               AgentLaunch(argv=(sys.executable, str(FAKEAGENT))))


def _fake_kit(tmp_path: Path, tmux: TmuxServer) -> Kit:
    fake = FakeTransport()

    def person_job(name: str) -> None:
        fake.sessions[name].job = "sleep"

    def type_text(name: str, text: str) -> None:
        fake.sessions[name].typed += text

    return Kit(fake, lambda name: fake.add_session(name) and None, fake.kill_session,
               person_job, type_text, AgentLaunch(argv=("claude",)))


@pytest.fixture(params=["tmux", "fake"])
def kit(request: pytest.FixtureRequest, tmp_path: Path, tmux: TmuxServer) -> Kit:
    return {"tmux": _tmux_kit, "fake": _fake_kit}[request.param](tmp_path, tmux)


def test_sessions_are_known_by_ids_that_change_when_one_is_recreated(kit: Kit):
    kit.new_session("s1")
    first = kit.run(kit.transport.panes())["s1"]
    assert first.holds(first.active) and first.pick(None) == first.active
    kit.kill_session("s1")
    assert "s1" not in kit.run(kit.transport.panes())
    time.sleep(1.1)  # tmux's creation time has a one-second grain
    kit.new_session("s1")
    again = kit.run(kit.transport.panes())["s1"]
    assert not again.holds(first.active) and again.pick(first.active) == again.active


def test_only_an_idle_shell_is_free_and_a_persons_work_is_never_touched(kit: Kit):
    for name in ("idle", "job", "typed"):
        kit.new_session(name)
    kit.person_job("job")
    kit.type_text("typed", "git commit -m 'half")
    occupants = {name: kit.run(kit.transport.occupant(kit.pane(name)))
                 for name in ("idle", "job", "typed")}
    assert occupants["idle"].kind == SHELL and occupants["idle"].free
    assert occupants["job"].kind == PERSON and "sleep" in occupants["job"].detail
    assert occupants["typed"].kind == PERSON and "half" in occupants["typed"].detail
    for name in ("job", "typed"):
        with pytest.raises(PaneTaken):
            kit.run(kit.transport.start(kit.pane(name), Path.cwd(), kit.agent, exit_marker()))
    assert "git commit -m 'half" in kit.screen("typed")  # nothing typed over it


def test_an_agent_starts_from_the_shell_takes_a_paste_and_stops_back_to_it(kit: Kit,
                                                                           tmp_path: Path):
    kit.new_session("s1")
    marker = exit_marker()
    kit.run(kit.transport.start(kit.pane("s1"), tmp_path, kit.agent, marker))
    wait_for(lambda: CLAUDE.ready(kit.screen("s1")), 15, "the agent ready")
    assert kit.run(kit.transport.occupant(kit.pane("s1"))).kind == OURS
    kit.run(kit.transport.paste(kit.pane("s1"), "first line\nsecond line"))
    wait_for(lambda: "first line" in kit.screen("s1"), 10, "the paste in the input box")
    assert not CLAUDE.message_in_transcript(kit.screen("s1"))  # a newline never submits
    kit.run(kit.transport.press_enter(kit.pane("s1")))
    wait_for(lambda: CLAUDE.message_in_transcript(kit.screen("s1")), 10, "the message sent")
    kit.run(kit.transport.stop_agent(kit.pane("s1")))
    wait_for(lambda: kit.run(kit.transport.occupant(kit.pane("s1"))).kind == SHELL, 10,
             "the shell back")
    assert agent_exited(kit.screen("s1"), marker)
    kit.run(kit.transport.stop_agent(kit.pane("s1")))  # nothing of ours left: nothing happens
    assert kit.run(kit.transport.occupant(kit.pane("s1"))).kind == SHELL


def test_a_program_the_shell_does_not_find_is_reported_not_started(kit: Kit, tmp_path: Path):
    kit.new_session("s1")
    missing = AgentLaunch(argv=("no-such-agent-xyz",))
    assert kit.run(kit.transport.which(kit.pane("s1"), "no-such-agent-xyz")).found is None
    with pytest.raises(ProgramNotFound):
        kit.run(kit.transport.start(kit.pane("s1"), tmp_path, missing, exit_marker()))
    wait_for(lambda: kit.run(kit.transport.occupant(kit.pane("s1"))).kind == SHELL, 10,
             "the shell free again")
