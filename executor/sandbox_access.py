"""The executor's side of the sandbox: what a backend allows, a background start, a cache.

The Mechanic must be told the rules of the sandbox its code will meet (limits, the import
allow-list), read off the live backend so a plugin's backend describes itself the same way.
Starting a backend's warm pool takes about a second, so a run starts it on a background thread
(``SandboxStart``) while the Scout talks to the model, and waits for it only when it first runs
or checks code.
"""

from __future__ import annotations

import atexit
import importlib
import inspect
import logging
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
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


class SandboxStart:
    """A sandbox that is ready, or being created on a background thread.

    ``result()`` waits for it (re-raising the start's ``SandboxError``); ``if_ready()`` never
    waits. The thread is a daemon so a process that exits mid-start is not held up by it.
    """

    def __init__(self, make: Callable[[], Sandbox] | None = None, *, ready: Sandbox | None = None):
        self._future: Future[Sandbox] = Future()
        if ready is not None:
            self._future.set_result(ready)
        elif make is not None:
            threading.Thread(
                target=self._start, args=(make,), name="executor-sandbox-start", daemon=True
            ).start()
        else:
            raise ValueError("SandboxStart needs a sandbox or a way to make one")

    def _start(self, make: Callable[[], Sandbox]) -> None:
        try:
            self._future.set_result(make())
        except BaseException as exc:  # handed to whoever waits for the sandbox
            self._future.set_exception(exc)

    def done(self) -> bool:
        return self._future.done()

    def result(self, timeout: float | None = None) -> Sandbox:
        return self._future.result(timeout)

    def failed(self) -> bool:
        return self._future.done() and self._future.exception() is not None

    def if_ready(self) -> Sandbox | None:
        if self._future.done() and self._future.exception() is None:
            return self._future.result()
        return None


class StartingSandbox(Sandbox):
    """A ``Sandbox`` handed out before it has started (to the plugins' connectors): every use
    waits for the start. Closing it is the owner's business, not the borrower's."""

    def __init__(self, start: Callable[[], SandboxStart]) -> None:
        # No super().__init__(): the limits are the started sandbox's own.
        self._start_handle = start

    @property
    def inner(self) -> Sandbox:
        return self._start_handle().result()

    @property  # type: ignore[override]
    def limits(self) -> Limits:
        return self.inner.limits

    @property  # type: ignore[override]
    def name(self) -> str:
        return self.inner.name

    def __getattr__(self, name: str) -> Any:  # e.g. allowed_imports, read by sandbox_rules
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    def run(self, code: str, **options: Any) -> RunResult:
        inner = self.inner
        for keyword in ("cancel", "on_output"):
            if keyword in options and not accepts_keyword(inner, keyword):
                options.pop(keyword)
        return inner.run(code, **options)

    def preflight(self, code: str) -> ErrorInfo | None:
        return self.inner.preflight(code)

    def close_session(self, session_id: str) -> None:
        self.inner.close_session(session_id)

    def close(self) -> None:
        """Nothing to release: the executor that started the sandbox closes it."""


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
    return SharedSandboxView(box, limits or Limits())


def _close_shared() -> None:
    """At exit. Taking the lock waits for a start still under way on a background thread
    (daemon threads run until the exit handlers are done), so that sandbox is closed too."""
    with _SHARED_LOCK:
        boxes = list(_SHARED_SANDBOXES.values())
        _SHARED_SANDBOXES.clear()
    close_quietly(boxes)


# Registered up front, not at the first start: a start that is still under way when the
# process begins to exit could otherwise register it too late to be called.
atexit.register(_close_shared)


def release(owned: list[Any], starts: list[SandboxStart], wait_s: float = 120.0) -> None:
    """Close what an executor owns, once the sandbox starts it began have finished (a start
    under way adds its sandbox to ``owned`` when done)."""
    for start in starts:
        try:
            start.result(timeout=wait_s)
        except Exception:  # a failed or hung start left nothing to close
            pass
    starts.clear()
    close_quietly(owned)


def close_quietly(resources: list[Any]) -> None:
    while resources:
        resource = resources.pop()
        try:
            resource.close()
        except Exception:
            log.exception("closing %r failed", resource)
