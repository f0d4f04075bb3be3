"""``mistral-executor ui``: serve the Gradio app."""

from __future__ import annotations

from typing import Annotated

import typer


def ui_command(
    host: Annotated[
        str | None,
        typer.Option(
            help="Interface to listen on (0.0.0.0 to serve the network). [default: 127.0.0.1]"
        ),
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on. [default: 7860]", min=1, max=65535)
    ] = None,
) -> None:
    """Open the web app: chat with the executor, vision, traces, sandbox, plugins, settings."""
    # Imported here: gradio takes a few seconds to import and the other commands never need it.
    from app.ui import launch

    launch(host=host, port=port)


def register(cli: typer.Typer) -> None:
    cli.command("ui")(ui_command)
