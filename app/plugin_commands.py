"""CLI commands added by plugins (the ``register_commands(cli)`` hook), loaded once at start-up.

As in ``llm``, the plugins load when the CLI starts and each may add commands. What keeps
``mistral-executor --help`` fast is that nothing is imported when no third-party plugin can be
there: the check reads the entry points of the group ``mistral_executor`` and the plugins
directory setting, and imports no plugin (the built-in plugins add no commands). When there are
plugins, they are loaded through ``plugins.get_plugins()``, the process-wide instance every
command then reuses.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import sys
from collections.abc import Iterator
from typing import Any

import typer

#: The plugins' entry-point group (``plugins.hookspecs.PROJECT_NAME``; not imported from there,
#: which would load the plugins package on every start).
ENTRY_POINT_GROUP = "mistral_executor"


class PluginCli(typer.Typer):
    """What one plugin's ``register_commands(cli)`` receives: a Typer app that also accepts a
    ready click command through ``add_command`` (as a click group would)."""

    def __init__(self) -> None:
        super().__init__(add_completion=False, pretty_exceptions_enable=False)
        self.click_commands: list[tuple[str | None, Any]] = []

    def add_command(self, command: Any, name: str | None = None) -> None:
        self.click_commands.append((name, command))


def third_party_plugins_possible() -> bool:
    """Whether a plugin beyond the built-ins may load; imports none (cheap)."""
    try:
        from mistral_executor.settings import get_settings

        settings = get_settings()
    except ValueError:
        return False  # a bad setting: the command that runs reports it
    if settings.load_plugins == ():
        return False
    if settings.plugins_dir is not None:
        return True
    return bool(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def load_plugin_commands(taken: set[str]) -> dict[str, Any]:
    """name -> click command for every command the plugins add; names in ``taken`` (the
    built-in commands) and a second use of a name are refused and reported as failures."""
    if not third_party_plugins_possible():
        return {}
    from plugins import get_plugins

    with _stdout_to_stderr():
        plugins = get_plugins()
    commands: dict[str, Any] = {}
    for plugin, app in plugins.register_commands(lambda _name: PluginCli()).items():
        try:
            found = _commands_of(app)
        except Exception as exc:  # a command typer cannot build (bad annotations...)
            plugins.report(plugin, "register_commands", exc)
            continue
        for name, command in found.items():
            if name in taken or name in commands:
                plugins.report(
                    plugin,
                    "register_commands",
                    ValueError(f"the command name {name!r} is already taken"),
                )
                continue
            commands[name] = command
    return commands


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """What a plugin prints while it loads (``print``, or bytes on fd 1 from C code or a child
    process) is a message, not the command's output: stdout belongs to the command (JSON for
    ``plugins --json``, the protocol of ``mcp`` over stdio)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _commands_of(app: PluginCli) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if app.registered_commands or app.registered_groups:
        found.update(typer.main.get_group(app).commands)
    for name, command in app.click_commands:
        found[name or command.name] = command
    return found
