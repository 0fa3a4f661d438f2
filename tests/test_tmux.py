"""The tmux transport against a real private server."""

from __future__ import annotations

import asyncio
import sys

from harness import FAKEAGENT, AgentLog, TmuxServer, wait_for

from dispatchd.config import TmuxServer as ServerConfig
from dispatchd.tmux import TmuxTransport


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
