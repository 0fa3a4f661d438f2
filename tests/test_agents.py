"""Every built-in agent profile on recorded screens (tests/screens, from AGENTS.md's captures).

Each screen was captured from the real program in tmux (``capture-pane -p``);
a profile must read each one right, negative cases included: dialogs whose
cursor is the same glyph as the prompt, a busy agent whose input box still
shows, a shell prompt that uses ``❯``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dispatchd.agents import AgentProfile, AgentRegistry
from dispatchd.pluginmanager import get_plugin_manager

SCREENS = Path(__file__).with_name("screens")


def profiles() -> dict[str, AgentProfile]:
    found: list[AgentProfile] = []
    get_plugin_manager(entry_points=False).hook.register_agents(register=found.append)
    return {p.name: p for p in found}


# screen file → (agent, ready, busy, input pending, dialog)
CASES = {
    "claude-ready": ("claude", True, False, False, None),
    "claude-busy": ("claude", False, True, False, None),
    "claude-idle": ("claude", True, False, False, None),
    "claude-pasted": ("claude", True, False, True, None),
    "claude-trust-dialog": ("claude", False, False, False, "folder trust"),
    "claude-bypass-warning": ("claude", False, False, False, "bypass permissions"),
    # a refused turn: idle, its placeholder in the box (tests/test_holds.py reads the errors)
    "claude-rate-limit": ("claude", True, False, False, None),
    "claude-rate-limit-after-tool": ("claude", True, False, False, None),
    "claude-server-error": ("claude", True, False, False, None),
    "claude-usage-limit": ("claude", True, False, False, None),
    "shell-starship": ("claude", False, False, False, None),
    "codex-ready": ("codex", True, False, False, None),
    "codex-loading": ("codex", False, False, False, None),  # composer drawn, dialogs not decided
    "codex-busy": ("codex", False, True, False, None),
    "codex-idle": ("codex", True, False, False, None),
    "codex-pasted": ("codex", True, False, True, None),
    "codex-trust-dialog": ("codex", False, False, False, "folder trust"),
    "codex-usage-limit": ("codex", True, False, False, None),  # a refused turn, 0.169.0
    "codex-hooks-review-dialog": ("codex", False, False, False, "hooks review"),
    "gemini-ready": ("gemini", True, False, False, None),
    "gemini-busy": ("gemini", False, True, False, None),
    "gemini-pasted": ("gemini", True, False, True, None),
    "gemini-trust-dialog": ("gemini", False, False, False, "folder trust"),
    "aider-ready": ("aider", True, False, False, None),
    "aider-busy": ("aider", False, True, False, None),
    "aider-idle": ("aider", True, False, False, None),
    "aider-pasted": ("aider", True, False, True, None),
    "aider-question": ("aider", False, False, False, "question"),
}


def test_every_recorded_screen_has_a_case():
    assert {p.stem for p in SCREENS.glob("*.txt")} == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_profiles_read_recorded_screens(name):
    agent, ready, busy, pending, dialog = CASES[name]
    profile = profiles()[agent]
    screen = (SCREENS / f"{name}.txt").read_text(encoding="utf-8")
    assert profile.ready(screen) is ready
    assert profile.busy(screen) is busy
    assert profile.input_pending(screen) is pending
    assert profile.dialog(screen) == dialog
    assert profile.idle(screen) is ready
    assert (profile.usage_limit(screen) is None) is not name.endswith("-usage-limit")


def test_the_other_agents_screens_never_look_ready_to_claude():
    claude = profiles()["claude"]
    for path in SCREENS.glob("*.txt"):
        if not path.stem.startswith("claude"):
            assert not claude.ready(path.read_text(encoding="utf-8")), path.stem


def test_builtin_agents_and_the_default():
    found = profiles()
    assert set(found) == {"claude", "codex", "gemini", "aider"}
    assert AgentRegistry(list(found.values())).default == "claude"


def test_codex_usage_limit_names_its_reset():
    screen = ("■ You’ve hit your usage limit. Upgrade to Pro (https://openai.com/chatgpt/pricing) "
              "or try again at 7:00 PM.\n\n› Ask Codex to do anything\n")
    until = profiles()["codex"].usage_limit(screen)
    assert until is not None and 0 < until - time.time() <= 86400
    assert time.localtime(until)[3:5] == (19, 0)


def test_codex_dialog_words_in_the_transcript_above_a_live_composer_do_not_count():
    codex = profiles()["codex"]
    screen = (SCREENS / "codex-idle.txt").read_text(encoding="utf-8")
    quoted = screen.replace("• FAKE-REPLY", "• Trust this folder? Hooks need review. FAKE-REPLY", 1)
    assert quoted != screen
    assert codex.dialog(quoted) is None and codex.ready(quoted) and codex.idle(quoted)
