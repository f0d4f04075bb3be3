"""The one registry of sandbox backends, and choosing a backend by name.

One table (``_BACKENDS``: name -> spec, with the owner of each name in ``_OWNERS``) is read by
everything that lists or picks a backend: ``create_sandbox``, the CLI's ``--backend``/``--sandbox``,
the UI's dropdowns, the MCP server's ``sandbox_backends``. It is fed from two places that hand in
the same specs:

- at import, the built-in specs of :mod:`sandbox.builtin_backends` (so ``from sandbox import
  create_sandbox`` works in a program that never loads plugins: the sandbox package cannot
  import ``plugins``);
- when plugins load, every ``register_sandboxes`` hook (``plugins.sandboxes.install_backends``):
  the built-ins plugin (``plugins/builtin/sandboxes.py``) registers those same built-in specs,
  third-party plugins their own.

A built-in name belongs to the built-ins plugin: a third-party plugin cannot take it ("restricted"
silently meaning someone else's code would defeat the product's security), nor a name another
plugin holds. ``auto`` is reserved: it picks among the registered backends.

``auto`` means: docker when its engine answers and the image is built (never on a Hugging Face
Space); else jail when this host gives every kernel layer it requires; else restricted. A host
pins what ``auto`` means with ``MISTRAL_EXECUTOR_SANDBOX=<backend>`` (a name given explicitly
still wins). ``explain_backend`` says which backend a name resolves to, and why.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from mistral_executor.settings import get_settings
from sandbox.builtin_backends import BUILTIN_BACKENDS, BUILTIN_NAMES, BUILTIN_OWNER, BackendSpec
from sandbox.contract import Limits, Sandbox, SandboxError

SANDBOX_ENV = "MISTRAL_EXECUTOR_SANDBOX"

_BACKENDS: dict[str, BackendSpec] = {}
_OWNERS: dict[str, str] = {}  # name -> who registered it (BUILTIN_OWNER, a plugin, "library")
_LOCK = threading.Lock()
LIBRARY_OWNER = "library"


class BackendNameTaken(ValueError):
    """A registration under a name that is reserved or held by someone else."""


def register_backend(spec: BackendSpec, *, owner: str = LIBRARY_OWNER) -> None:
    """Add ``spec`` to the registry under ``spec.name`` (``owner``: who registers it).

    Library code may call this directly (owner "library") for a backend of its own; plugins go
    through ``register_sandboxes``. Raises ``BackendNameTaken`` for ``auto``, for a built-in name
    registered by anyone but the built-ins plugin, and for a name another owner holds.
    """
    name = spec.name
    if name == "auto":
        raise BackendNameTaken("'auto' is reserved: it picks among the registered backends")
    with _LOCK:
        holder = _OWNERS.get(name)
        if name in BUILTIN_NAMES and owner != BUILTIN_OWNER:
            raise BackendNameTaken(
                f"sandbox backend name {name!r} is reserved by the built-in backends"
            )
        if holder is not None and holder != owner and owner != LIBRARY_OWNER:
            raise BackendNameTaken(f"sandbox backend name {name!r} is reserved by {holder}")
        _BACKENDS[name] = spec
        _OWNERS[name] = owner


def backend_owner(name: str) -> str | None:
    """Who registered backend ``name`` (None if nobody did)."""
    return _OWNERS.get(name)


for _spec in BUILTIN_BACKENDS:
    register_backend(_spec, owner=BUILTIN_OWNER)


def backend_names() -> list[str]:
    return ["auto", *_BACKENDS]


def backend_specs() -> dict[str, BackendSpec]:
    return dict(_BACKENDS)


def running_on_hf_space() -> bool:
    return bool(get_settings().space_id)


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
    pinned = get_settings().sandbox
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
