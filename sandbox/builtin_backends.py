"""The specs of the built-in backends: restricted, jail and docker.

They are defined here, in the sandbox package, because ``from sandbox import create_sandbox``
must find them without the plugin system (the sandbox package never imports ``plugins``). The
same spec objects reach the registry through the built-ins plugin
(``plugins/builtin/sandboxes.py``, a ``register_sandboxes`` hook like any third-party one), so
``mistral-executor plugins`` lists them with their plugin; ``sandbox.factory`` puts them in the
table at import, so a library user without plugins sees the very same entries.

Factories are lazy: choosing the restricted backend never pays for importing the docker SDK.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from sandbox.contract import Sandbox


@dataclass(frozen=True)
class BackendSpec:
    """A sandbox backend: its name, how to make one, and how to tell it cannot run here.

    ``unavailable_reason`` returns None when the backend is usable, else a sentence saying why not
    and how to fix it. It is called with the options ``create_sandbox`` got (e.g. ``image=``), or
    none for the backend's defaults.
    """

    name: str
    factory: Callable[..., Sandbox]
    unavailable_reason: Callable[..., str | None] = lambda **_options: None
    description: str = ""


def _lazy(module: str, attr: str) -> Callable[..., object]:
    def call(*args: object, **kwargs: object) -> object:
        return getattr(importlib.import_module(module), attr)(*args, **kwargs)

    call.__qualname__ = f"{module}.{attr}"
    return call


#: Who owns the built-in names in the registry (a third-party plugin may never take them).
BUILTIN_OWNER = "plugins.builtin.sandboxes"

BUILTIN_BACKENDS: tuple[BackendSpec, ...] = (
    BackendSpec(
        "restricted",
        _lazy("sandbox.restricted", "RestrictedSandbox"),
        description="RestrictedPython policy in locked-down worker processes (no Docker needed)",
    ),
    BackendSpec(
        "jail",
        _lazy("sandbox.jail", "JailSandbox"),
        _lazy("sandbox.jail", "unavailable_reason"),
        description=(
            "real CPython and the data stack in locked-down worker processes: Landlock, a "
            "seccomp allow-list, namespaces and hard rlimits (needs Linux with Landlock ABI 6+)"
        ),
    ),
    BackendSpec(
        "docker",
        _lazy("sandbox.docker", "DockerSandbox"),
        _lazy("sandbox.docker", "unavailable_reason"),
        description="real CPython in a locked-down container (needs a Docker engine and the image)",
    ),
)

BUILTIN_NAMES: frozenset[str] = frozenset(spec.name for spec in BUILTIN_BACKENDS)
