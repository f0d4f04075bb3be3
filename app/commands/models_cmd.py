"""``mistral-executor models``: placeholder until the client layer lands (issue 3)."""

from __future__ import annotations

import typer


def register(cli: typer.Typer) -> None:
    @cli.command("models")
    def models_command() -> None:
        """List the Mistral models and their capabilities."""
        typer.echo("not implemented yet", err=True)
        raise typer.Exit(2)
