"""Third-party sandbox backends arriving through ``register_sandboxes``.

They land in the same table as the built-in backends (``sandbox.factory.register_backend``), so a
plugin's backend works wherever a backend name is accepted. A plugin may not take over a built-in
name: "restricted" or "docker" silently meaning someone else's code would defeat the security the
product is about.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from sandbox import BackendSpec, register_backend
from sandbox.factory import backend_specs

if TYPE_CHECKING:
    from plugins.manager import PluginFailure, PluginInfo

# Backend name -> plugin that installed it, so reloading plugins may replace its own backends.
_PLUGIN_BACKENDS: dict[str, str] = {}


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


def install_backends(infos: Iterable[PluginInfo]) -> list[PluginFailure]:
    """Register every plugin backend with the sandbox factory; refusals come back as failures."""
    from plugins.manager import PluginFailure

    failures: list[PluginFailure] = []
    for info in infos:
        kept: list[BackendSpec] = []
        for spec in info.sandboxes:
            owner = _PLUGIN_BACKENDS.get(spec.name)
            taken = spec.name in backend_specs() and owner is None
            if spec.name == "auto" or taken or (owner is not None and owner != info.name):
                holder = owner or "the core"
                failures.append(
                    PluginFailure(
                        info.name,
                        info.source,
                        "register_sandboxes",
                        f"ValueError: sandbox backend name {spec.name!r} is reserved by {holder}",
                    )
                )
                continue
            register_backend(spec)
            _PLUGIN_BACKENDS[spec.name] = info.name
            kept.append(spec)
        info.sandboxes = kept
    return failures
