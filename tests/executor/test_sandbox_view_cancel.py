"""SharedSandboxView passes ``cancel`` through to backends that take it, and only to those."""

from __future__ import annotations

import threading

from executor.sandbox_access import SharedSandboxView
from sandbox import Limits, RunResult, Sandbox


class Modern(Sandbox):
    name = "modern"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[object] = []

    def run(self, code, *, files=None, session_id=None, limits=None, cancel=None):
        self.seen.append(cancel)
        return RunResult(ok=True, backend=self.name)

    def close(self) -> None:
        pass


class Legacy(Sandbox):
    """A plugin backend written before ``cancel`` existed."""

    name = "legacy"

    def __init__(self) -> None:
        super().__init__()
        self.limits_seen: list[Limits | None] = []

    def run(self, code, *, files=None, session_id=None, limits=None):
        self.limits_seen.append(limits)
        return RunResult(ok=True, backend=self.name)

    def close(self) -> None:
        pass


def test_cancel_reaches_a_backend_that_takes_it():
    inner = Modern()
    event = threading.Event()
    view = SharedSandboxView(inner, Limits(timeout_s=3))
    assert view.run("print(1)", cancel=event).ok
    assert view.run("print(1)").ok
    assert inner.seen == [event, None]


def test_a_backend_without_cancel_still_runs():
    inner = Legacy()
    view = SharedSandboxView(inner, Limits(timeout_s=3))
    assert view.run("print(1)", cancel=threading.Event()).ok
    assert inner.limits_seen == [Limits(timeout_s=3)]
