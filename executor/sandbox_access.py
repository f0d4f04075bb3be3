"""The executor's side of the sandbox: what a backend allows, a background start, release.

The Mechanic must be told the rules of the sandbox its code will meet (limits, the import
allow-list, whether RestrictedPython applies), read off the live backend through the contract
(``Sandbox.allowed_imports``, ``Sandbox.restricted_python``) so a plugin's backend describes
itself the same way. Starting a backend's warm pool takes about a second, so a run starts it on
a background thread (``SandboxStart``) while the Scout talks to the model, and waits for it only
when it first runs or checks code. The process-wide shared sandboxes are :mod:`sandbox.shared`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from executor.prompts import SandboxRules
from sandbox import ErrorInfo, Limits, RunResult, Sandbox
from sandbox.shared import (
    SharedSandboxView,
    accepts_cancel,
    accepts_keyword,
    accepts_on_output,
    shared_sandbox,
)

__all__ = [
    "SandboxStart",
    "SharedSandboxView",
    "StartingSandbox",
    "accepts_cancel",
    "accepts_keyword",
    "accepts_on_output",
    "allowed_modules",
    "close_quietly",
    "release",
    "sandbox_rules",
    "shared_sandbox",
]

log = logging.getLogger(__name__)


def allowed_modules(sandbox: Sandbox) -> tuple[str, ...]:
    """The import allow-list of a backend that has one (empty: anything installed)."""
    return tuple(sorted(sandbox.allowed_imports or ()))


def sandbox_rules(sandbox: Sandbox) -> SandboxRules:
    """What the Mechanic is told about where its code runs, read off the live backend."""
    return SandboxRules(
        backend=sandbox.name,
        timeout_s=sandbox.limits.timeout_s,
        memory_mb=sandbox.limits.memory_mb,
        max_output_bytes=sandbox.limits.max_output_bytes,
        allowed_modules=allowed_modules(sandbox),
        restricted=bool(sandbox.restricted_python),
    )


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

    @property  # type: ignore[override]
    def allowed_imports(self) -> tuple[str, ...] | None:
        return self.inner.allowed_imports

    @property  # type: ignore[override]
    def restricted_python(self) -> bool:
        return self.inner.restricted_python

    def __getattr__(self, name: str) -> Any:  # backend extras (isolation...)
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
