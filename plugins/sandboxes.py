"""Sandbox backends arriving through ``register_sandboxes``: the built-ins and third-party ones.

They land in the one registry of :mod:`sandbox.factory`, so a plugin's backend works wherever a
backend name is accepted (``exec --backend``, ``run --sandbox``, the UI's dropdowns, the MCP
server). The built-in backends come through this path too (``plugins/builtin/sandboxes.py``). A
third-party plugin may not take over a built-in name, nor a name another plugin holds: the
registry refuses, and the refusal is reported as that plugin's failure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from mistral_executor.settings import get_settings
from sandbox import BackendSpec, SandboxError, backend_names
from sandbox.builtin_backends import BUILTIN_OWNER
from sandbox.factory import BackendChoice, BackendNameTaken, explain_backend, register_backend

if TYPE_CHECKING:
    from plugins.manager import PluginFailure, PluginInfo

log = logging.getLogger(__name__)


def to_backend_spec(
    spec_or_name: BackendSpec | str,
    factory: Callable[..., Any] | None = None,
    unavailable_reason: Callable[[], str | None] | None = None,
    description: str = "",
) -> BackendSpec:
    """Accept ``register(BackendSpec(...))`` or ``register(name, factory, ...)``."""
    if isinstance(spec_or_name, BackendSpec):
        return spec_or_name
    if not isinstance(spec_or_name, str) or factory is None:
        raise TypeError("register() expects a sandbox.BackendSpec or (name, factory, ...)")
    kwargs: dict[str, Any] = {"description": description}
    if unavailable_reason is not None:
        kwargs["unavailable_reason"] = unavailable_reason
    return BackendSpec(spec_or_name, factory, **kwargs)


def owner_of(info: PluginInfo) -> str:
    """The registry's owner name for a plugin: only the product's own built-ins plugin owns the
    built-in names (a third-party plugin that calls itself the same is still third-party)."""
    if info.source == "builtin" and info.name == BUILTIN_OWNER:
        return BUILTIN_OWNER
    return f"plugin {info.name!r} ({info.source})"


def install_backends(infos: Iterable[PluginInfo]) -> list[PluginFailure]:
    """Register every plugin's backends in the sandbox registry; refusals come back as failures."""
    from plugins.manager import PluginFailure

    failures: list[PluginFailure] = []
    for info in infos:
        kept: list[BackendSpec] = []
        for spec in info.sandboxes:
            try:
                register_backend(spec, owner=owner_of(info))
            except BackendNameTaken as exc:
                failures.append(
                    PluginFailure(
                        info.name, info.source, "register_sandboxes", f"ValueError: {exc}"
                    )
                )
                continue
            kept.append(spec)
        info.sandboxes = kept
    return failures


def choose_backend(name: str | None = None) -> BackendChoice:
    """The backend ``name`` resolves to (blank: the host's ``MISTRAL_EXECUTOR_SANDBOX``), and why.

    A name the registry does not know yet loads the process's plugins first (their
    ``register_sandboxes`` hooks feed the registry), so a plugin's backend works at every entry
    point -- ``exec --backend``, ``run --no-tools --sandbox``, the UI, the MCP server -- whether
    or not the caller also wants the plugins' tools. Raises ``SandboxError`` naming the choices
    when no plugin registers it either.
    """
    chosen = (name or "").strip() or get_settings().sandbox
    try:
        return explain_backend(chosen)
    except SandboxError:
        from plugins.loading import get_plugins, plugins_loaded

        if plugins_loaded():
            raise
        get_plugins()
        return explain_backend(chosen)


def available_backends() -> list[str]:
    """Every backend name a caller may pick, the plugins' included (for dropdowns and lists):
    loads the process's plugins once, then reads the registry."""
    from plugins.loading import get_plugins

    try:
        get_plugins()
    except Exception:  # the built-in backends are listed whatever happened to the plugins
        log.exception("the plugins could not be loaded; listing the built-in backends")
    return backend_names()
