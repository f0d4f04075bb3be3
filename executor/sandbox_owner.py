"""The executor's own sandbox: which backend, started when, shared or owned, and named how.

An executor is given a backend name or a ready ``Sandbox``. A named backend starts on a
background thread as soon as the executor is made (``SandboxStart``), again on the next need
after a start failed; the first run waits for it only when it first runs or checks code. A
shared one comes from the process's cache (``sandbox.shared``), an owned one is closed with the
executor. A result names the backend that ran its code and why ``auto`` picked it.

``SandboxOwner`` is a base class of ``Executor`` rather than an object the executor holds: a
start under way runs the executor's own ``_make_sandbox``, so the executor stays alive until its
start has ended, and an executor dropped mid-start is finalized (its sandbox closed, see
``release``) on the start's thread instead of blocking the caller that dropped it.
"""

from __future__ import annotations

import threading
from typing import Any

from executor.sandbox_access import SandboxStart, StartingSandbox, shared_sandbox
from sandbox import Limits, Sandbox, SandboxError, create_sandbox
from sandbox.factory import explain_backend


class SandboxOwner:
    """The sandbox half of ``Executor``: call ``_init_sandbox`` first, then ``_sandbox_start``.

    Shares the executor's ``_lock`` and ``_owned`` (what ``close()`` releases)."""

    limits: Limits | None
    _lock: threading.Lock
    _owned: list[Any]

    def _init_sandbox(self, sandbox: str | Sandbox, share_sandbox: bool) -> None:
        self._sandbox_spec = sandbox
        self._backend_reason = "" if isinstance(sandbox, str) else "a sandbox the caller gave"
        self._share_sandbox = share_sandbox
        self._start = SandboxStart(ready=sandbox) if isinstance(sandbox, Sandbox) else None
        self._starts: list[SandboxStart] = []  # background starts, waited for on close

    @property
    def sandbox(self) -> Sandbox:
        """The sandbox (waits for its start; raises ``SandboxError`` when it cannot start)."""
        return self._sandbox_start().result()

    def _sandbox_start(self) -> SandboxStart:
        """The sandbox's start, begun in the background on first need (again after a failure)."""
        with self._lock:
            if self._start is None or self._start.failed():
                self._start = SandboxStart(self._make_sandbox)
                self._starts.append(self._start)
            return self._start

    def _make_sandbox(self) -> Sandbox:
        name = str(self._sandbox_spec)
        try:  # why this backend (``auto`` picks one): shown with the result
            self._backend_reason = explain_backend(name).reason
        except SandboxError:
            pass  # create_sandbox below raises the same error, worded for the caller
        if self._share_sandbox:
            return shared_sandbox(name, self.limits)
        box = create_sandbox(name, limits=self.limits)
        with self._lock:
            self._owned.append(box)
        return box

    def _lent_sandbox(self) -> Sandbox:
        """The sandbox to lend the plugins' connectors: the ready one, else one that waits for
        the start on first use (only a tool that runs code waits for it)."""
        with self._lock:
            start = self._start
        ready = start.if_ready() if start is not None else None
        return ready if ready is not None else StartingSandbox(self._sandbox_start)

    @property
    def _sandbox_label(self) -> str:
        """The sandbox as the caller named it (a ready sandbox by its backend's name)."""
        return str(getattr(self._sandbox_spec, "name", self._sandbox_spec))

    def _backend(self, start: SandboxStart | None) -> tuple[str, str]:
        """The backend that ran a run's code and why it was chosen (both blank when unknown);
        a sandbox still starting is named by its spec."""
        ready = start.if_ready() if start is not None else None
        if ready is not None:
            name = ready.name
        else:
            spec = self._sandbox_label
            name = "" if spec == "auto" else spec
        return name, self._backend_reason if name else ""
