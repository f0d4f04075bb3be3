"""``mistral-executor plugins``: what each plugin adds, and which plugins failed and why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from plugins import ConnectorContext, Plugins, get_plugins, load_plugins

_SOURCES = {"builtin": "built-in", "entry_point": "entry point", "directory": "plugins dir"}


def plugins_report(plugins: Plugins, ctx: ConnectorContext) -> dict[str, Any]:
    """Every plugin with its hooks, tools, connectors and sandboxes, the MCP servers with their
    tools (from mcp.json or a plugin's ``register_mcp_servers``), plus the failures."""
    registry = plugins.tool_registry(ctx)  # starts the MCP servers, reports those that fail
    servers = plugins.mcp_servers()
    from_mcp = {id(tool) for tools in servers.tools.values() for tool in tools}
    entries = []
    for info in plugins.infos.values():
        tools = [tool for tool in registry if tool.plugin == info.name and id(tool) not in from_mcp]
        entries.append(
            {
                "name": info.name,
                "source": info.source,
                "module": info.module,
                "distribution": info.distribution,
                "version": info.version,
                "path": info.path,
                "hooks": info.hooks,
                "tools": [
                    {"name": t.name, "description": t.description, "connector": t.connector or None}
                    for t in tools
                ],
                "connectors": [
                    {
                        **conn.info(),
                        "mistral_unavailable": ctx.mistral_unavailable_reason(conn.name),
                    }
                    for conn in info.connectors
                ],
                "sandboxes": [
                    {"name": spec.name, "description": spec.description} for spec in info.sandboxes
                ],
                "mcp_servers": [spec.name for spec in info.mcp_servers],
            }
        )
    offered = {id(tool) for tool in registry}
    mcp_servers = []
    for row in servers.report():
        # The tools that made it into the registry (a dead server's or a clashing name are not).
        row["tools"] = [
            {"name": tool.name, "description": tool.description, "mcp_server": row["name"]}
            for tool in servers.tools.get(row["name"], [])
            if id(tool) in offered
        ]
        mcp_servers.append(row)
    failures = [
        {"name": f.name, "source": f.source, "stage": f.stage, "error": f.error}
        for f in plugins.failures
    ]
    return {"plugins": entries, "mcp_servers": mcp_servers, "failures": failures}


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _print_report(report: dict[str, Any]) -> None:
    for entry in report["plugins"]:
        origin = _SOURCES.get(entry["source"], entry["source"])
        if entry["distribution"]:
            origin += f", {entry['distribution']} {entry['version'] or ''}".rstrip()
        elif entry["path"]:
            origin += f", {entry['path']}"
        typer.echo(f"{entry['name']}  ({origin})")
        typer.echo(f"  hooks: {', '.join(entry['hooks']) or 'none'}")
        for conn in entry["connectors"]:
            why_local = conn["mistral_unavailable"]
            serving = "local" if why_local else f"Mistral {conn['mistral_tool']}, local fallback"
            detail = f" ({why_local})" if why_local else ""
            typer.echo(f"  connector {conn['name']}: {serving}{detail}")
        for tool in entry["tools"]:
            typer.echo(f"  tool {tool['name']}: {_first_line(tool['description'])}")
        for spec in entry["sandboxes"]:
            typer.echo(f"  sandbox {spec['name']}: {spec['description']}")
        for name in entry["mcp_servers"]:
            typer.echo(f"  MCP server {name} (listed below)")
    if report["mcp_servers"]:
        typer.echo("\nMCP servers:")
    for server in report["mcp_servers"]:
        where = (
            " ".join([server["command"], *server["args"]])
            if server["transport"] == "stdio"
            else server["url"]
        )
        origin = "mcp.json" if server["source"] == "mcp.json" else f"plugin {server['source']}"
        state = server["status"] + (f": {server['error']}" if server["error"] else "")
        typer.echo(f"{server['name']}  ({server['transport']} {where}; from {origin}) {state}")
        for tool in server["tools"]:
            typer.echo(
                f"  tool {tool['name']} (MCP server {server['name']}): "
                f"{_first_line(tool['description'])}"
            )
    if report["failures"]:
        typer.echo("\nLeft out (failed to load):")
        for failure in report["failures"]:
            typer.echo(
                f"  {failure['name']} ({_SOURCES.get(failure['source'], failure['source'])}, "
                f"at {failure['stage']}): {failure['error']}"
            )


def plugins_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    plugins_dir: Annotated[
        Path | None,
        typer.Option(
            "--plugins-dir",
            help="Also load the .py plugins in this directory [env: MISTRAL_EXECUTOR_PLUGINS_DIR].",
        ),
    ] = None,
) -> None:
    """List the plugins: the hooks each implements and its tools, connectors and sandboxes."""
    # The process's plugins (loaded once at start-up, with what their commands reported);
    # a directory given here adds to them.
    plugins = load_plugins(plugins_dir) if plugins_dir is not None else get_plugins()
    report = plugins_report(plugins, ConnectorContext.from_env())
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        _print_report(report)


def register(cli: typer.Typer) -> None:
    cli.command("plugins")(plugins_command)
