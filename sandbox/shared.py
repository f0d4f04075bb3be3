"""The process's warm sandboxes, one per backend, shared by every caller that asks for one.

Starting a backend's warm pool costs seconds, so callers that make an executor per request (the
web app per visitor, the MCP server and the public API per call, the Sandbox tab per click) share
one sandbox per backend and pass their own limits with each run (the contract's per-run
``limits``). Keying the cache by limits instead would let web visitors start a pool per
combination they pick. Runs never share state: each uses its own session or forked child.

It lives in the sandbox package because it is a sandbox concern that the app reaches both
directly (Sandbox tab, MCP ``run_python``) and through the executor.
"""

from __future__ import annotations

import atexit
import inspect
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

from sandbox.contract import ErrorInfo, Limits, RunResult, Sandbox
from sandbox.factory import create_sandbox

log = logging.getLogger(__name__)

__all__ = [
    "SharedSandboxView",
    "accepts_cancel",
    "accepts_keyword",
    "accepts_on_output",
    "running_shared",
    "shared_sandbox",
]

_ACCEPTS: weakref.WeakKeyDictionary[Sandbox, dict[str, bool]] = weakref.WeakKeyDictionary()


def accepts_keyword(sandbox: Sandbox, keyword: str) -> bool:
    """Whether ``sandbox.run`` names ``keyword`` among its parameters (a ``**options``
    catch-all does not count: it may drop it). Checked once per sandbox and keyword."""
    try:
        return _ACCEPTS[sandbox][keyword]
    except (KeyError, TypeError):
        pass
    try:
        accepted = keyword in inspect.signature(sandbox.run).parameters
    except (TypeError, ValueError):  # a callable without a readable signature
        accepted = False
    try:
        _ACCEPTS.setdefault(sandbox, {})[keyword] = accepted
    except TypeError:  # not weak-referenceable: check again next time
        pass
    return accepted


def accepts_cancel(sandbox: Sandbox) -> bool:
    """Whether ``sandbox.run`` takes ``cancel=`` (a ``threading.Event`` that kills the program
    when set). Built-in backends do; a third-party plugin backend written before that keyword
    may not, and gets runs without it (a cancelled run then ends at its own wall limit)."""
    return accepts_keyword(sandbox, "cancel")


def accepts_on_output(sandbox: Sandbox) -> bool:
    """Whether ``sandbox.run`` takes ``on_output=`` (live output). A plugin backend written
    before that keyword gets runs without it: its output then shows when the run ends."""
    return accepts_keyword(sandbox, "on_output")


class SharedSandboxView(Sandbox):
    """A process-wide warm sandbox, seen with one caller's limits. ``close()`` leaves the shared
    sandbox running: it outlives any one caller."""

    def __init__(self, inner: Sandbox, limits: Limits) -> None:
        super().__init__(limits)
        self.inner = inner
        self.name = inner.name
        self.restricted_python = inner.restricted_python

    @property
    def allowed_imports(self) -> tuple[str, ...] | None:
        return self.inner.allowed_imports

    def __getattr__(self, name: str) -> Any:  # backend extras: isolation, degraded...
        if name.startswith("_") or name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def run(
        self,
        code: str,
        *,
        files: dict[str, bytes] | None = None,
        session_id: str | None = None,
        limits: Limits | None = None,
        cancel: threading.Event | None = None,
        on_output: Callable[[str, str], None] | None = None,
    ) -> RunResult:
        """The shared sandbox's run with this view's limits; ``cancel`` and ``on_output`` go
        through to backends that take them (a plugin backend written before they existed
        simply runs to its end, its output shown when it is over)."""
        options: dict[str, Any] = {}
        if cancel is not None and accepts_cancel(self.inner):
            options["cancel"] = cancel
        if on_output is not None and accepts_on_output(self.inner):
            options["on_output"] = on_output
        return self.inner.run(
            code, files=files, session_id=session_id, limits=limits or self.limits, **options
        )

    def preflight(self, code: str) -> ErrorInfo | None:
        return self.inner.preflight(code)

    def close_session(self, session_id: str) -> None:
        self.inner.close_session(session_id)

    def close(self) -> None:
        """Nothing to release: the shared sandbox stays warm for the next caller."""


_SHARED: dict[str, Sandbox] = {}
_LOCK = threading.Lock()


def shared_sandbox(backend: str, limits: Limits | None = None) -> SharedSandboxView:
    """The process's sandbox for ``backend`` (started on first use, closed at exit), with
    ``limits`` applied to every run made through the returned view.

    Raises ``SandboxError`` when the backend cannot be used; a failed start is not cached.
    """
    with _LOCK:
        box = _SHARED.get(backend)
        if box is None:
            box = _SHARED[backend] = create_sandbox(backend)
    return SharedSandboxView(box, limits or Limits())


def running_shared(backend: str) -> Sandbox | None:
    """The shared sandbox for ``backend`` if one is running (never starts one): for reports of
    what a running backend was granted (isolation, degraded layers)."""
    with _LOCK:
        return _SHARED.get(backend)


def _close_shared() -> None:
    """At exit. Taking the lock waits for a start still under way on a background thread
    (daemon threads run until the exit handlers are done), so that sandbox is closed too."""
    with _LOCK:
        boxes = list(_SHARED.values())
        _SHARED.clear()
    for box in boxes:
        try:
            box.close()
        except Exception:
            log.exception("closing %r failed", box)


# Registered up front, not at the first start: a start that is still under way when the
# process begins to exit could otherwise register it too late to be called.
atexit.register(_close_shared)
