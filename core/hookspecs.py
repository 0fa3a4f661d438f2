"""Every hook dispatchd calls: the one place that defines what a plugin can change.

A plugin is any object or module with functions marked ``@dispatchd.hookimpl``
whose names match these specs. "One answer" hooks are ``firstresult``: the
first non-``None`` result wins, so a plugin answers for the cases it cares about
and returns ``None`` to leave the rest to the next plugin, and finally to the
built-in default (registered ``trylast`` in ``dispatchd.plugins``).
Hooks run on the daemon's event loop: they must return quickly and never
wait on I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import hookspec

if TYPE_CHECKING:
    import click

    from .agents import AgentProfile
    from .config import Config
    from .hooktypes import AgentLaunch, SessionInfo
    from .setback import Setback
    from .store import TaskStore
    from .task import Task
    from .transport import SessionTransport


@hookspec(firstresult=True)
def task_store(config: Config) -> TaskStore | None:
    """Return the task store the daemon reads and moves tasks with.

    Default: :class:`dispatchd.store.FileStore`, the per-project folders
    (``.agent-queue/inbox`` …). A shared queue (e.g. on Redis) plugs in here.
    """


@hookspec(firstresult=True)
def session_transport(config: Config) -> SessionTransport | None:
    """Return the transport that reaches the sessions' terminals.

    Default: :class:`dispatchd.tmux.TmuxTransport` on the configured local tmux
    server. Sessions on other hosts (tmux over SSH) plug in here.
    """


@hookspec(firstresult=True)
def task_sort_key(task: Task) -> tuple[Any, ...] | None:
    """Return the key that orders waiting tasks; smaller goes first.

    Default: priority rank (critical, high, default, low), then arrival time,
    then ``task.order`` (files of one burst: when renamed in, then when noticed),
    then name, then id (see docs/tasks.md, "Arrival and order"). Called each time a
    waiting file is read (once per version of it).
    """


@hookspec(firstresult=True)
def select_session(
    task: Task, candidates: Sequence[SessionInfo], config: Config
) -> str | None:
    """Pick the session that takes ``task``, by name, among ``candidates``.

    ``candidates`` are the sessions free right now (tmux session exists, idle,
    not in cooldown), dedicated ones first. A chosen session whose pane a person
    holds, or whose shell lacks the task's agent, drops out and this is asked
    again with the rest. Return a name from ``candidates``;
    the name of a configured session that is busy, or ``""``, to make the task
    wait (no other plugin is asked); ``None`` to leave the choice to the next
    plugin. Default: a task bound to a session (``session:``) goes
    only there; otherwise the project's dedicated session, else the first free
    autonomous session; ``None`` when nothing fits (the task waits).
    """


@hookspec
def register_agents(register: Callable[[AgentProfile], None]) -> None:
    """Call ``register(profile)`` for each agent CLI this plugin knows.

    A profile (:class:`dispatchd.agents.AgentProfile`) says how to start the
    agent and how to read its screen; tasks pick one with ``agent:``, sessions
    with ``agent`` in the pool config. Built-in: ``claude`` (the default),
    ``codex``, ``gemini``, ``aider``.
    """


@hookspec(firstresult=True)
def choose_model(task: Task, session: SessionInfo, config: Config,
                 agent: AgentProfile) -> str | None:
    """Return the model name for ``task`` on ``session``; ``""`` for the agent's own default.

    Default: the task's ``model:`` field if set, else the agent's choice
    (Claude Code: ``opus`` for ``critical`` and ``sonnet`` for everything else).
    """


@hookspec(firstresult=True)
def agent_command(
    task: Task, session: SessionInfo, model: str, config: Config, agent: AgentProfile
) -> AgentLaunch | None:
    """Return how to start the agent for ``task``: argv and environment.

    The argv is executed directly in the task's project directory (no shell);
    never build a command line by string formatting. Default: the agent
    profile's ``command()`` with ``agents.<name>`` from the config (Claude Code:
    ``claude --model <m> --dangerously-skip-permissions [--resume <id>]
    --settings <its hooks>``).
    """


@hookspec(firstresult=True)
def agent_ready(screen: str, task: Task, config: Config, agent: AgentProfile) -> bool | None:
    """Return whether the agent shown on ``screen`` is ready to take the task.

    ``screen`` is the text of the pane (``tmux capture-pane -p``). Default: the
    profile's ``ready()`` (its input line shows, no busy sign, no dialog).
    """


@hookspec(firstresult=True)
def agent_idle(screen: str, task: Task, session: SessionInfo, config: Config,
               agent: AgentProfile) -> bool | None:
    """Return whether the agent on ``screen`` has finished its turn on ``task`` and waits.

    Used to detect completion when no agent hook reports it. Return ``None``
    when the screen says nothing certain. Default: the profile's ``idle()``.
    """


@hookspec(firstresult=True)
def agent_input_pending(screen: str, task: Task, config: Config,
                        agent: AgentProfile) -> bool | None:
    """Return whether text sits unsubmitted in the agent's input box on ``screen``.

    Asked when a submit is not confirmed (no acknowledgement, or the screen
    shows no change): only when this says yes is a lone Enter sent again (the
    text itself is never typed twice). Default: the profile's ``input_pending()``.
    """


@hookspec(firstresult=True)
def agent_usage_limit(screen: str, task: Task, config: Config,
                      agent: AgentProfile) -> float | None:
    """Return when the agent's usage limit lifts (a Unix time), if ``screen`` shows it was hit.

    Asked while the agent starts (before anything is typed: the task then goes
    back to its inbox untouched) and, when ``agent_setback`` says nothing, while
    it works (a limit with no evidence about the turn: the task, already
    delivered, ends in ``failed/`` and is not re-sent). Either way the agent's
    account is held until that time. Default: the profile's ``usage_limit()``
    (Claude Code: "… limit reached" or "hit your … limit" near the bottom of
    the screen, with the reset time it names).
    """


@hookspec(firstresult=True)
def agent_setback(screen: str, report: Mapping[str, Any] | None, task: Task, config: Config,
                  agent: AgentProfile) -> Setback | None:
    """Return a :class:`~dispatchd.setback.Setback` if the agent's turn on ``task`` failed on
    its account or the API (a rate or usage limit, an overload, a server or network error),
    ``None`` if the task itself failed or the turn goes on.

    Asked with the agent's own failure report (``report``: Claude Code's ``StopFailure``
    payload) and, for agents that report nothing, with the screen alone (``report`` is
    ``None``) on every check while the agent works: return ``None`` unless the turn is over.
    The setback holds every session of the account (see :mod:`dispatchd.holds`); its
    ``worked`` decides the task: never worked on, it goes back to its inbox uncounted,
    else it fails as any task. Called in a worker thread, so it may read a local file
    (a transcript); it must still return within a second. Default: the profile's
    ``setback()``. A plugin that only
    knows a limit's reset time can implement ``agent_usage_limit`` instead, which is
    asked when this hook returns ``None``.
    """


@hookspec(firstresult=True)
def agent_account(agent: AgentProfile, config: Config) -> str | None:
    """Return the name of the account ``agent`` runs on.

    A limit or an outage met by one session holds every session of that account
    (see :mod:`dispatchd.holds`); ``dispatchd resume NAME`` and ``status`` name it.
    Default: the agent's name (its sessions on this host share its credentials, in the
    agent's config folder).
    """


@hookspec(firstresult=True)
def build_message(task: Task, session: SessionInfo, model: str, config: Config) -> str | None:
    """Return the text pasted into the agent.

    Default: ``[<file name>] <body>``, a blank line, and the footer from
    ``dispatcher.message_footer``. The text is sanitised after this hook: no
    control character or escape sequence reaches the terminal.
    """


@hookspec
def on_dispatched(task: Task, session: SessionInfo, model: str) -> None:
    """Called after the task's text was pasted and submitted (the task is in ``sent/``)."""


@hookspec
def on_task_finished(task: Task, session: SessionInfo | None, outcome: str,
                     reason: str | None) -> None:
    """Called when a task reaches ``done/``, ``failed/`` or ``indoubt/`` (``outcome`` says which).

    ``session`` is None for a task that failed before any session took it (a
    broken file, too many failed launches).
    """


@hookspec
def on_launch_failed(task: Task, session: SessionInfo, reason: str) -> None:
    """Called when starting the agent failed before any text was sent.

    The task is already back in the inbox (or in ``failed/`` after
    ``dispatcher.max_attempts``). ``task.attempts`` counts this failure and the
    session is in cooldown, except when the cause was outside the task: the
    agent's usage limit (the session is held until it lifts, nothing counted), a
    person's job or typed text in the pane, or an agent program the session's
    shell does not find (nothing counted, no cooldown).
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add subcommands to the ``dispatchd`` command line (``cli.add_command(...)``)."""
