"""The supported public API of mistral-executor, under one unambiguous name.

Write ``from mistral_executor import hookimpl, Executor, create_sandbox, Tool`` rather than
importing from the project's internal packages (``app``, ``executor``, ``plugins``, ``sandbox``):
those names are generic and another installed package may share them, and what they expose beyond
this list may change. Every name below is loaded on first use (module ``__getattr__``), so
``import mistral_executor`` costs next to nothing -- a plugin importing ``hookimpl`` does not pull
in the executor, the Mistral SDK or the sandbox.
"""

# The TYPE_CHECKING imports at the end exist for type checkers and IDEs only.
# ruff: noqa: F401

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: public name -> module that defines it. The one list of what is supported.
_EXPORTS: dict[str, str] = {
    # Writing plugins
    "hookimpl": "plugins.hookspecs",
    "Tool": "plugins.tools",
    "ToolCall": "plugins.tools",
    "ToolOutput": "plugins.tools",
    "ToolResult": "plugins.tools",
    "ToolRegistry": "plugins.tools",
    "Connector": "plugins.connectors",
    "ConnectorContext": "plugins.connectors",
    "MistralAccess": "plugins.connectors",
    "McpServerSpec": "plugins.mcp_servers",
    "PluginFailure": "plugins.manager",
    "PluginInfo": "plugins.manager",
    "Plugins": "plugins.manager",
    "get_plugins": "plugins.loading",
    "load_plugins": "plugins.loading",
    "schema_from_function": "plugins.schema",
    # Running tasks
    "Executor": "executor.loop",
    "autonomous_execute": "executor.loop",
    "MistralAutonomousExecutor": "executor.seed",
    "ReviewDecision": "executor.review",
    "ReviewRequest": "executor.review",
    "DataFileError": "executor.datafiles",
    "ExecutionResult": "executor.results",
    "Attempt": "executor.results",
    "CheckResult": "executor.results",
    "Failure": "executor.results",
    "Plan": "executor.results",
    "RunUsage": "executor.results",
    "TraceEvent": "executor.results",
    "Verdict": "executor.results",
    "Conversation": "executor.conversation",
    "Turn": "executor.conversation",
    "CancelToken": "executor.cancel",
    "Cancelled": "executor.cancel",
    "RunStream": "executor.stream",
    "TraceStore": "executor.trace_store",
    "FunctionTool": "plugins.tools",
    "SimpleToolProvider": "plugins.tools",
    "ToolProvider": "plugins.tools",
    # Running code
    "create_sandbox": "sandbox.factory",
    "backend_names": "sandbox.factory",
    "BackendSpec": "sandbox.factory",
    "Limits": "sandbox.contract",
    "RunResult": "sandbox.contract",
    "Sandbox": "sandbox.contract",
    "SandboxError": "sandbox.contract",
    "ErrorInfo": "sandbox.contract",
    # Configuration
    "Settings": "mistral_executor.settings",
    "get_settings": "mistral_executor.settings",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mistral_executor' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain attribute lookup
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from executor.cancel import Cancelled, CancelToken
    from executor.conversation import Conversation, Turn
    from executor.datafiles import DataFileError
    from executor.loop import Executor, autonomous_execute
    from executor.results import (
        Attempt,
        CheckResult,
        ExecutionResult,
        Failure,
        Plan,
        RunUsage,
        TraceEvent,
        Verdict,
    )
    from executor.review import ReviewDecision, ReviewRequest
    from executor.seed import MistralAutonomousExecutor
    from executor.stream import RunStream
    from executor.trace_store import TraceStore
    from mistral_executor.settings import Settings, get_settings
    from plugins.connectors import Connector, ConnectorContext, MistralAccess
    from plugins.hookspecs import hookimpl
    from plugins.loading import get_plugins, load_plugins
    from plugins.manager import PluginFailure, PluginInfo, Plugins
    from plugins.mcp_servers import McpServerSpec
    from plugins.schema import schema_from_function
    from plugins.tools import (
        FunctionTool,
        SimpleToolProvider,
        Tool,
        ToolCall,
        ToolOutput,
        ToolProvider,
        ToolRegistry,
        ToolResult,
    )
    from sandbox.contract import ErrorInfo, Limits, RunResult, Sandbox, SandboxError
    from sandbox.factory import BackendSpec, backend_names, create_sandbox
