"""The hooks a plugin can implement (pluggy project ``mistral_executor``).

Modelled on ``llm`` and ``datasette``: every extension point is a ``register_*(register)`` hook, so
a plugin hands over as many objects as it likes through one callable and never needs to know how the
host stores them. Adding a hook is a public-API decision: each one here answers a user need named in
the plugins issue, nothing speculative.
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT_NAME = "mistral_executor"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_tools(register: Any) -> None:
    """Offer tools to the model.

    Call ``register(fn)`` with a plain typed function (its JSON schema comes from the type hints and
    the docstring) or ``register(Tool(...))`` with an explicit schema. ``register(fn, name=...,
    description=..., timeout_s=...)`` overrides what is derived.
    """


@hookspec
def register_connectors(register: Any) -> None:
    """Offer connectors: capabilities with a Mistral-hosted primary and a local fallback.

    Call ``register(connector)`` with an instance of :class:`plugins.Connector`.
    """


@hookspec
def register_sandboxes(register: Any) -> None:
    """Offer extra sandbox backends (e.g. a remote execution service).

    Call ``register(BackendSpec(name, factory, unavailable_reason, description))`` or
    ``register(name, factory, ...)``; the backend joins the one backend registry and works
    anywhere a backend name is accepted (``exec --backend NAME``, ``run --sandbox NAME``, the web
    app's dropdowns, the MCP server, ``Executor(sandbox=NAME)``). The built-in backends arrive
    the same way (``plugins.builtin.sandboxes``); their names, and a name another plugin holds,
    cannot be taken: the registration is refused and reported.
    """


@hookspec
def register_mcp_servers(register: Any) -> None:
    """Offer the tools of MCP servers (stdio commands or streamable-HTTP URLs) to the model.

    Call ``register(name, {"command": ..., "args": [...], "env": {...}})`` or
    ``register(name, {"url": ..., "headers": {...}})`` -- an entry in the ``mcp.json`` shape --,
    ``register(name, command=..., args=[...])``, or ``register(McpServerSpec(...))``. The servers
    start on first use; their tools are listed by ``mistral-executor plugins`` with the server
    they come from. A server that fails to start or crashes is reported and left out.
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add commands to the ``mistral-executor`` CLI, as ``llm`` plugins do.

    ``cli`` is a ``typer.Typer``: decorate functions with ``@cli.command()`` (type hints become
    arguments and options), add a sub-app with ``cli.add_typer(app, name=...)``, or hand over a
    ready ``click`` command with ``cli.add_command(command)``. The commands appear in
    ``mistral-executor --help`` and run like the built-in ones; a name the CLI already has is
    refused and reported by ``mistral-executor plugins``.
    """


@hookspec
def on_trace_event(event: Any) -> None:
    """Observe every trace event of a run as it happens (logging, metrics, audit).

    ``event`` is the executor's trace event object; treat it as read-only. An observer that raises
    is reported and not called again: observing must never break a run.
    """
