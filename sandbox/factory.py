"""Choosing a backend by name.

Backends register a factory here (the built-in ones lazily, so the restricted backend never pays
for importing the docker SDK); third-party backends arrive through the plugins'
``register_sandboxes`` hook and land in the same table.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass

from sandbox.contract import Limits, Sandbox, SandboxError


@dataclass
class BackendSpec:
    name: str
    factory: Callable[..., Sandbox]
    # Returns None when usable, else a sentence saying why not and how to fix it. Called with the
    # options ``create_sandbox`` got (e.g. ``image=``), or none for the backend's defaults.
    unavailable_reason: Callable[..., str | None] = lambda **_options: None
    description: str = ""


_BACKENDS: dict[str, BackendSpec] = {}


def _lazy(module: str, attr: str) -> Callable[..., object]:
    def call(*args: object, **kwargs: object) -> object:
        return getattr(importlib.import_module(module), attr)(*args, **kwargs)

    return call


def register_backend(spec: BackendSpec) -> None:
    if spec.name == "auto":
        raise ValueError("'auto' is reserved: it picks among the registered backends")
    _BACKENDS[spec.name] = spec


register_backend(
    BackendSpec(
        "restricted",
        _lazy("sandbox.restricted", "RestrictedSandbox"),
        description="RestrictedPython policy in locked-down worker processes (no Docker needed)",
    )
)
register_backend(
    BackendSpec(
        "docker",
        _lazy("sandbox.docker", "DockerSandbox"),
        _lazy("sandbox.docker", "unavailable_reason"),
        description="real CPython in a locked-down container (needs a Docker engine and the image)",
    )
)


def backend_names() -> list[str]:
    return ["auto", *_BACKENDS]


def backend_specs() -> dict[str, BackendSpec]:
    return dict(_BACKENDS)


def running_on_hf_space() -> bool:
    return bool(os.environ.get("SPACE_ID"))


def resolve_auto() -> str:
    """Docker when an engine answers and the image is there (never on a Space), else restricted."""
    if not running_on_hf_space() and _BACKENDS["docker"].unavailable_reason() is None:
        return "docker"
    return "restricted"


def create_sandbox(backend: str = "auto", *, limits: Limits | None = None, **options) -> Sandbox:
    """Build a sandbox by backend name: ``"restricted"``, ``"docker"``, ``"auto"`` or a plugin's."""
    name = resolve_auto() if backend == "auto" else backend
    spec = _BACKENDS.get(name)
    if spec is None:
        known = ", ".join(backend_names())
        raise SandboxError(f"unknown sandbox backend {backend!r}; choose one of: {known}")
    if name != "restricted":
        reason = spec.unavailable_reason(**options)
        if reason:
            raise SandboxError(f"the {name!r} sandbox cannot be used: {reason}")
    return spec.factory(limits=limits, **options)
