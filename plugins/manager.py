"""The loaded plugins, what they registered, and their isolation (finding them: ``plugins.loading``).

Plugins are third-party code running in our process, so isolation is the point of this module: a
plugin that fails to import, fails pluggy's validation, implements an unknown hook or raises inside a
hook is recorded as a :class:`PluginFailure` (name, stage, error) and left out entirely. Hooks are
therefore called one implementation at a time rather than through pluggy's all-or-nothing call.
"""

from __future__ import annotations

import dataclasses
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from plugins import hookspecs
from plugins.connectors import Connector, ConnectorContext
from plugins.mcp_servers import (
    McpServers,
    McpServerSpec,
    as_server_spec,
)
from plugins.sandboxes import to_backend_spec
from plugins.tools import Tool, ToolRegistry, as_tool
from sandbox import BackendSpec

BUILTIN_PLUGINS = (
    "plugins.builtin.sandboxes",
    "plugins.builtin.web_search",
    "plugins.builtin.code_interpreter",
    "plugins.builtin.image_generation",
    "plugins.builtin.document_library",
)
ENTRY_POINT_GROUP = hookspecs.PROJECT_NAME
PLUGINS_DIR_ENV = "MISTRAL_EXECUTOR_PLUGINS_DIR"
LOAD_PLUGINS_ENV = "MISTRAL_EXECUTOR_LOAD_PLUGINS"
REGISTER_HOOKS = (
    "register_tools",
    "register_connectors",
    "register_sandboxes",
    "register_mcp_servers",
)


@dataclass
class PluginFailure:
    """A plugin that was left out (or one of its contributions), and why."""

    name: str
    source: str
    stage: str
    error: str
    traceback: str = ""

    def __str__(self) -> str:
        return f"plugin {self.name!r} ({self.source}) failed at {self.stage}: {self.error}"


@dataclass
class PluginInfo:
    name: str
    source: str  # "builtin", "entry_point" or "directory"
    module: str
    distribution: str | None = None
    version: str | None = None
    path: str | None = None
    hooks: list[str] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    connectors: list[Connector] = field(default_factory=list)
    sandboxes: list[BackendSpec] = field(default_factory=list)
    mcp_servers: list[McpServerSpec] = field(default_factory=list)


