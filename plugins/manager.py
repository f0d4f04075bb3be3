"""Finding, loading and isolating plugins.

Loading order (like ``llm``/``datasette``): the built-in plugins, then the entry points of every
installed distribution in the group ``mistral_executor``, then the ``.py`` files of a plugins
directory (``--plugins-dir`` or ``MISTRAL_EXECUTOR_PLUGINS_DIR``). ``MISTRAL_EXECUTOR_LOAD_PLUGINS``
(comma-separated entry-point, distribution or file names; empty for none) limits which third-party
plugins load; the built-ins are the product's own features and always load.

Plugins are third-party code running in our process, so isolation is the point of this module: a
plugin that fails to import, fails pluggy's validation, implements an unknown hook or raises inside a
hook is recorded as a :class:`PluginFailure` (name, stage, error) and left out entirely. Hooks are
therefore called one implementation at a time rather than through pluggy's all-or-nothing call.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import importlib.util
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from plugins import hookspecs
from plugins.connectors import Connector, ConnectorContext, executor_home
from plugins.mcp_servers import (
    MCP_CONFIG_FILE,
    McpServers,
    McpServerSpec,
    as_server_spec,
    read_config,
)
from plugins.sandboxes import install_backends, to_backend_spec
from plugins.tools import Tool, ToolRegistry, as_tool
from sandbox import BackendSpec

BUILTIN_PLUGINS = (
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


def load_plugins(
    plugins_dir: str | os.PathLike[str] | None = None,
    *,
    load: Iterable[str] | None = None,
    builtins: bool = True,
    install_sandboxes: bool = True,
    mcp_config: str | os.PathLike[str] | None | bool = None,
) -> Plugins:
    """Load every plugin and return what they registered. Never raises because of a plugin.

    ``plugins_dir`` defaults to ``MISTRAL_EXECUTOR_PLUGINS_DIR``; ``load`` (names) defaults to
    ``MISTRAL_EXECUTOR_LOAD_PLUGINS``. Sandboxes that plugins register are installed in the
    sandbox factory so ``create_sandbox(name)`` finds them. ``mcp_config`` is the MCP servers'
    file (default ``MISTRAL_EXECUTOR_HOME/mcp.json``; False for none).
    """
    plugins = Plugins()
    if mcp_config is not False:
        path = (
            Path(mcp_config)
            if mcp_config not in (None, True)
            else executor_home() / MCP_CONFIG_FILE
        )
        specs, problems = read_config(path)
        plugins.configured_mcp_servers = specs
        for name, problem in problems:
            plugins._fail(f"mcp:{name}", MCP_CONFIG_FILE, "config", ValueError(problem))
    allowed = _allowed_names(load)
    if builtins:
        for module_name in BUILTIN_PLUGINS:
            info = PluginInfo(name=module_name, source="builtin", module=module_name)
            module = _import(plugins, info, lambda name=module_name: importlib.import_module(name))
            if module is not None:
                plugins.add(module, info)
    _load_entry_points(plugins, allowed)
    directory = plugins_dir if plugins_dir is not None else os.environ.get(PLUGINS_DIR_ENV)
    if directory:
        _load_directory(plugins, Path(directory), allowed)
    if install_sandboxes:
        for failure in install_backends(plugins.infos.values()):
            plugins.failures.append(failure)
    return plugins


def _allowed_names(load: Iterable[str] | None) -> set[str] | None:
    if load is None:
        env = os.environ.get(LOAD_PLUGINS_ENV)
        if env is None:
            return None
        load = env.split(",")
    return {_normalize(name) for name in load if name.strip()}


def _normalize(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


def _import(plugins: Plugins, info: PluginInfo, loader: Callable[[], Any]) -> Any:
    try:
        return loader()
    except BaseException as exc:  # noqa: BLE001 - SystemExit from a plugin must not end the app
        if isinstance(exc, KeyboardInterrupt):
            raise
        plugins._fail(info.name, info.source, "import", exc)
        return None


def _load_entry_points(plugins: Plugins, allowed: set[str] | None) -> None:
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist
        dist_name = dist.metadata["Name"] if dist is not None else None
        names = {_normalize(entry_point.name)} | ({_normalize(dist_name)} if dist_name else set())
        if allowed is not None and not names & allowed:
            continue
        info = PluginInfo(
            name=entry_point.name,
            source="entry_point",
            module=entry_point.value,
            distribution=dist_name,
            version=dist.version if dist else None,
        )
        obj = _import(plugins, info, entry_point.load)
        if obj is not None:
            plugins.add(obj, info)


def _load_directory(plugins: Plugins, directory: Path, allowed: set[str] | None) -> None:
    if not directory.is_dir():
        plugins._fail(
            str(directory),
            "directory",
            "import",
            FileNotFoundError(f"plugins directory {str(directory)!r} does not exist"),
        )
        return
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_") or (
            allowed is not None and _normalize(path.stem) not in allowed
        ):
            continue
        module_name = f"mistral_executor_plugin_{path.stem}"
        info = PluginInfo(name=path.stem, source="directory", module=module_name, path=str(path))
        module = _import(plugins, info, lambda p=path, m=module_name: _exec_file(p, m))
        if module is not None:
            plugins.add(module, info)


def _exec_file(path: Path, module_name: str) -> Any:
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


_default: Plugins | None = None
_default_lock = threading.Lock()


def get_plugins() -> Plugins:
    """The process-wide plugins, loaded once from the environment (what the app uses)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = load_plugins()
        return _default
