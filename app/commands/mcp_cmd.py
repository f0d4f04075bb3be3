"""``mistral-executor mcp``: serve the sandbox and the executor to MCP clients.

Over stdio by default (what Claude Desktop, Cursor and IDEs start), or streamable HTTP with
``--http PORT`` (endpoint ``http://HOST:PORT/mcp``). See docs/mcp.md for client configs.
"""

from __future__ import annotations

from typing import Annotated

import typer


def mcp_command(
    http: Annotated[
        int | None,
        typer.Option(
            "--http",
            metavar="PORT",
            min=1,
            max=65535,
            help="Serve streamable HTTP on this port (endpoint /mcp) instead of stdio.",
        ),
    ] = None,
    host: Annotated[
        str,
        typer.Option(
            help="Address to bind with --http. Anyone who can reach it can run code and spend "
            "the server's API key: keep 127.0.0.1 unless it sits behind your own auth."
        ),
    ] = "127.0.0.1",
) -> None:
    """Serve MCP tools run_python, execute_task and sandbox_backends (stdio, or HTTP)."""
    from app.mcp.server import serve

    serve(http_port=http, host=host)


def register(cli: typer.Typer) -> None:
    cli.command("mcp")(mcp_command)