class Plugins:
    """The loaded plugins and everything they registered."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.failures: list[PluginFailure] = []
        self._silenced_observers: set[str] = set()
        self._lock = threading.Lock()
        # MCP servers from the host's mcp.json (the plugins' own are in their PluginInfo).
        self.configured_mcp_servers: list[McpServerSpec] = []
        self._mcp: McpServers | None = None
        self._mcp_lock = threading.Lock()

    # -- what the plugins offer -------------------------------------------------------------

    def tools(self) -> list[Tool]:
        return [tool for info in self.infos.values() for tool in info.tools]

    def connectors(self) -> list[Connector]:
        return [conn for info in self.infos.values() for conn in info.connectors]

    def connector(self, name: str) -> Connector | None:
        return next((conn for conn in self.connectors() if conn.name == name), None)

    def sandboxes(self) -> list[BackendSpec]:
        return [spec for info in self.infos.values() for spec in info.sandboxes]

    def mcp_servers(self) -> McpServers:
        """The declared MCP servers (mcp.json first, then the plugins'). Nothing starts until
        their tools are asked for."""
        with self._mcp_lock:  # not self._lock: reporting a duplicate takes that one
            if self._mcp is None:
                declared = [
                    *self.configured_mcp_servers,
                    *(spec for info in self.infos.values() for spec in info.mcp_servers),
                ]
                self._mcp = McpServers(declared, self._mcp_failed)
            return self._mcp

    def _mcp_failed(self, spec: McpServerSpec, message: str) -> None:
        self._fail(f"mcp:{spec.name}", spec.source, "mcp_server", RuntimeError(message))

    def mcp_tool_servers(self) -> dict[str, str]:
        """tool name -> the MCP server it comes from (for the running servers)."""
        return {tool.name: server for server, tool in self.mcp_servers().live_tools()}

    def close(self) -> None:
        """Stop the MCP servers this object started (the process's plugins live until exit)."""
        if self._mcp is not None:
            self._mcp.close()

    def tool_registry(
        self, ctx: ConnectorContext | None = None, **registry_options: Any
    ) -> ToolRegistry:
        """Every tool on offer: plugins' own tools plus the connectors' tools bound to ``ctx``.

        A connector whose ``tools(ctx)`` raises, or a tool whose name is taken, is reported in
        ``failures`` and skipped; the rest of the registry is unaffected.
        """
        ctx = ctx or ConnectorContext.from_env()
        registry = ToolRegistry(**registry_options)
        for info in list(self.infos.values()):
            candidates: list[tuple[Tool, str]] = [(tool, "") for tool in info.tools]
            for conn in info.connectors:
                try:
                    candidates += [(as_tool(tool), conn.name) for tool in conn.tools(ctx)]
                except Exception as exc:
                    self._fail(info.name, info.source, f"{conn.name}.tools", exc)
            for tool, connector in candidates:
                tagged = dataclasses.replace(
                    tool, plugin=info.name, connector=connector or tool.connector
                )
                try:
                    registry.add(tagged)
                except ValueError as exc:
                    self._fail(info.name, info.source, "register_tools", exc)
        for server, tool in self.mcp_servers().live_tools():
            try:
                registry.add(tool)
            except ValueError as exc:
                spec = next(s for s in self.mcp_servers().specs if s.name == server)
                self._mcp_failed(spec, f"tool {tool.name!r} left out: {exc}")
        return registry

    def emit(self, event: Any) -> None:
        """Pass a trace event to every observer; a raising observer is reported and silenced."""
        for impl in self.pm.hook.on_trace_event.get_hookimpls():
            if impl.plugin_name in self._silenced_observers:
                continue
            try:
                impl.function(event=event)
            except Exception as exc:
                with self._lock:
                    self._silenced_observers.add(impl.plugin_name)
                info = self.infos.get(impl.plugin_name)
                self._fail(impl.plugin_name, info.source if info else "?", "on_trace_event", exc)

    def register_commands(self, new_cli: Callable[[str], Any]) -> dict[str, Any]:
        """Let each plugin add CLI commands (the ``register_commands(cli)`` hook).

        ``new_cli(plugin_name)`` makes the object handed to that plugin's hook (``app.cli``
        passes a fresh ``typer.Typer``), so commands stay attributed to their plugin. Returns
        plugin name -> that object for the plugins whose hook ran; one that raised is reported
        in ``failures`` and left out, and the others are unaffected.
        """
        added: dict[str, Any] = {}
        for impl in self.pm.hook.register_commands.get_hookimpls():
            target = new_cli(impl.plugin_name)
            try:
                impl.function(**{arg: target for arg in impl.argnames})
            except Exception as exc:
                self.report(impl.plugin_name, "register_commands", exc)
                continue
            added[impl.plugin_name] = target
        return added

    def report(self, plugin_name: str, stage: str, exc: BaseException) -> None:
        """Record a failure of a loaded plugin's contribution (shown by ``plugins``)."""
        info = self.infos.get(plugin_name)
        self._fail(plugin_name, info.source if info else "?", stage, exc)

    def hook_names(self, name: str) -> list[str]:
        plugin = self.pm.get_plugin(name)
        callers = self.pm.get_hookcallers(plugin) if plugin is not None else None
        return sorted(caller.name for caller in callers or [])

    # -- loading ------------------------------------------------------------------------------

    def add(self, obj: Any, info: PluginInfo) -> bool:
        """Register one plugin object and collect its registrations; False if it was left out."""
        if info.name in self.infos or self.pm.get_plugin(info.name) is not None:
            self._fail(
                info.name,
                info.source,
                "register",
                ValueError(f"a plugin named {info.name!r} is already loaded"),
            )
            return False
        try:
            self.pm.register(obj, name=info.name)
        except Exception as exc:  # PluginValidationError: wrong hook arguments, etc.
            self._fail(info.name, info.source, "register", exc)
            return False
        unknown = [
            caller.name for caller in self.pm.get_hookcallers(obj) or [] if not caller.has_spec()
        ]
        if unknown:
            self.pm.unregister(obj)
            known = ", ".join(
                sorted(name for name in dir(hookspecs) if name.startswith(("register_", "on_")))
            )
            self._fail(
                info.name,
                info.source,
                "register",
                ValueError(
                    f"implements unknown hook(s) {', '.join(unknown)}; known hooks: {known}"
                ),
            )
            return False
        info.hooks = self.hook_names(info.name)
        try:
            self._collect(obj, info)
        except _HookFailed as failed:
            self.pm.unregister(obj)
            self._fail(info.name, info.source, failed.hook, failed.error)
            return False
        self.infos[info.name] = info
        return True

    def _collect(self, obj: Any, info: PluginInfo) -> None:
        collectors: dict[str, tuple[list[Any], Callable[..., Any]]] = {
            "register_tools": (info.tools, as_tool),
            "register_connectors": (info.connectors, _as_connector),
            "register_sandboxes": (info.sandboxes, to_backend_spec),
            "register_mcp_servers": (
                info.mcp_servers,
                lambda *args, **kwargs: dataclasses.replace(
                    as_server_spec(*args, **kwargs), source=info.name
                ),
            ),
        }
        for hook_name in REGISTER_HOOKS:
            target, convert = collectors[hook_name]
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                if impl.plugin is not obj or impl.hookwrapper or impl.wrapper:
                    continue
                collected: list[Any] = []

                def register(
                    item: Any, *args: Any, _convert=convert, _into=collected, **kwargs: Any
                ) -> None:
                    _into.append(_convert(item, *args, **kwargs))

                try:
                    impl.function(**{arg: register for arg in impl.argnames})
                except Exception as exc:
                    raise _HookFailed(hook_name, exc) from exc
                target.extend(collected)

    def _fail(self, name: str, source: str, stage: str, exc: BaseException) -> None:
        message = f"{type(exc).__name__}: {exc}"
        trace = "".join(traceback.format_exception(exc))
        with self._lock:
            # tool_registry() may be built once per run: report a lasting problem once.
            if not any((f.name, f.stage, f.error) == (name, stage, message) for f in self.failures):
                self.failures.append(PluginFailure(name, source, stage, message, trace))


class _HookFailed(Exception):
    def __init__(self, hook: str, error: BaseException) -> None:
        super().__init__(hook)
        self.hook = hook
        self.error = error


def _as_connector(obj: Any) -> Connector:
    connector = obj() if isinstance(obj, type) else obj
    if not isinstance(connector, Connector) or not connector.name:
        raise TypeError(f"register() expects a plugins.Connector instance with a name, got {obj!r}")
    return connector
