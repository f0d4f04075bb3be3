"""The executor's side of the sandbox: what a backend allows, and a process-wide cache.

The Mechanic must be told the rules of the sandbox its code will meet (limits, the import
allow-list), read off the live backend so a plugin's backend describes itself the same way.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import threading
from typing import Any

from executor.prompts import SandboxRules
from sandbox import Limits, Sandbox, create_sandbox

log = logging.getLogger(__name__)


def allowed_modules(sandbox: Sandbox) -> tuple[str, ...]:
    """The import allow-list of a backend that has one (empty: anything installed)."""
    allowed = getattr(sandbox, "allowed_modules", None) or getattr(sandbox, "allowed_imports", None)
    if allowed is None and sandbox.name == "restricted":
        try:
            allowed = importlib.import_module("sandbox.restricted.policy").DEFAULT_ALLOWED_IMPORTS
        except (ImportError, AttributeError):
            allowed = None
    return tuple(sorted(allowed or ()))


def sandbox_rules(sandbox: Sandbox) -> SandboxRules:
    """What the Mechanic is told about where its code runs, read off the live backend."""
    allowed = allowed_modules(sandbox)
    return SandboxRules(
        backend=sandbox.name,
        timeout_s=sandbox.limits.timeout_s,
        memory_mb=sandbox.limits.memory_mb,
        max_output_bytes=sandbox.limits.max_output_bytes,
        allowed_modules=allowed,
        restricted=sandbox.name == "restricted",
    )


_SHARED_SANDBOXES: dict[tuple[str, Limits | None], Sandbox] = {}
_SHARED_LOCK = threading.Lock()


def shared_sandbox(backend: str, limits: Limits | None = None) -> Sandbox:
    """One sandbox per (backend, limits) for the whole process, closed at exit.

    For callers that build an Executor per request (the web app does, per visitor): starting a
    backend's warm pool costs seconds, reusing one costs nothing. Runs never share state: each
    uses its own session.
    """
    key = (backend, limits)
    with _SHARED_LOCK:
        box = _SHARED_SANDBOXES.get(key)
        if box is None:
            box = _SHARED_SANDBOXES[key] = create_sandbox(backend, limits=limits)
            if len(_SHARED_SANDBOXES) == 1:
                atexit.register(_close_shared)
        return box


def _close_shared() -> None:
    with _SHARED_LOCK:
        boxes = list(_SHARED_SANDBOXES.values())
        _SHARED_SANDBOXES.clear()
    close_quietly(boxes)


def close_quietly(resources: list[Any]) -> None:
    while resources:
        resource = resources.pop()
        try:
            resource.close()
        except Exception:
            log.exception("closing %r failed", resource)
