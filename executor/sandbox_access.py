"""The executor's side of the sandbox: what a backend allows, and a process-wide cache.

The Mechanic must be told the rules of the sandbox its code will meet (limits, the import
allow-list), read off the live backend so a plugin's backend describes itself the same way.
"""

from __future__ import annotations

import atexit
import importlib
import inspect
import logging
import threading
from typing import Any

from executor.prompts import SandboxRules
from sandbox import ErrorInfo, Limits, RunResult, Sandbox, create_sandbox

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


class SharedSandboxView(Sandbox):
    """A process-wide warm sandbox, seen with one caller's limits.

    Starting a backend's warm pool costs seconds, so every caller shares one per backend and
    passes its own limits with each run (the contract's per-run ``limits``). Keying pools by
    limits instead would let web visitors start a pool per combination they pick. ``close()``
    leaves the shared sandbox running: it outlives any one executor.
    """

    def __init__(self, inner: Sandbox, limits: Limits) -> None:
        super().__init__(limits)
        self.inner = inner
        self.name = inner.name

    def __getattr__(self, name: str) -> Any:  # e.g. allowed_imports, read by sandbox_rules
        return getattr(self.inner, name)

    def run(
        self,
        code: str,
        *,
        files: dict[str, bytes] | None = None,
        session_id: str | None = None,
        limits: Limits | None = None,
        cancel: threading.Event | None = None,
    ) -> RunResult:
        """The shared sandbox's run with this view's limits; ``cancel`` goes through to backends
        that take it (a plugin backend written before it existed simply runs to its end)."""
        if cancel is not None and _takes_cancel(self.inner):
            return self.inner.run(
                code,
                files=files,
                session_id=session_id,
                limits=limits or self.limits,
                cancel=cancel,
            )
        return self.inner.run(
            code, files=files, session_id=session_id, limits=limits or self.limits
        )

    def preflight(self, code: str) -> ErrorInfo | None:
        return self.inner.preflight(code)

    def close_session(self, session_id: str) -> None:
        self.inner.close_session(session_id)

    def close(self) -> None:
        """Nothing to release: the shared sandbox stays warm for the next caller."""


def _takes_cancel(sandbox: Sandbox) -> bool:
    try:
        parameters = inspect.signature(sandbox.run).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "cancel" or p.kind is p.VAR_KEYWORD for p in parameters)


_SHARED_SANDBOXES: dict[str, Sandbox] = {}
_SHARED_LOCK = threading.Lock()


def shared_sandbox(backend: str, limits: Limits | None = None) -> SharedSandboxView:
    """The process's sandbox for ``backend`` (started on first use, closed at exit), with
    ``limits`` applied to every run made through the returned view.

    For callers that build an Executor per request (the web app does, per visitor). Runs never
    share state: each uses its own session or forked child. Raises ``SandboxError`` when the
    backend cannot be used; a failed start is not cached.
    """
    with _SHARED_LOCK:
        box = _SHARED_SANDBOXES.get(backend)
        if box is None:
            box = _SHARED_SANDBOXES[backend] = create_sandbox(backend)
            if len(_SHARED_SANDBOXES) == 1:
                atexit.register(_close_shared)
    return SharedSandboxView(box, limits or Limits())


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
