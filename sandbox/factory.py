"""Choosing a backend by name.

Backends register a factory here (the built-in ones lazily, so the restricted backend never pays
for importing the docker SDK); third-party backends arrive through the plugins'
``register_sandboxes`` hook and land in the same table.

``auto`` means: docker when its engine answers and the image is built (never on a Hugging Face
Space); else jail when this host gives every kernel layer it requires; else restricted. A host
pins what ``auto`` means with ``MISTRAL_EXECUTOR_SANDBOX=<backend>`` (a name given explicitly
still wins). ``explain_backend`` says which backend a name resolves to, and why.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass

from sandbox.contract import Limits, Sandbox, SandboxError

SANDBOX_ENV = "MISTRAL_EXECUTOR_SANDBOX"


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
        "jail",
        _lazy("sandbox.jail", "JailSandbox"),
        _lazy("sandbox.jail", "unavailable_reason"),
        description=(
            "real CPython and the data stack in locked-down worker processes: Landlock, a "
            "seccomp allow-list, namespaces and hard rlimits (needs Linux with Landlock ABI 6+)"
        ),
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


@dataclass(frozen=True)
class BackendChoice:
    """The backend a name resolves to, and why (shown with results: ``exec --json``...)."""

    backend: str
    reason: str


def _reason_of(name: str) -> str | None:
    try:
        return _BACKENDS[name].unavailable_reason()
    except Exception as exc:  # a broken check means "not usable", never a crash of auto
        return f"its availability check failed: {type(exc).__name__}: {exc}"


def explain_auto() -> BackendChoice:
    """What ``auto`` means on this host right now, with the reason."""
    pinned = os.environ.get(SANDBOX_ENV, "").strip()
    if pinned and pinned != "auto":
        if pinned not in _BACKENDS:
            known = ", ".join(backend_names())
            raise SandboxError(
                f"{SANDBOX_ENV}={pinned!r} names no sandbox backend; use one of: {known}"
            )
        return BackendChoice(pinned, f"pinned by {SANDBOX_ENV}={pinned}")
    if running_on_hf_space():
        docker_reason: str | None = "not used on a Hugging Face Space"
    else:
        docker_reason = _reason_of("docker")
    if docker_reason is None:
        return BackendChoice("docker", "auto: the Docker engine answers and the image is built")
    jail_reason = _reason_of("jail") if "jail" in _BACKENDS else "not registered"
    if jail_reason is None:
        return BackendChoice(
            "jail", f"auto: docker is unavailable ({docker_reason}); every layer jail needs is here"
        )
    return BackendChoice(
        "restricted",
        f"auto: docker is unavailable ({docker_reason}); jail is unavailable ({jail_reason})",
    )


def resolve_auto() -> str:
    """The backend ``auto`` picks here (see ``explain_auto`` for why)."""
    return explain_auto().backend


def explain_backend(backend: str) -> BackendChoice:
    """The concrete backend a name (``auto`` included) stands for, and why."""
    if backend == "auto":
        return explain_auto()
    if backend not in _BACKENDS:
        known = ", ".join(backend_names())
        raise SandboxError(f"unknown sandbox backend {backend!r}; choose one of: {known}")
    return BackendChoice(backend, "asked for by name")


def create_sandbox(backend: str = "auto", *, limits: Limits | None = None, **options) -> Sandbox:
    """Build a sandbox by backend name: ``"restricted"``, ``"jail"``, ``"docker"``, ``"auto"``
    or a plugin's."""
    name = explain_backend(backend).backend
    spec = _BACKENDS[name]
    if name != "restricted":
        reason = spec.unavailable_reason(**options)
        if reason:
            raise SandboxError(f"the {name!r} sandbox cannot be used: {reason}")
    return spec.factory(limits=limits, **options)
