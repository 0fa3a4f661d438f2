"""What counts as an empty shell prompt, and where a shell finds a program (no tmux needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from harness import wait_for

from dispatchd.occupant import OURS, PERSON, SHELL, cells, empty_prompt, occupant_of
from dispatchd.shellenv import find_program, resolve_in_shell


@pytest.mark.parametrize("row, cursor", [
    ("$ ", 2), ("# ", 2), ("root@host:/work# ", 17), ("user@box ~ % ", 13), ("~/src ❯ ", 8),
    ("[me@host ~]$ ", 13), ("fish> ", 6),
])
def test_an_empty_prompt_is_free(row, cursor):
    assert empty_prompt(row.rstrip(), cursor) is None


def test_an_unusual_prompt_is_told_by_dispatcher_shell_prompt():
    row = "➜  dispatchd git:(main) "  # oh-my-zsh: ends like typed text would
    assert empty_prompt(row.rstrip(), 24) is not None  # not provably empty: left alone
    assert empty_prompt(row.rstrip(), 24, r"git:\(\w+\)$") is None


@pytest.mark.parametrize("row, cursor, typed", [
    ("$ make dep", 10, "$ make dep"),
    ("$ make dep", 2, "$ make dep"),  # cursor moved to the start: text after it
    ("root@host:/work# git commit -m 'wip", 35, "root@host:/work# git commit -m 'wip"),
    (">", 2, "an unfinished command"),  # PS2: a command a person began
    ("", 0, "(no prompt on screen)"),
    ("me@host:~/src$ echo hi >", 24, "me@host:~/src$ echo hi >"),  # typed, ends like a prompt
    ("$ git commit -m 'fix #", 22, "$ git commit -m 'fix #"),
])
def test_typed_text_or_an_unfinished_command_is_not_free(row, cursor, typed):
    assert empty_prompt(row, cursor) == typed


def test_a_right_prompt_is_not_typed_text():
    row = "~/src ❯                                                      main ✔ 10:32"
    assert empty_prompt(row, 8) is None
    assert empty_prompt("~/src ❯ make  main", 8) is not None  # no wide gap: typed


def test_only_dispatchds_own_launcher_line_counts_as_ours(tmp_path):
    from dispatchd import trampoline

    spec = tmp_path / "launch" / "1.json"
    ours = subprocess.Popen([sys.executable, "-I", trampoline.__file__, str(spec)],
                            stdin=subprocess.PIPE)
    editor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)",
                               "core/trampoline.py"])
    tests = subprocess.Popen([sys.executable, "-m", "pytest", "tests/test_trampoline.py", "-x",
                              "--collect-only", "-q", "--rootdir", str(tmp_path)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from dispatchd.occupant import is_launcher

        assert is_launcher(ours.pid)
        assert not is_launcher(editor.pid) and not is_launcher(tests.pid)
    finally:
        for proc in (ours, editor, tests):
            proc.kill()
            proc.wait()


def test_cells_count_wide_characters_twice():
    assert cells("漢字$ x", 5) == ("漢字$", " x")


def test_occupant_of_a_running_job_and_of_our_launcher(tmp_path):
    job = subprocess.Popen(["sleep", "30"])
    launcher = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)",
                                 "trampoline.py"])
    try:
        # no controlling terminal here: not provably idle, so never taken
        assert occupant_of(job.pid, "$ ", 2).kind not in (SHELL, OURS)
        assert occupant_of(2**22 + 12345, None, 0).kind != SHELL  # no such process
    finally:
        job.kill()
        launcher.kill()
    assert PERSON == "person"


def test_find_program_looks_along_the_path_like_a_shell(tmp_path):
    exe = tmp_path / "bin" / "agent"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    (tmp_path / "bin" / "plain").write_text("not executable")
    assert find_program("agent", f"/nonexistent:{exe.parent}") == str(exe)
    assert find_program("plain", str(exe.parent)) is None
    assert find_program(str(exe), "") == str(exe)
    assert find_program("bin/agent", "", str(tmp_path)) == str(exe)  # as the shell in tmp_path


def test_a_login_shell_answers_what_its_rc_files_add(tmp_path):
    home = tmp_path / "home"
    (home / ".local" / "bin").mkdir(parents=True)
    agent = home / ".local" / "bin" / "myagent"
    agent.write_text("#!/bin/sh\n")
    agent.chmod(0o755)
    (home / ".profile").write_text('PATH="$HOME/.local/bin:$PATH"\n')
    shell = subprocess.Popen(["/bin/sh", "-c", "sleep 30"], cwd=tmp_path,
                             env={"HOME": str(home), "PATH": "/usr/bin:/bin"})
    try:
        # until the child has exec'd the shell: before, /proc shows pytest's process
        wait_for(lambda: Path(f"/proc/{shell.pid}/cmdline").read_bytes().startswith(b"/bin/sh"),
                 10, "the shell started")
        found = resolve_in_shell(shell.pid, "myagent")
        assert found.found == str(agent) and found.certain
        assert resolve_in_shell(shell.pid, "no-such-agent-here").found is None
        exact = resolve_in_shell(shell.pid, "myagent", known_path="/usr/bin")
        assert exact.found is None and exact.path == "/usr/bin"
    finally:
        shell.kill()
    assert os.path.exists(agent)
