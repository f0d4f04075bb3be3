"""Pluggy hookspecs, the plugin manager, the tool registry and the built-in plugins.

The public API for plugin authors::

    from mistral_executor import hookimpl

    @hookimpl
    def register_tools(register):
        def shout(text: str) -> str:
            '''Upper-case a text.

            Args:
                text: what to shout.
            '''
            return text.upper()
        register(shout)

Hooks (see :mod:`plugins.hookspecs`): ``register_tools``, ``register_connectors``,
``register_sandboxes``, ``register_mcp_servers``, ``register_commands``, ``on_trace_event``.
Plugin code should import them from the public facade: ``from mistral_executor import hookimpl``.
"""

from plugins.connectors import Connector, ConnectorContext, MistralAccess
from plugins.hookspecs import PROJECT_NAME, hookimpl, hookspec
from plugins.loading import get_plugins, load_plugins
from plugins.manager import ENTRY_POINT_GROUP, PluginFailure, PluginInfo, Plugins
from plugins.mcp_servers import McpServerSpec
from plugins.schema import schema_from_function
from plugins.tools import Tool, ToolCall, ToolOutput, ToolRegistry, ToolResult
from sandbox import BackendSpec

__all__ = [
    "ENTRY_POINT_GROUP",
    "PROJECT_NAME",
    "BackendSpec",
    "Connector",
    "ConnectorContext",
    "McpServerSpec",
    "MistralAccess",
    "PluginFailure",
    "PluginInfo",
    "Plugins",
    "Tool",
    "ToolCall",
    "ToolOutput",
    "ToolRegistry",
    "ToolResult",
    "get_plugins",
    "hookimpl",
    "hookspec",
    "load_plugins",
    "schema_from_function",
]
