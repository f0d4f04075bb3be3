"""Turning the loaded plugins into the Scout's tools and the loop's trace observers.

Plugins never import the executor (imports point executor -> plugins), so what their connectors
need from us -- the configured Mistral client, a chat function for the image fallback's code
writer, embeddings, a sandbox to run in -- is handed to them here as a ``ConnectorContext``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from executor.mistral import MistralClient
    from plugins import Plugins, ToolRegistry
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


def build_tool_registry(
    plugins: Plugins, client: MistralClient, sandbox: Sandbox, api_key: str | None
) -> ToolRegistry:
    """The plugins' tools with their connectors bound to this executor's client and sandbox."""
    from plugins import ConnectorContext

    ctx = ConnectorContext.from_env(
        api_key=api_key,
        server_url=client.server_url,
        client=client.sdk if api_key else None,
        chat=(lambda messages: client.chat(messages, role="coder").content) if api_key else None,
        embed=client.embed if api_key else None,
        sandbox=sandbox,  # lent, never closed by the connectors
    )
    return plugins.tool_registry(ctx)
