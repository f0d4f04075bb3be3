"""Turning the loaded plugins into the Scout's tools and the loop's trace observers.

Plugins never import the executor (imports point executor -> plugins), so what their connectors
need from us -- the configured Mistral client, a chat function for the image fallback's code
writer, embeddings, a sandbox to run in -- is handed to them here as a ``ConnectorContext``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from executor.mistral import MistralClient
    from plugins import ConnectorContext, Plugins, ToolRegistry
    from sandbox import Sandbox


def resolve_plugins(plugins: Any) -> Plugins | None:
    """``True`` -> the process's plugins (built-ins, entry points, plugins dir); a ``Plugins``
    object as it is; ``False``/``None`` -> no plugins."""
    if plugins is None or plugins is False:
        return None
    if plugins is True:
        from plugins import get_plugins

        return get_plugins()
    return plugins


def connector_context(
    *,
    api_key: str | None,
    server_url: str | None,
    client: MistralClient | None = None,
    sandbox: Sandbox | None = None,
    home: Path | None = None,
) -> ConnectorContext:
    """What the connectors may use: the key and server, the run's client (its SDK, chat and
    embeddings, only with a key) and sandbox when there is a run, and where documents live."""
    from plugins import ConnectorContext

    with_key = client is not None and bool(api_key)
    return ConnectorContext.from_env(
        api_key=api_key,
        server_url=server_url,
        client=client if with_key else None,  # its retries, breaker and usage (MistralAccess)
        chat=(lambda messages: client.chat(messages, role="coder").content) if with_key else None,
        embed=client.embed if with_key else None,
        sandbox=sandbox,  # lent, never closed by the connectors
        **({"home": home} if home is not None else {}),
    )


def build_tool_registry(
    plugins: Plugins, client: MistralClient, sandbox: Sandbox, api_key: str | None
) -> ToolRegistry:
    """The plugins' tools with their connectors bound to this executor's client and sandbox."""
    ctx = connector_context(
        api_key=api_key, server_url=client.server_url, client=client, sandbox=sandbox
    )
    return plugins.tool_registry(ctx)
