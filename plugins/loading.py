"""Finding and loading plugins: the built-ins, entry points, a plugins directory; once per process.

Loading order (like ``llm``/``datasette``): the built-in plugins, then the entry points of every
installed distribution in the group ``mistral_executor``, then the ``.py`` files of a plugins
directory (``--plugins-dir`` or ``MISTRAL_EXECUTOR_PLUGINS_DIR``). ``MISTRAL_EXECUTOR_LOAD_PLUGINS``
(comma-separated entry-point, distribution or file names; empty for none) limits which third-party
plugins load; the built-ins are the product's own features and always load. What a loaded plugin
may do, and how its failures are contained, is :mod:`plugins.manager`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from mistral_executor.settings import get_settings
from plugins.connectors import executor_home
from plugins.manager import BUILTIN_PLUGINS, ENTRY_POINT_GROUP, PluginInfo, Plugins
from plugins.mcp_servers import MCP_CONFIG_FILE, read_config
from plugins.sandboxes import install_backends

__all__ = ["get_plugins", "load_plugins", "plugins_loaded", "reset_plugins"]


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
    directory = plugins_dir if plugins_dir is not None else get_settings().plugins_dir
    if directory:
        _load_directory(plugins, Path(directory), allowed)
    if install_sandboxes:
        for failure in install_backends(plugins.infos.values()):
            plugins.failures.append(failure)
    return plugins


def _allowed_names(load: Iterable[str] | None) -> set[str] | None:
    if load is None:
        load = get_settings().load_plugins
        if load is None:
            return None
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


def plugins_loaded() -> bool:
    """Whether the process-wide plugins are loaded (``get_plugins`` would not load them)."""
    with _default_lock:
        return _default is not None


def reset_plugins() -> None:
    """Forget the process-wide plugins (tests that install or remove one)."""
    global _default
    with _default_lock:
        if _default is not None:
            _default.close()
        _default = None
