"""The tmux transport against a real private server."""

from __future__ import annotations

import asyncio
import sys

import pytest
from harness import FAKEAGENT, AgentLog, TmuxServer, wait_for

from dispatchd.config import TmuxServer as ServerConfig
from dispatchd.hooktypes import AgentLaunch
from dispatchd.tmux import TmuxTransport
from dispatchd.transport import PaneTaken, ProgramNotFound


def test_paste_and_enter_reach_the_agent_even_in_copy_mode(tmp_path, tmux: TmuxServer,
                                                           agent_log: AgentLog):
    pane = tmux("new-session", "-d", "-s", "a", "-x", "120", "-y", "40", "-P", "-F",
                "#{pane_id}", "--", sys.executable, str(FAKEAGENT)).strip()
    wait_for(lambda: agent_log.records("ready"), 20, "agent ready")
    tmux("copy-mode", "-t", pane)
    assert tmux("display-message", "-p", "-t", pane, "#{pane_in_mode}").strip() == "1"
    transport = TmuxTransport(ServerConfig(socket_path=tmux.socket), tmp_path / "state")

    async def deliver() -> None:
        panes = await transport.panes()
        ref = panes["a"].active
        await transport.paste(ref, "one\ntwo; send-keys Escape\n")
        await asyncio.sleep(0.3)
        await transport.press_enter(ref)

    asyncio.run(deliver())
    wait_for(lambda: agent_log.submits(), 10, "submit")
    assert agent_log.submits()[0]["text"] == "one\ntwo; send-keys Escape\n"
    assert tmux("display-message", "-p", "-t", pane, "#{pane_in_mode}").strip() == "0"


def _transport(tmp_path, tmux: TmuxServer) -> TmuxTransport:
    return TmuxTransport(ServerConfig(socket_path=tmux.socket), tmp_path / "state")


def test_occupant_tells_an_idle_shell_from_a_job_and_typed_text(tmp_path, tmux: TmuxServer):
    for name in ("idle", "job", "typed"):
        tmux.new_session(name)
        tmux.wait_for_prompt(name)
    tmux("send-keys", "-t", "=job:", "sleep 60", "Enter")
    tmux("send-keys", "-t", "=typed:", "-l", "make dep")
    wait_for(lambda: tmux.foreground("job") == "sleep" and "make dep" in tmux.screen("typed"),
             10, "the job and the typed line")
    transport = _transport(tmp_path, tmux)

    async def look() -> dict[str, str]:
        panes = await transport.panes()
        return {n: (await transport.occupant(panes[n].active)).describe() for n in panes
                if n != "keepalive"}

    assert asyncio.run(look()) == {"idle": "idle", "job": "busy (not dispatchd's: sleep)",
                                   "typed": "busy (not dispatchd's: typed: # make dep)"
                                   if "#" in tmux.screen("typed") else
                                   "busy (not dispatchd's: typed: $ make dep)"}


def test_start_refuses_a_persons_pane_and_stop_agent_leaves_the_shell(tmp_path,
                                                                      tmux: TmuxServer,
                                                                      agent_log: AgentLog):
    tmux.new_session("a")
    tmux.new_session("b")
    tmux.wait_for_prompt("a")
    tmux.wait_for_prompt("b")
    tmux("send-keys", "-t", "=b:", "-l", "half typed")
    wait_for(lambda: "half typed" in tmux.screen("b"), 10, "typed")
    transport = _transport(tmp_path, tmux)
    launch = AgentLaunch((sys.executable, str(FAKEAGENT)))

    async def run() -> None:
        panes = await transport.panes()
        shell = (await transport.occupant(panes["a"].active)).pid
        await transport.start(panes["a"].active, tmp_path, launch, "[m] agent exited with status")
        wait_for(lambda: agent_log.records("ready"), 20, "agent ready")
        assert (await transport.occupant(panes["a"].active)).kind == "dispatchd"
        await transport.stop_agent(panes["a"].active)
        back = await transport.occupant(panes["a"].active)
        assert back.kind == "shell" and back.pid == shell  # the very same shell
        with pytest.raises(PaneTaken):
            await transport.start(panes["b"].active, tmp_path, launch, "[m] exited")
        with pytest.raises(ProgramNotFound):
            await transport.start(panes["a"].active, tmp_path, AgentLaunch(("no-such-agent",)),
                                  "[m] agent exited with status")

    asyncio.run(run())
    assert "half typed" in tmux.screen("b")
    assert len(agent_log.records("start")) == 1
