"""The ``dispatchd`` command line (click). Plugins add commands through ``register_commands``.

Exit codes: 0 success; 1 the command ran and found a problem (an invalid task,
a failed run); 2 wrong usage; 3 invalid config; 4 another daemon already runs
on this state dir.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from . import __version__
from .config import Config, ConfigError, load_config
from .logsetup import let_go_of_a_dead_terminal, setup_logging
from .pluginmanager import PluginManager, get_plugin_manager, load_file_plugins

EXIT_PROBLEM, EXIT_CONFIG, EXIT_RUNNING = 1, 3, 4


class Context:
    """What every subcommand shares: the plugin manager and the config, both made on first use.

    Commands that need neither (``dispatchd hook``, which agents call after every
    turn) stay fast: no plugin is imported for them.
    """

    def __init__(self, pm: PluginManager | None = None, config_path: Path | None = None) -> None:
        self._pm, self.config_path = pm, config_path
        self._config: Config | None = None

    @property
    def pm(self) -> PluginManager:
        if self._pm is None:
            self._pm = get_plugin_manager()
        return self._pm

    @property
    def config(self) -> Config:
        if self._config is None:
            from .agents import UnknownAgent, installed_agents

            try:
                config = load_config(self.config_path)
                load_file_plugins(self.pm, config.plugin_files)
                installed_agents(self.pm.hook, config)  # the same check as the daemon's
            except (ConfigError, UnknownAgent) as exc:
                click.echo(f"dispatchd: invalid config: {exc}", err=True)
                sys.exit(EXIT_CONFIG)
            self._config = config
        return self._config


pass_ctx = click.make_pass_decorator(Context)


class Duration(click.ParamType[float]):
    """A duration option (``--interval 2s``): a bad value or one below ``minimum`` is a usage
    error (exit 2) that names the accepted forms, never a traceback."""

    name = "duration"

    def __init__(self, minimum: float = 0.0) -> None:
        self.minimum = minimum

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        from .durations import format_duration, parse_duration

        if isinstance(value, float):
            return value
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        if seconds < self.minimum:
            self.fail(f"must be at least {format_duration(self.minimum)}, got {value!r}",
                      param, ctx)
        return seconds


def _remember_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        obj = ctx.ensure_object(Context)
        obj.config_path, obj._config = value, None


def accept_config_anywhere(command: click.Command) -> click.Command:
    """Give ``command`` (and its subcommands) ``-c/--config`` too: people put it after the
    subcommand as often as before it (``dispatchd run --config FILE``)."""
    if not any(isinstance(p, click.Option) and "--config" in p.opts for p in command.params):
        command.params.append(click.Option(
            ["-c", "--config", "late_config"], type=click.Path(path_type=Path),
            expose_value=False, callback=_remember_config,
            help="Config file (the same as `dispatchd --config FILE <command>`)."))
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            accept_config_anywhere(sub)
    return command


class PluginCommands(click.Group):
    """A group whose plugin-provided commands (``register_commands``) load only when asked for."""

    def _load_plugin_commands(self, ctx: click.Context) -> None:
        if not getattr(self, "_plugins_loaded", False):
            self._plugins_loaded = True
            obj = ctx.find_object(Context) or Context()
            obj.pm.hook.register_commands(cli=self)
            for command in self.commands.values():
                accept_config_anywhere(command)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            self._load_plugin_commands(ctx)
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands(ctx)
        return super().list_commands(ctx)


@click.group(cls=PluginCommands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--config", "config_path", type=click.Path(path_type=Path),
              envvar="DISPATCHD_CONFIG",
              help="Config file [default: $XDG_CONFIG_HOME/dispatchd/config.yaml].")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for everything).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              envvar="DISPATCHD_LOG_FORMAT", show_default=True,
              help="Log lines as text, or as one JSON object per line.")
@click.option("--log-file", type=click.Path(path_type=Path, dir_okay=False),
              envvar="DISPATCHD_LOG_FILE",
              help="Append log lines to this file instead of stderr (reopened when rotated).")
@click.version_option(__version__, prog_name="dispatchd")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, verbose: int, quiet: bool,
        log_format: str, log_file: Path | None) -> None:
    """Hand Markdown task files from project inboxes to idle AI-agent sessions in tmux."""
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    try:
        setup_logging(level, log_format, log_file, verbose)
    except OSError as exc:
        raise click.BadParameter(f"cannot write to {log_file}: {exc.strerror}",
                                 param_hint="--log-file") from None
    if ctx.obj is None:
        ctx.obj = Context(None, config_path)
    else:
        ctx.obj.config_path = config_path


@cli.command()
@click.option("--dry-run", is_flag=True,
              help="Scan once, log what would be dispatched where, type nothing, exit.")
@pass_ctx
def run(ctx: Context, dry_run: bool) -> None:
    """Run the daemon in the foreground (SIGINT/SIGTERM or `dispatchd stop` stop it cleanly;
    SIGHUP reloads the config)."""
    from .engine import Engine, SetupError
    from .statefile import AlreadyRunning

    try:
        engine = Engine(ctx.config, ctx.pm, dry_run=dry_run,
                        reload=lambda: load_config(ctx.config_path))
    except SetupError as exc:
        click.echo(f"dispatchd: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    try:
        asyncio.run(engine.run())
    except AlreadyRunning as exc:
        click.echo(f"dispatchd: {exc}", err=True)
        sys.exit(EXIT_RUNNING)
    finally:
        let_go_of_a_dead_terminal()


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@pass_ctx
def validate(ctx: Context, files: tuple[Path, ...]) -> None:
    """Check task files (a folder: its *.md files; a project: its inbox); exit 1 if any is
    invalid or would lose fields it sets (broken YAML, a misspelt field)."""
    from .fsio import NotATaskFile, read_regular
    from .store import inbox_of, is_task_name
    from .task import TaskError, parse_task_text
    from .text import for_log

    bad = 0
    paths: list[Path] = []
    for given in files:
        folder = inbox_of(given) if inbox_of(given).is_dir() else given
        paths += (sorted(p for p in folder.iterdir() if is_task_name(p.name))
                  if folder.is_dir() else [given])
    for path in paths:
        try:
            data, _ = read_regular(path, ctx.config.max_task_bytes)
            task = parse_task_text(data.decode("utf-8"), id="-", name=path.name,
                                   project=Path.cwd(), path=path)
        except (OSError, NotATaskFile, TaskError, UnicodeDecodeError) as exc:
            bad += 1
            click.echo(f"invalid  {for_log(path)}: {for_log(exc)}")
            continue
        extra = "".join(f" {k}={v}" for k, v in (("model", task.model), ("agent", task.agent),
                                                 ("session", task.session)) if v)
        if task.lossy:
            bad += 1
            click.echo(f"invalid  {for_log(path)}: fields it sets would be lost: "
                       + "; ".join(task.warnings))
            continue
        click.echo(f"ok       {for_log(path)}: priority={task.priority}{for_log(extra)}")
        for warning in task.warnings:
            click.echo(f"warning  {for_log(path)}: {warning}")
    sys.exit(EXIT_PROBLEM if bad else 0)


@cli.command()
@click.argument("project", type=click.Path(path_type=Path, file_okay=False))
@click.argument("source", required=False, type=click.File("r", encoding="utf-8"))
@click.option("-m", "--message", "messages", multiple=True,
              help="The task's text; repeat it for more paragraphs.")
@click.option("--file", "text_file", type=click.File("r", encoding="utf-8"),
              help="Read the task's text from this file (- for stdin); same as SOURCE.")
@click.option("--name", help="File name in the inbox [default: from the title, or a timestamp].")
@click.option("--title", help="Task title (frontmatter) [default: the text's first line].")
@click.option("--priority", type=click.Choice(["critical", "high", "default", "low"],
                                              case_sensitive=False))
@click.option("--model", help="Model override (frontmatter).")
@click.option("--tag", "tags", multiple=True, help="A tag (frontmatter tags:); repeatable.")
@click.option("--agent", help="The agent CLI to use (frontmatter agent:), e.g. codex.")
@click.option("--session", help="Only this session may take it (frontmatter session:).")
@click.option("--force", is_flag=True,
              help="Write it even though no daemon with this config reads that project.")
@pass_ctx
def enqueue(ctx: Context, project: Path, source: Any, messages: tuple[str, ...],
            text_file: Any, name: str | None, title: str | None, priority: str | None,
            model: str | None, tags: tuple[str, ...], agent: str | None, session: str | None,
            force: bool) -> None:
    """Add a task to PROJECT's inbox, atomically. Its text comes from -m, --file/SOURCE, or
    stdin; options become frontmatter fields, merged with the text's own.

    PROJECT may also be given as its inbox (PROJECT/.agent-queue/inbox).
    """
    from .enqueue import EnqueueError, enqueue_task, project_of, unread_project

    project = project_of(project)
    why = None if force else unread_project(ctx.config, project)
    if why:
        click.echo(f"dispatchd: {why}", err=True)
        sys.exit(EXIT_PROBLEM)
    given = [g for g in (messages, source, text_file) if g]
    if len(given) > 1:
        raise click.UsageError("give the text one way: -m, --file or SOURCE")
    stdin = click.get_text_stream("stdin")
    if not given and stdin.isatty():
        raise click.UsageError("no text: give it with -m TEXT or --file FILE, or pipe it in "
                               "(enqueue reads stdin when it is not a terminal)")
    text = "\n\n".join(messages) if messages else (source or text_file or stdin).read()
    try:
        path = enqueue_task(project, text, name=name, title=title, priority=priority, model=model,
                            tags=tags, agent=agent, session=session)
    except EnqueueError as exc:
        click.echo(f"dispatchd: {exc}", err=True)
        sys.exit(EXIT_PROBLEM)
    click.echo(str(path))


@cli.command()
@click.argument("task_id")
@click.option("--retry", is_flag=True, help="Put it back in its inbox; it will be typed again.")
@click.option("--drop", is_flag=True, help="Set it aside in failed/.")
@pass_ctx
def resolve(ctx: Context, task_id: str, retry: bool, drop: bool) -> None:
    """Decide about a task in indoubt/ (or retry one in failed/) by its id."""
    from .resolve import ResolveError, find_task
    from .resolve import resolve as move
    from .status import known_projects

    if retry == drop:
        raise click.UsageError("say either --retry or --drop" if retry
                               else "say --retry or --drop")
    action = "retry" if retry else "drop"
    try:
        path = find_task(ctx.config, task_id, known_projects(ctx.config))
        dst = move(path, action == "retry", f"{action} by {os.environ.get('USER', 'a person')}")
    except (ResolveError, OSError) as exc:
        click.echo(f"dispatchd: {exc}", err=True)
        sys.exit(EXIT_PROBLEM)
    click.echo(str(dst))


@cli.command()
@click.argument("task_id")
@click.pass_context
def requeue(ctx: click.Context, task_id: str) -> None:
    """Put a task from indoubt/ or failed/ back in its inbox (same as resolve --retry)."""
    ctx.invoke(resolve, task_id=task_id, retry=True, drop=False)


@cli.command()
@click.argument("task_id")
@click.pass_context
def drop(ctx: click.Context, task_id: str) -> None:
    """Set a task in indoubt/ aside in failed/ (same as resolve --drop)."""
    ctx.invoke(resolve, task_id=task_id, retry=False, drop=True)


@cli.command()
@click.option("--timeout", type=Duration(minimum=0.1), default="60s", show_default=True,
              help="How long to wait for the clean stop.")
@pass_ctx
def stop(ctx: Context, timeout: float) -> None:
    """Stop the running daemon cleanly (SIGTERM), and wait until it has stopped."""
    from .statefile import StateDir

    state = StateDir(ctx.config.state_dir)
    pid = state.owner()
    if pid is None:
        click.echo(f"no dispatchd is running with state dir {ctx.config.state_dir}")
        return
    with contextlib.suppress(ProcessLookupError):  # it stopped meanwhile
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while state.owner() == pid:
        if time.monotonic() > deadline:
            click.echo(f"dispatchd: pid {pid} has not stopped after {timeout:g}s (it finishes "
                       "a submit in progress first); see its log", err=True)
            sys.exit(EXIT_PROBLEM)
        time.sleep(0.1)
    click.echo(f"stopped dispatchd (pid {pid})")


@cli.command()
@pass_ctx
def reload(ctx: Context) -> None:
    """Make the running daemon read its config again (SIGHUP); see its log for the result."""
    from .statefile import StateDir

    pid = StateDir(ctx.config.state_dir).owner()
    if pid is None:
        click.echo(f"dispatchd: no dispatchd is running with state dir {ctx.config.state_dir}",
                   err=True)
        sys.exit(EXIT_PROBLEM)
    os.kill(pid, signal.SIGHUP)
    click.echo(f"asked dispatchd (pid {pid}) to reload its config")


@cli.command()
@click.argument("agent", required=False)
@pass_ctx
def resume(ctx: Context, agent: str | None) -> None:
    """Dispatch again to an agent held by a limit, an outage or the storm guard (all if none
    is named). A limit or outage lifts by itself; use this when you know it is over."""
    from .accounts import request_resume
    from .status import collect_status, daemon_running

    held = {h["agent"]: h["text"] for h in collect_status(ctx.config)["holds"]}
    if agent is not None and agent not in held:
        click.echo(f"dispatchd: {agent} is not held" + (f" (held: {', '.join(sorted(held))})"
                                                       if held else ""), err=True)
        sys.exit(EXIT_PROBLEM)
    request_resume(ctx.config.state_dir, agent)
    names = [agent] if agent else sorted(held)
    running = daemon_running(ctx.config.state_dir)
    click.echo(("resuming " if running else "resumed at the next start: ")
               + (", ".join(names) or "nothing is held"))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--watch", "-w", is_flag=True, help="Keep the table up to date (a live table on a "
              "terminal; the plain table every interval otherwise).")
@click.option("--interval", type=Duration(minimum=0.1), default="2s", show_default=True,
              help="How often --watch refreshes (a duration: 500ms, 2s, 1m; at least 100ms).")
@click.option("--count", type=int, default=None, help="With --watch: stop after N refreshes.")
@pass_ctx
def status(ctx: Context, as_json: bool, watch: bool, interval: float,
           count: int | None) -> None:
    """Sessions, queues per project and in-flight tasks."""
    from .status import collect_status, render_status

    if watch and not as_json:
        from .watch import watch as watch_status

        with contextlib.suppress(KeyboardInterrupt):
            watch_status(ctx.config, interval, count, echo=click.echo)
        return
    data = collect_status(ctx.config)
    click.echo(json.dumps(data, indent=2) if as_json else render_status(data))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def plugins(ctx: Context, as_json: bool) -> None:
    """Installed plugins (and the config's plugin files): name, version, hooks, status."""
    from .status import plugin_rows, render_plugins

    ctx.config  # noqa: B018 - loads the plugin files the config names
    rows = plugin_rows(ctx.pm)
    click.echo(json.dumps(rows, indent=2) if as_json else render_plugins(rows))


@cli.command(hidden=False)
@click.argument("event", type=click.Choice(["stop", "stop-failure", "prompt-submit"]))
@click.option("--state-dir", type=click.Path(path_type=Path), required=True)
@click.option("--session", required=True)
@click.option("--task", "task_id", required=True)
def hook(event: str, state_dir: Path, session: str, task_id: str) -> None:
    """Report an agent event to the daemon (called by the agent's own hooks)."""
    from .callbacks import post_event

    raw = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
    try:
        payload = json.loads(raw) if raw.strip() else {}
    except ValueError:
        payload = {"raw": raw[:4096]}
    post_event(state_dir, event, session, task_id, payload if isinstance(payload, dict) else {})



@cli.command()
@click.option("--path", "path", type=click.Path(path_type=Path, dir_okay=False),
              help="Where to write it [default: the -c file, else "
                   "$XDG_CONFIG_HOME/dispatchd/config.yaml].")
@click.option("--force", is_flag=True, help="Replace an existing file.")
@pass_ctx
def init(ctx: Context, path: Path | None, force: bool) -> None:
    """Write a commented starter config."""
    from .config import default_config_path
    from .starter import InitError, write_starter

    target = path or ctx.config_path or default_config_path()
    try:
        write_starter(target, force=force)
    except InitError as exc:
        click.echo(f"dispatchd: {exc}", err=True)
        sys.exit(EXIT_PROBLEM)
    click.echo(f"wrote {target}")


@cli.group()
def pool() -> None:
    """Create or remove the autonomous tmux sessions of the pool."""


@pool.command("up")
@click.option("--all", "everything", is_flag=True,
              help="Create every session up to pool.autonomous.max, not only up to min.")
@pass_ctx
def pool_up(ctx: Context, everything: bool) -> None:
    """Create missing autonomous sessions so that at least pool.autonomous.min exist."""
    _pool_action("pool_up", ctx.config, everything)


@pool.command("down")
@click.option("--force", is_flag=True, help="Also kill sessions that hold a task.")
@pass_ctx
def pool_down(ctx: Context, force: bool) -> None:
    """Kill the idle autonomous sessions that `pool up` created."""
    _pool_action("pool_down", ctx.config, force)


def _pool_action(name: str, config: Config, flag: bool) -> None:
    """Run ``poolctl.<name>``; a tmux error is one line and exit status 1."""
    from . import poolctl

    try:
        asyncio.run(getattr(poolctl, name)(config, flag, click.echo))
    except poolctl.PoolError as exc:
        click.echo(f"dispatchd: tmux: {exc}", err=True)
        sys.exit(EXIT_PROBLEM)



@cli.command()
@click.argument("task")
@pass_ctx
def explain(ctx: Context, task: str) -> None:
    """Say why the waiting TASK (file name, id or path) has not been dispatched yet."""
    from .explain import ExplainError
    from .explain import explain as why

    try:
        lines = why(ctx.config, ctx.pm, task)
    except ExplainError as exc:
        click.echo(f"dispatchd: {exc}", err=True)
        sys.exit(EXIT_PROBLEM)
    click.echo("\n".join(lines))


for _command in cli.commands.values():
    accept_config_anywhere(_command)


def main() -> None:
    cli(obj=Context(), prog_name="dispatchd")
