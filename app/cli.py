"""The ``mistral-executor`` command. Each subcommand lives in its own module under ``app/commands``.

Subcommands are loaded lazily: a command's module (and what it imports -- the executor, the
Mistral SDK, the sandbox, plugins, gradio) is imported only when that command runs or shows its
own help. ``mistral-executor --help`` lists the commands from ``COMMANDS`` below without importing
any of them, which keeps a cold start at about the cost of Python + typer. A test checks that
each one-line help here matches the command's own.

Plugins may add commands (the ``register_commands(cli)`` hook): they are loaded once, on the
first listing or lookup of a command, and only when a third-party plugin is installed
(``app.plugin_commands``).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

#: name -> (module whose ``register(cli)`` adds it, one-line help for the command list).
COMMANDS: dict[str, tuple[str, str]] = {
    "exec": (
        "app.commands.exec_cmd",
        "Run untrusted Python in the sandbox and show its output.",
    ),
    "models": (
        "app.commands.models_cmd",
        "List the Mistral models and their capabilities (MISTRAL_SERVER_URL, MISTRAL_API_KEY).",
    ),
    "ui": (
        "app.commands.ui_cmd",
        "Open the web app: chat with the executor, vision, traces, sandbox, plugins, settings.",
    ),
    "run": (
        "app.commands.run_cmd",
        "Plan, write, run, check and heal Python for TASK; print what the accepted program "
        "printed.",
    ),
    "plugins": (
        "app.commands.plugins_cmd",
        "List the plugins: the hooks each implements and its tools, connectors and sandboxes.",
    ),
    "traces": (
        "app.commands.traces_cmd",
        "Runs stored in the trace store (MISTRAL_EXECUTOR_HOME).",
    ),
    "bench": ("app.commands.bench_cmd", "Benchmarks of the whole loop."),
    "mcp": (
        "app.commands.mcp_cmd",
        "Serve MCP tools run_python, execute_task and sandbox_backends (stdio, or HTTP).",
    ),
}


def load_command(name: str) -> Any:
    """The real click command ``name``: its module imported and registered on a scratch Typer."""
    module_name, _ = COMMANDS[name]
    scratch = typer.Typer()
    importlib.import_module(module_name).register(scratch)
    command = typer.main.get_command(scratch)
    if isinstance(command, TyperGroup):  # a sub-app (traces, bench) or several commands
        command = command.commands[name]
    return command


class LazyCommands(TyperGroup):
    """A group whose subcommands are imported on first use; listing them imports nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listing = False
        self._plugin_commands: dict[str, Any] | None = None

    def plugin_commands(self) -> dict[str, Any]:
        """The commands plugins add, loaded once per process."""
        if self._plugin_commands is None:
            from app.plugin_commands import load_plugin_commands

            self._plugin_commands = load_plugin_commands(set(COMMANDS))
        return self._plugin_commands

    def list_commands(self, ctx: Any) -> list[str]:
        return [*COMMANDS, *sorted(self.plugin_commands())]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        # Plugins load here, at start-up, whatever the command (and only if some are installed):
        # every command then sees the same loaded plugins and their reported failures.
        plugin_command = self.plugin_commands().get(cmd_name)
        if plugin_command is not None:
            return plugin_command
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        if self._listing:  # the top-level help only needs a name and a line
            line = COMMANDS[cmd_name][1]
            return TyperCommand(cmd_name, help=line, short_help=line)
        if cmd_name not in self.commands:
            self.commands[cmd_name] = load_command(cmd_name)
        return self.commands[cmd_name]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


cli = typer.Typer(
    name="mistral-executor",
    cls=LazyCommands,
    help="Plan, write, run and self-heal Python with Mistral models, in a safe local sandbox.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help for the command list: typer's rich help formatter imports rich and markdown-it,
    # two thirds of a cold `--help`. Each command's own help stays rich.
    rich_markup_mode=None,
)


@cli.callback()
def _root() -> None:
    """Plan, write, run and self-heal Python with Mistral models, in a safe local sandbox."""


def main() -> None:
    from mistral_executor.settings import SettingsError

    try:
        cli()
    except SettingsError as exc:
        # A bad environment variable: its name and value, never a traceback.
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(2) from None
    except UnicodeError as exc:
        # Last line of defence behind app.commands.args: text that is not text (undecodable
        # bytes from argv or a file) gets a message and exit code 2, never a traceback.
        from app.commands.args import shown

        sys.stderr.write(f"error: {shown(exc)}\n")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
