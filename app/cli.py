"""The ``mistral-executor`` command. Each subcommand lives in its own module under ``app/commands``."""

from __future__ import annotations

import importlib
import sys

import typer

cli = typer.Typer(
    name="mistral-executor",
    help="Plan, write, run and self-heal Python with Mistral models, in a safe local sandbox.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Modules whose ``register(cli)`` adds their subcommand(s).
COMMAND_MODULES = [
    "app.commands.exec_cmd",
    "app.commands.models_cmd",
    "app.commands.ui_cmd",
    "app.commands.run_cmd",
    "app.commands.traces_cmd",
    "app.commands.bench_cmd",
    "app.commands.plugins_cmd",
]


def _register_commands() -> None:
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(cli)


_register_commands()


def main() -> None:
    try:
        cli()
    except UnicodeError as exc:
        # Last line of defence behind app.commands.args: text that is not text (undecodable
        # bytes from argv or a file) gets a message and exit code 2, never a traceback.
        from app.commands.args import shown

        sys.stderr.write(f"error: {shown(exc)}\n")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
